"""Reports from tiny real studies: files, plots, summary against the store, the exported model.

One tiny study per task is trained once (iris: multiclass, diabetes: regression, and the
session's breast_cancer study from conftest: binary); each test reads the reports built from them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import optuna
import pytest
from click.testing import CliRunner
from conftest import count_predictions, run_tiny_study
from PIL import Image
from sklearn import metrics as skm

from tuner.artifacts import INFO_FILE, MODEL_FILE, model_artifact_hook, resolve_artifacts_dir
from tuner.cli import cli
from tuner.data.datasets import load_splits
from tuner.errors import ReportError, TunerError
from tuner.keys import CONFIG_ATTR
from tuner.ml.metrics import compute
from tuner.report.build import DEFAULT_TOLERANCE, build_report
from tuner.report.chosen_trial import stored_config
from tuner.studies import count_states

STUDY_PLOTS = {
    "optimization_history",
    "parallel_coordinate",
    "param_importances",
    "intermediate_values",
    "slice",
    "training_curves",
}


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


def _report(name: str, folder: Path, url: str, **kwargs):
    """build_report with the test split's uses counted (arrays handed to predict)."""
    with pytest.MonkeyPatch.context() as mp:
        seen: list[np.ndarray] = count_predictions(mp)
        mp.chdir(folder)
        result = build_report(name, storage=url, **kwargs)
    return result, seen


def _built(folder: Path, name: str, **study_fields) -> SimpleNamespace:
    _, url = run_tiny_study(folder, name, **study_fields)
    result, seen = _report(name, folder, url, out=folder / "report")
    study = optuna.load_study(study_name=name, storage=url)
    splits = load_splits(stored_config(study).data)
    return SimpleNamespace(
        folder=folder,
        url=url,
        name=name,
        result=result,
        seen=seen,
        study=study,
        splits=splits,
        out=folder / "report",
        summary=json.loads((folder / "report" / "summary.json").read_text()),
    )


@pytest.fixture(scope="module")
def iris(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    return _built(tmp_path_factory.mktemp("iris"), "iris_report", dataset="iris", trials=3)


@pytest.fixture(scope="module")
def diabetes(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    return _built(
        tmp_path_factory.mktemp("diabetes"), "diabetes_report", dataset="diabetes", trials=2
    )


def _load(path: Path):
    from tuner.ml.backend import load_keras

    return load_keras().saving.load_model(path, safe_mode=True, compile=False)


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".partial-" in p.name or ".old-" in p.name)


# --------------------------------------------------------------------------- the folder


def test_every_listed_file_exists_and_is_not_empty(iris: SimpleNamespace) -> None:
    files = iris.summary["files"]
    for required in (
        "index.html",
        "summary.json",
        MODEL_FILE,
        INFO_FILE,
        "model_summary.txt",
        "plots/plotly.min.js",
    ):
        assert required in files
    on_disk = sorted(p.relative_to(iris.out).as_posix() for p in iris.out.rglob("*") if p.is_file())
    assert on_disk == files
    for name in files:
        assert (iris.out / name).stat().st_size > 0, name


def test_plots_are_valid_pngs_and_offline_html(iris: SimpleNamespace) -> None:
    plots = {p["name"]: p for p in iris.summary["plots"]}
    assert STUDY_PLOTS | {"confusion_matrix"} == set(plots)  # single objective: no Pareto front
    for plot in plots.values():
        assert plot["skipped"] is None, plot
        png, html = (iris.out / f for f in sorted(plot["files"], key=lambda f: f.endswith(".html")))
        with Image.open(png) as image:
            assert image.format == "PNG" and min(image.size) > 200
            image.verify()
        text = html.read_text()
        assert 'src="plotly.min.js"' in text and "cdn.plot.ly" not in text


def test_index_shows_numbers_model_summary_and_every_plot(iris: SimpleNamespace) -> None:
    page = (iris.out / "index.html").read_text()
    for plot in iris.summary["plots"]:
        for f in plot["files"]:
            assert f"'{f}'" in page
    assert "Total params" in page and "normalize (Normalization)" in page
    accuracy = iris.summary["test"]["metrics"]["accuracy"]
    assert f"{accuracy:.4f}" in page
    for name in iris.splits.class_names:
        assert f"<th>{name}</th>" in page  # per-class table


def test_summary_agrees_with_the_store(iris: SimpleNamespace) -> None:
    s, study = iris.summary, iris.study
    best = study.best_trial
    assert s["study"] == "iris_report" and s["dataset"] == "iris" and s["task"] == "multiclass"
    assert s["metric"] == "accuracy" and s["direction"] == "maximize"
    assert (
        s["best_trial"] == best.number
        and s["best_value"] == best.value
        and s["best_params"] == best.params
    )
    assert s["counts"] == count_states(study) and s["n_trials"] == len(study.trials)
    assert s["best_trial_attrs"]["seed"] == best.user_attrs["seed"]
    assert (
        s["model"]["n_params"]
        == best.user_attrs["n_params"]
        == _load(iris.out / MODEL_FILE).count_params()
    )
    assert s["model"]["bytes"] == (iris.out / MODEL_FILE).stat().st_size
    assert s["splits"] == {
        "train": len(iris.splits.y_train),
        "validation": len(iris.splits.y_val),
        "test": len(iris.splits.y_test),
    }
    assert s["test"]["n_rows"] == len(iris.splits.y_test)
    cm = np.array(s["test"]["confusion_matrix"]["rows_true_columns_predicted"])
    assert cm.shape == (3, 3) and cm.sum() == len(iris.splits.y_test)
    assert set(s["test"]["per_class"]) == set(iris.splits.class_names)


def test_exported_model_reproduces_the_recorded_validation_value_on_raw_rows(
    iris: SimpleNamespace,
) -> None:
    model = _load(iris.out / MODEL_FILE)  # safe mode: no custom code needed
    val = compute(
        "accuracy",
        iris.splits.y_val,
        np.asarray(model.predict(iris.splits.x_val, verbose=0)),
        "multiclass",
    )
    assert abs(val - iris.study.best_value) <= DEFAULT_TOLERANCE
    check = iris.summary["model"]["validation_check"]
    assert check["recorded"] == iris.study.best_value and abs(check["reproduced"] - val) < 1e-12
    assert iris.result.model_source == "artifact"  # saved while the study ran, beside the store
    assert resolve_artifacts_dir(iris.url).is_dir()
    info = json.loads((iris.out / INFO_FILE).read_text())
    assert (
        info["task"] == "multiclass"
        and info["class_names"] == list(iris.splits.class_names)
        and info["n_features"] == 4
    )


def test_test_split_is_scored_once_and_metrics_match_the_model(iris: SimpleNamespace) -> None:
    assert sum(x is iris.splits.x_test for x in iris.seen) == 1
    model = _load(iris.out / MODEL_FILE)
    labels = np.asarray(model.predict(iris.splits.x_test, verbose=0)).argmax(axis=1)
    test = iris.summary["test"]["metrics"]
    assert test["accuracy"] == pytest.approx(skm.accuracy_score(iris.splits.y_test, labels))
    assert test["f1_macro"] == pytest.approx(
        skm.f1_score(iris.splits.y_test, labels, average="macro")
    )
    recall = skm.recall_score(iris.splits.y_test, labels, average=None, labels=[0, 1, 2])
    assert [
        iris.summary["test"]["per_class"][n]["recall"] for n in iris.splits.class_names
    ] == pytest.approx(list(recall))


def test_regression_report_has_error_metrics_and_scatter(diabetes: SimpleNamespace) -> None:
    s = diabetes.summary
    assert set(s["test"]["metrics"]) == {"mae", "rmse", "r2"} and "per_class" not in s["test"]
    assert {p["name"] for p in s["plots"]} == STUDY_PLOTS | {"predicted_vs_true"}
    model = _load(diabetes.out / MODEL_FILE)
    pred = np.asarray(model.predict(diabetes.splits.x_test, verbose=0)).reshape(-1)
    assert s["test"]["metrics"]["mae"] == pytest.approx(
        skm.mean_absolute_error(diabetes.splits.y_test, pred), rel=1e-5
    )
    assert s["test"]["metrics"]["r2"] == pytest.approx(
        skm.r2_score(diabetes.splits.y_test, pred), rel=1e-4, abs=1e-5
    )
    val = compute(
        "rmse",
        diabetes.splits.y_val,
        np.asarray(model.predict(diabetes.splits.x_val, verbose=0)),
        "regression",
    )
    assert abs(val - diabetes.study.best_value) <= DEFAULT_TOLERANCE * max(
        1.0, diabetes.study.best_value
    )


def test_binary_report_has_roc_and_precision_recall_curves(binary_report: SimpleNamespace) -> None:
    cancer = binary_report
    s = cancer.summary
    assert {p["name"] for p in s["plots"]} == STUDY_PLOTS | {
        "confusion_matrix",
        "roc_curve",
        "precision_recall_curve",
    }
    model = _load(cancer.out / MODEL_FILE)
    p = np.asarray(model.predict(cancer.splits.x_test, verbose=0)).reshape(-1)
    threshold = cancer.study.best_trial.user_attrs.get("threshold", 0.5)  # chosen on validation
    assert (
        s["test"]["threshold"] == threshold
        and json.loads((cancer.out / INFO_FILE).read_text())["threshold"] == threshold
    )
    assert s["test"]["metrics"]["accuracy"] == pytest.approx(
        skm.accuracy_score(cancer.splits.y_test, (p >= threshold).astype(int))
    )
    assert s["test"]["metrics"]["roc_auc"] == pytest.approx(
        skm.roc_auc_score(cancer.splits.y_test, p)
    )
    assert s["test"]["metrics"]["pr_auc"] == pytest.approx(
        skm.average_precision_score(cancer.splits.y_test, p)
    )
    assert set(s["test"]["per_class"]) == {"malignant", "benign"}
    assert "ROC (AUC = " in (cancer.out / "plots" / "roc_curve.html").read_text()


# --------------------------------------------------------------------------- where models are saved


def test_artifact_folder_resolution(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert resolve_artifacts_dir("sqlite:///storage/tuner.db") == Path("storage/artifacts")
    assert resolve_artifacts_dir(f"sqlite:///{tmp_path}/s.db") == tmp_path / "artifacts"
    assert resolve_artifacts_dir("postgresql+psycopg://u@h/db") is None  # no shared folder known
    assert resolve_artifacts_dir("postgresql+psycopg://u@h/db", "/mnt/models") == Path(
        "/mnt/models"
    )
    monkeypatch.setenv("TUNER_ARTIFACTS", str(tmp_path / "shared"))
    assert resolve_artifacts_dir("sqlite:///storage/tuner.db") == tmp_path / "shared"
    monkeypatch.setenv("TUNER_ARTIFACTS", "off")
    assert resolve_artifacts_dir("sqlite:///storage/tuner.db") is None


def test_unwritable_artifact_folder_stops_the_run_up_front(tmp_path: Path) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    with pytest.raises(TunerError) as info:
        model_artifact_hook("sqlite:///storage/tuner.db", None, None, artifacts=blocker / "models")
    assert str(info.value).startswith(f"cannot write trial models to {blocker / 'models'} (")
    assert str(info.value).endswith(
        "set TUNER_ARTIFACTS to a writable folder, or TUNER_ARTIFACTS=off to save none (reports "
        "then re-train the best trial)"
    )
    assert model_artifact_hook("sqlite:///storage/tuner.db", None, None, artifacts="off") is None


# --------------------------------------------------------------------------- other studies


def _copy_study(iris: SimpleNamespace, name: str, *, directions: list[str], values) -> optuna.Study:
    """A study holding iris's trials (no saved models) with the objective values
    ``values(trial)``."""
    copy = optuna.create_study(study_name=name, storage=iris.url, directions=directions)
    copy.set_user_attr(CONFIG_ATTR, iris.study.user_attrs[CONFIG_ATTR])
    for t in iris.study.trials:
        copy.add_trial(
            optuna.trial.create_trial(
                params=t.params,
                distributions=t.distributions,
                values=values(t),
                user_attrs=t.user_attrs,
                intermediate_values=t.intermediate_values,
                state=t.state,
            )
        )
    return copy


def test_multi_objective_study_gets_a_pareto_front(iris: SimpleNamespace) -> None:
    copy = _copy_study(
        iris,
        "iris_two_goals",
        directions=["maximize", "minimize"],
        values=lambda t: [t.value, t.user_attrs["n_params"]],
    )
    result = build_report(
        copy, out=iris.folder / "two_goals"
    )  # an optuna.Study works as well as a name
    pareto = copy.best_trials
    assert result.trial == max(pareto, key=lambda t: t.values[0]).number
    assert result.model_source == "retrained"
    plots = {p["name"]: p for p in result.summary["plots"]}
    assert (
        plots["pareto_front"]["skipped"] is None
        and (result.out / "plots" / "pareto_front.png").stat().st_size > 0
    )
    assert result.summary["directions"] == ["maximize", "minimize"]


def test_multi_objective_study_without_trials_is_a_clear_error(iris: SimpleNamespace) -> None:
    empty = optuna.create_study(
        study_name="two_goals_empty", storage=iris.url, directions=["maximize", "minimize"]
    )
    empty.set_user_attr(CONFIG_ATTR, iris.study.user_attrs[CONFIG_ATTR])
    with pytest.raises(ReportError, match="^study 'two_goals_empty' has no completed trial yet"):
        build_report("two_goals_empty", storage=iris.url, out=iris.folder / "never")
    assert not (iris.folder / "never").exists()


def test_a_model_that_does_not_reproduce_is_refused_and_nothing_is_written(
    iris: SimpleNamespace,
) -> None:
    _copy_study(iris, "iris_tampered", directions=["maximize"], values=lambda t: [0.123])
    out = iris.folder / "tampered"
    with pytest.raises(ReportError) as info:
        build_report("iris_tampered", storage=iris.url, out=out)
    best = optuna.load_study(study_name="iris_tampered", storage=iris.url).best_trial.number
    assert str(info.value).startswith(
        f"the retrained model of trial {best} scores validation accuracy "
    )
    assert "but the trial recorded 0.123 (difference" in str(info.value) and str(
        info.value
    ).endswith("or accept the difference with --tolerance")
    assert not out.exists() and _leftovers(iris.folder) == []


# ----------------------------------------------------------------------- bad input, through the CLI


def test_existing_folder_is_refused_unless_overwrite(iris: SimpleNamespace) -> None:
    out = iris.folder / "taken"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    result = invoke("report", "--study", "iris_report", "--storage", iris.url, "--out", str(out))
    assert result.exit_code == 1
    assert result.output == (
        f"Error: report folder {out} already exists; pass --overwrite to replace it, or "
        "choose another folder with --out\n"
    )
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


def test_overwrite_with_a_retrained_trial_through_the_cli(iris: SimpleNamespace) -> None:
    other = next(
        t
        for t in iris.study.trials
        if t.number != iris.study.best_trial.number and t.state.name == "COMPLETE"
    )
    out = iris.folder / "retrained"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    result = invoke(
        "report",
        "--study",
        "iris_report",
        "--storage",
        iris.url,
        "--out",
        str(out),
        "--overwrite",
        "--trial",
        str(other.number),
        "--retrain",
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith(
        f"Report for study 'iris_report', trial {other.number} (model re-trained from its seed), "
        f"written to {out}/ in "
    )
    assert lines[1].startswith("Validation accuracy: recorded ") and lines[2].startswith(
        "Test split: accuracy "
    )
    assert not (out / "keep.txt").exists() and _leftovers(iris.folder) == []
    summary = json.loads((out / "summary.json").read_text())
    check = summary["model"]["validation_check"]
    assert summary["best_trial"] == other.number and "--trial" in summary["note"]
    assert (
        summary["model"]["source"] == "retrained"
        and "re-trained from seed" in summary["model"]["provenance"]
    )
    assert (
        check["recorded"] == other.value
        and abs(check["reproduced"] - other.value) <= DEFAULT_TOLERANCE
    )


def test_no_completed_trial(iris: SimpleNamespace) -> None:
    empty = optuna.create_study(study_name="nothing_yet", storage=iris.url, direction="maximize")
    empty.set_user_attr(CONFIG_ATTR, iris.study.user_attrs[CONFIG_ATTR])
    result = invoke("report", "--study", "nothing_yet", "--storage", iris.url)
    assert result.exit_code == 1
    assert result.output == (
        "Error: study 'nothing_yet' has no completed trial yet, so there is no model to "
        "report; run: tuner run --study nothing_yet --trials N\n"
    )
    assert not Path("reports").exists()


def test_unknown_study(iris: SimpleNamespace) -> None:
    result = invoke("report", "--study", "nope", "--storage", iris.url)
    assert result.exit_code == 1
    assert result.output.startswith("Error: no study 'nope' in the store; stored studies: ")
    assert "iris_report" in result.output and "Traceback" not in result.output


def test_unknown_or_unfinished_trial(iris: SimpleNamespace) -> None:
    n = len(iris.study.trials)
    result = invoke(
        "report", "--study", "iris_report", "--storage", iris.url, "--trial", str(n + 5)
    )
    assert result.output == (
        f"Error: study 'iris_report' has no trial {n + 5}; its trials are numbered 0 to {n - 1}\n"
    )


def test_folder_under_a_file_is_refused(iris: SimpleNamespace, tmp_path: Path) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    result = invoke(
        "report", "--study", "iris_report", "--storage", iris.url, "--out", str(blocker / "report")
    )
    assert result.exit_code == 1
    assert result.output == (
        f"Error: cannot write the report to {blocker / 'report'}: {blocker} is a file, not a "
        "folder; choose another folder with --out\n"
    )
    assert blocker.read_text() == "x"


@pytest.mark.skipif(
    hasattr(os, "geteuid") and os.geteuid() == 0, reason="root can write to read-only folders"
)
def test_read_only_folder_is_refused(iris: SimpleNamespace, tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        result = invoke(
            "report",
            "--study",
            "iris_report",
            "--storage",
            iris.url,
            "--out",
            str(locked / "report"),
        )
    finally:
        locked.chmod(0o755)
    assert result.output == (
        f"Error: cannot write the report to {locked / 'report'}: {locked} is not writable; "
        "choose a writable folder with --out\n"
    )
    assert list(locked.iterdir()) == []
