"""``tuner predict``: a report's exported model applied to raw rows, and every bad input's
message."""

from __future__ import annotations

import io
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from tuner.artifacts import MODEL_FILE, ModelInfo, write_model
from tuner.cli import cli

CLASSES = ["malignant", "benign"]


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


@pytest.fixture
def report(binary_report: SimpleNamespace) -> SimpleNamespace:
    return binary_report


@pytest.fixture
def model(report: SimpleNamespace) -> str:
    return str(report.out / MODEL_FILE)


def _test_rows_csv(
    report: SimpleNamespace, path: Path, *, header: bool = True, extra_id: bool = True
) -> Path:
    frame = pd.DataFrame(report.splits.x_test, columns=list(report.splits.feature_names))
    if extra_id:
        frame.insert(0, "row_id", np.arange(len(frame)))  # not a feature: ignored by name
    frame.to_csv(path, index=False, header=header)
    return path


def test_csv_round_trip_gives_the_reported_test_accuracy(
    report: SimpleNamespace, model: str, tmp_path: Path
) -> None:
    rows = _test_rows_csv(report, tmp_path / "rows.csv")
    result = invoke("predict", "--model", model, "--input", str(rows), "--output", "preds.csv")
    assert result.exit_code == 0, result.output
    assert (
        result.output
        == f"{len(report.splits.y_test)} predictions from {model} written to preds.csv\n"
    )
    preds = pd.read_csv("preds.csv")
    assert list(preds.columns) == [
        "row_id",  # an identifier: carried into the output, first
        "prediction",
        "probability_malignant",
        "probability_benign",
    ]
    assert (preds["row_id"] == np.arange(len(preds))).all()
    labels = np.array([CLASSES.index(c) for c in preds["prediction"]])
    assert (labels == report.splits.y_test).mean() == pytest.approx(
        report.summary["test"]["metrics"]["accuracy"]
    )
    assert np.allclose(preds["probability_malignant"] + preds["probability_benign"], 1.0, atol=1e-6)
    threshold = report.summary["test"]["threshold"]  # the trial's, chosen on validation
    assert ((preds["probability_benign"] >= threshold) == (labels == 1)).all()


def test_study_option_uses_the_best_trials_saved_model(
    report: SimpleNamespace, model: str, tmp_path: Path
) -> None:
    np.save(tmp_path / "rows.npy", report.splits.x_test)
    by_study = invoke(
        "predict",
        "--study",
        report.name,
        "--storage",
        report.url,
        "--input",
        str(tmp_path / "rows.npy"),
        "--output",
        "a.npy",
    )
    assert by_study.exit_code == 0, by_study.output
    assert (
        f"from study '{report.name}', trial {report.study.best_trial.number} written to a.npy"
        in by_study.output
    )
    by_model = invoke(
        "predict", "--model", model, "--input", str(tmp_path / "rows.npy"), "--output", "b.npz"
    )
    assert by_model.exit_code == 0, by_model.output
    labels = np.load("a.npy")
    with np.load("b.npz") as npz:
        assert set(npz.files) == {"label", "probabilities"}
        assert np.array_equal(npz["label"], labels) and npz["probabilities"].shape == (
            len(labels),
            2,
        )
    assert labels.dtype.kind == "i" and (labels == report.splits.y_test).mean() == pytest.approx(
        report.summary["test"]["metrics"]["accuracy"]
    )


def test_headerless_csv_to_standard_output(
    report: SimpleNamespace, model: str, tmp_path: Path
) -> None:
    rows = _test_rows_csv(report, tmp_path / "plain.csv", header=False, extra_id=False)
    result = invoke("predict", "--model", model, "--input", str(rows))
    assert result.exit_code == 0, result.output
    preds = pd.read_csv(io.StringIO(result.output))
    labels = np.array([CLASSES.index(c) for c in preds["prediction"]])
    assert len(preds) == len(report.splits.y_test) and (
        labels == report.splits.y_test
    ).mean() == pytest.approx(report.summary["test"]["metrics"]["accuracy"])


def test_npz_input_picks_the_feature_array(
    report: SimpleNamespace, model: str, tmp_path: Path
) -> None:
    np.savez(tmp_path / "data.npz", x=report.splits.x_test[:7], y=report.splits.y_test[:7])
    result = invoke(
        "predict", "--model", model, "--input", str(tmp_path / "data.npz"), "--output", "p.csv"
    )
    assert result.exit_code == 0, result.output
    assert len(pd.read_csv("p.csv")) == 7


def test_regression_model_writes_a_prediction_column(tmp_path: Path) -> None:
    from tuner.ml.backend import load_keras
    from tuner.ml.model import ModelSpec, build_model

    spec = ModelSpec(
        3,
        "regression",
        0,
        np.array([1.0, 2.0, 3.0]),
        np.array([1.0, 4.0, 9.0]),
        target_mean=150.0,
        target_std=70.0,
    )
    net = build_model(
        {
            "n_layers": 1,
            "units_0": 4,
            "dropout": 0.0,
            "activation": "relu",
            "learning_rate": 0.01,
            "batch_size": 32,
            "optimizer": "adam",
        },
        spec,
    )
    model_path, _ = write_model(
        net, ModelInfo("regression", 3, feature_names=("a", "b", "c")), tmp_path
    )
    x = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    pd.DataFrame(x, columns=["c", "a", "b"]).to_csv(
        tmp_path / "rows.csv", index=False
    )  # matched by name
    result = invoke(
        "predict",
        "--model",
        str(model_path),
        "--input",
        str(tmp_path / "rows.csv"),
        "--output",
        "p.csv",
    )
    assert result.exit_code == 0, result.output
    preds = pd.read_csv("p.csv")
    assert list(preds.columns) == ["prediction"]
    loaded = load_keras().saving.load_model(model_path, safe_mode=True)
    expected = np.asarray(
        loaded.predict(
            pd.DataFrame(x, columns=["c", "a", "b"])[["a", "b", "c"]].to_numpy(), verbose=0
        )
    ).reshape(-1)
    assert np.allclose(preds["prediction"], expected, rtol=1e-5)


# --------------------------------------------------------------------------- bad input


def test_wrong_number_of_columns(model: str, tmp_path: Path) -> None:
    bad = tmp_path / "five.csv"
    bad.write_text("1,2,3,4,5\n6,7,8,9,10\n")
    result = invoke("predict", "--model", model, "--input", str(bad))
    assert result.exit_code == 1
    assert result.output == (
        f"Error: input {bad} has 5 columns, but the model expects 30 features (mean radius, mean "
        "texture, mean perimeter, mean area, mean smoothness, … (25 more)); "
        "give exactly those columns in training order, or a header that names them\n"
    )


def test_header_missing_some_features(report: SimpleNamespace, model: str, tmp_path: Path) -> None:
    rows = tmp_path / "partial.csv"
    pd.DataFrame(
        report.splits.x_test[:3, :2], columns=list(report.splits.feature_names[:2])
    ).to_csv(rows, index=False)
    result = invoke("predict", "--model", model, "--input", str(rows))
    assert result.output == (
        f"Error: input {rows} lacks the feature columns mean perimeter, mean area, mean "
        "smoothness, mean compactness, mean concavity …; its header must name all 30 "
        "features\n"
    )


def test_wrong_array_shape(model: str, tmp_path: Path) -> None:
    np.save(tmp_path / "rows.npy", np.zeros((4, 12), dtype=np.float32))
    result = invoke("predict", "--model", model, "--input", str(tmp_path / "rows.npy"))
    assert result.output.startswith(
        f"Error: input {tmp_path / 'rows.npy'} holds an array of shape (4, 12), but the model "
        "expects rows of 30 features (mean radius, "
    )


def test_cell_that_is_not_a_number(report: SimpleNamespace, model: str, tmp_path: Path) -> None:
    rows = _test_rows_csv(report, tmp_path / "rows.csv", extra_id=False)
    lines = rows.read_text().splitlines()
    lines[3] = "abc" + lines[3][lines[3].index(",") :]
    rows.write_text("\n".join(lines) + "\n")
    result = invoke("predict", "--model", model, "--input", str(rows))
    assert result.output == (
        f"Error: input {rows}: line 4, column 'mean radius' holds 'abc', not a number; every "
        "feature must be a number\n"
    )


def test_files_that_do_not_parse(model: str, tmp_path: Path) -> None:
    garbage = tmp_path / "rows.npy"
    garbage.write_bytes(b"not numpy at all")
    result = invoke("predict", "--model", model, "--input", str(garbage))
    assert result.exit_code == 1
    assert result.output == (
        f"Error: input {garbage} does not parse as .npy: it lacks the .npy file header; "
        "write it with numpy.save, or give a .csv\n"
    )
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("1,2\n1,2,3\n")
    result = invoke("predict", "--model", model, "--input", str(ragged))
    assert result.output.startswith(f"Error: input {ragged} does not parse as CSV: ")
    assert "Traceback" not in result.output


def test_missing_or_unloadable_model(tmp_path: Path) -> None:
    np.save(tmp_path / "rows.npy", np.zeros((1, 4)))
    result = invoke(
        "predict", "--model", "nowhere/model.keras", "--input", str(tmp_path / "rows.npy")
    )
    assert result.exit_code == 1
    assert result.output == (
        "Error: model file nowhere/model.keras does not exist; export one with: tuner report "
        "--study NAME (it writes reports/NAME/model.keras)\n"
    )
    fake = tmp_path / "fake.keras"
    fake.write_bytes(b"PK not a zip")
    result = invoke("predict", "--model", str(fake), "--input", str(tmp_path / "rows.npy"))
    assert result.output == (
        f"Error: model file {fake} is not a Keras 3 .keras file (not a zip archive); pass "
        "the model.keras written by tuner report\n"
    )


def test_model_with_code_is_refused_by_safe_mode(tmp_path: Path) -> None:
    from tuner.ml.backend import load_keras

    keras = load_keras()
    inputs = keras.Input((4,))
    unsafe = keras.Model(inputs, keras.layers.Lambda(lambda t: t * 2.0)(inputs))
    unsafe.save(tmp_path / "unsafe.keras")
    np.save(tmp_path / "rows.npy", np.zeros((1, 4)))
    result = invoke(
        "predict", "--model", str(tmp_path / "unsafe.keras"), "--input", str(tmp_path / "rows.npy")
    )
    assert result.exit_code == 1
    assert result.output.startswith(
        f"Error: model file {tmp_path / 'unsafe.keras'} cannot be loaded in Keras' safe mode: "
    )
    assert "lambda" in result.output.lower()


def test_model_and_study_are_exclusive(tmp_path: Path) -> None:
    np.save(tmp_path / "rows.npy", np.zeros((1, 4)))
    assert invoke("predict", "--input", str(tmp_path / "rows.npy")).output == (
        "Error: no model given: give --model PATH (a .keras file, e.g. reports/NAME/model.keras) "
        "or --study NAME (its best trial's saved model)\n"
    )
    assert (
        invoke(
            "predict", "--input", str(tmp_path / "rows.npy"), "--model", "m.keras", "--study", "s"
        ).output
        == "Error: give either --model PATH or --study NAME, not both: they name two models\n"
    )


def test_study_without_a_saved_model(report: SimpleNamespace, tmp_path: Path) -> None:
    np.save(tmp_path / "rows.npy", report.splits.x_test)
    result = invoke(
        "predict",
        "--study",
        report.name,
        "--storage",
        report.url,
        "--artifacts",
        "off",
        "--input",
        str(tmp_path / "rows.npy"),
    )
    best = report.study.best_trial.number
    assert result.output == (
        f"Error: best trial {best} of study '{report.name}' has no saved model (no artifact "
        "folder for this store; set --artifacts or TUNER_ARTIFACTS); "
        f"export one with: tuner report --study {report.name}, then pass --model "
        f"reports/{report.name}/model.keras\n"
    )


def test_existing_output_and_unknown_formats(
    model: str, report: SimpleNamespace, tmp_path: Path
) -> None:
    np.save(tmp_path / "rows.npy", report.splits.x_test[:2])
    Path("taken.csv").write_text("mine")
    result = invoke(
        "predict", "--model", model, "--input", str(tmp_path / "rows.npy"), "--output", "taken.csv"
    )
    assert (
        result.output
        == "Error: output file taken.csv already exists; pass --overwrite to replace it\n"
    )
    assert Path("taken.csv").read_text() == "mine"
    assert (
        invoke(
            "predict",
            "--model",
            model,
            "--input",
            str(tmp_path / "rows.npy"),
            "--output",
            "taken.csv",
            "--overwrite",
        ).exit_code
        == 0
    )
    assert len(pd.read_csv("taken.csv")) == 2
    result = invoke(
        "predict", "--model", model, "--input", str(tmp_path / "rows.npy"), "--output", "p.parquet"
    )
    assert result.output == (
        "Error: output p.parquet has an unsupported extension '.parquet'; use one of: .csv, "
        ".npy, .npz\n"
    )
    result = invoke("predict", "--model", model, "--input", "rows.txt")
    assert result.output == (
        "Error: input rows.txt has an unsupported extension '.txt'; use one of: .csv, .npy, .npz\n"
    )
    result = invoke("predict", "--model", model, "--input", "absent.csv")
    assert result.output == "Error: input file absent.csv does not exist\n"
    assert (
        sorted(p.name for p in Path.cwd().iterdir() if p.name.startswith(".")) == []
    )  # no partial files


def test_npz_with_several_unknown_arrays(model: str, tmp_path: Path) -> None:
    np.savez(tmp_path / "two.npz", a=np.zeros((1, 30)), b=np.ones((1, 30)))
    result = invoke("predict", "--model", model, "--input", str(tmp_path / "two.npz"))
    assert result.output == (
        f"Error: input {tmp_path / 'two.npz'} holds several arrays (a, b); choose one with --key\n"
    )
    result = invoke("predict", "--model", model, "--input", str(tmp_path / "two.npz"), "--key", "b")
    assert result.exit_code == 0 and result.output.startswith(
        "prediction,probability_malignant,probability_benign\n"
    )
