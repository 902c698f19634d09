"""Reports with baselines and a greedy ensemble: rows used, values recomputed, the exported
ensemble loaded in safe mode, ``tuner predict`` on it, and the messages when it cannot be built."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import optuna
import pandas as pd
import pytest
from click.testing import CliRunner
from conftest import build_tiny_report, count_predictions, run_tiny_study

import tuner.ml.training as training
from tuner.artifacts import load_model
from tuner.cli import cli
from tuner.data.datasets import load_splits
from tuner.ml.metrics import compute, decision_threshold
from tuner.report import baselines as bl
from tuner.report.build import DEFAULT_TOLERANCE, build_report
from tuner.report.chosen_trial import stored_config
from tuner.report.comparisons import ranked_trials


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


def _report_in_folder(case: SimpleNamespace, out: Path, *flags: str):
    """``tuner report`` of the case's study into ``out``, run from the case's folder."""
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(case.folder)
        return invoke(
            "report", "--study", case.name, "--storage", case.url, "--out", str(out), *flags
        )


def _load_report(folder: Path, name: str, url: str, out: Path) -> SimpleNamespace:
    study = optuna.load_study(study_name=name, storage=url)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(folder)
        splits = load_splits(stored_config(study).data)
    return SimpleNamespace(
        folder=folder,
        url=url,
        name=name,
        out=out,
        study=study,
        splits=splits,
        summary=json.loads((out / "summary.json").read_text()),
    )


@pytest.fixture(scope="module")
def iris(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    """Five iris trials selected on log loss (so models differ), reported with --ensemble 3."""
    folder = tmp_path_factory.mktemp("iris_ensemble")
    name = "iris_extras"
    _, url = run_tiny_study(
        folder, name, dataset="iris", trials=5, epochs=4, objective='metric = "log_loss"'
    )
    with pytest.MonkeyPatch.context() as mp:
        seen: list[object] = count_predictions(mp)
        mp.chdir(folder)
        mp.setenv("TUNER_OFFLINE", "1")
        result = invoke(
            "report", "--study", name, "--storage", url, "--out", "report", "--ensemble", "3"
        )
    assert result.exit_code == 0, result.output
    case = _load_report(folder, name, url, folder / "report")
    case.output, case.seen = result.output, seen
    return case


# --------------------------------------------------------------------------- baselines


def test_baselines_use_the_study_rows_and_their_values_recompute(iris: SimpleNamespace) -> None:
    s, splits = iris.summary, iris.splits
    rows = s["baselines"]
    assert [b["name"] for b in rows] == ["logistic regression", "gradient boosting"]
    for b in rows:
        assert (
            b["fit_rows"]
            == s["splits"]["train"] + s["splits"]["validation"]
            == len(splits.y_train) + len(splits.y_val)
        )
        assert b["test_rows"] == s["splits"]["test"] == len(splits.y_test)
        assert b["metric"] == "log_loss" and set(b["test_metrics"]) == set(s["test"]["metrics"])
    again = bl.fit_baselines(splits, "log_loss", seed=stored_config(iris.study).data.split_seed)
    for b, fitted in zip(rows, again, strict=True):
        assert b["value"] == pytest.approx(fitted.value, rel=1e-9)
        assert b["value"] == pytest.approx(
            compute("log_loss", splits.y_test, fitted.outputs, "multiclass"), rel=1e-9
        )
    mlp = s["test"]["metrics"]["log_loss"]
    assert s["baselines_verdict"] == bl.verdict(again, "log_loss", "minimize", mlp)
    page = (iris.out / "index.html").read_text()
    assert (
        "<h2>Baselines</h2>" in page
        and "tuned MLP (this report)" in page
        and "<th>gradient boosting</th>" in page
    )
    assert f"Baselines, test log_loss: logistic regression {rows[0]['value']:.4f}" in iris.output


def _fake(name: str, value: float) -> bl.Baseline:
    return bl.Baseline(name, "m", value, {}, 0.1, 10, 5, "", np.zeros(5))


def test_verdict_names_the_winner_and_the_gap() -> None:
    both = [_fake("logistic regression", 0.90), _fake("gradient boosting", 0.93)]
    assert bl.verdict(both, "accuracy", "maximize", 0.942) == (
        "the MLP beats both baselines on test accuracy, the stronger (gradient boosting) by "
        "1.2 points"
    )
    assert (
        bl.verdict(both, "accuracy", "maximize", 0.888)
        == "gradient boosting is better than the MLP by 4.2 points of test accuracy: consider it"
    )
    assert (
        bl.verdict(both, "accuracy", "maximize", 0.93)
        == "the MLP and gradient boosting tie on test accuracy"
    )
    errors = [_fake("ridge", 50.0), _fake("gradient boosting", 55.0)]
    assert (
        bl.verdict(errors, "rmse", "minimize", 52.5)
        == "ridge is better than the MLP by 2.5 of test rmse: consider it"
    )
    assert "cannot be compared" in bl.verdict(
        [_fake("ridge", float("nan"))], "rmse", "minimize", 1.0
    )


def test_no_baselines_skips_them(iris: SimpleNamespace) -> None:
    out = iris.folder / "plain"
    result = _report_in_folder(iris, out, "--no-baselines")
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert (
        summary["baselines"] is None
        and "ensemble" not in summary
        and not (out / "ensemble.keras").exists()
    )
    assert "Baselines: baselines skipped (--no-baselines)." in result.output


# --------------------------------------------------------------------------- ensemble


def test_ensemble_is_selected_on_validation_and_never_worse_than_the_single_best(
    iris: SimpleNamespace,
) -> None:
    e = iris.summary["ensemble"]
    ranked = [t.number for t in ranked_trials(iris.study)]
    assert (
        e["candidates"] == ranked[:6] and e["skipped"] == []
    )  # every trial saved its model; at most 2N
    assert e["single_best"] == iris.study.best_trial.number == iris.summary["best_trial"]
    assert e["validation"]["single"] == pytest.approx(iris.study.best_value, abs=DEFAULT_TOLERANCE)
    assert e["validation"]["ensemble"] <= e["validation"]["single"]  # log loss: lower is better
    assert set(e["members"]) <= set(e["candidates"]) and sum(e["weights"]) == pytest.approx(1.0)
    assert len(e["additions"]) <= 3 and sorted(set(e["additions"])) == sorted(e["members"])
    # the single best's test figures are the report's own; the test split was scored once for it and
    # once for the ensemble
    assert e["test"]["single"] == pytest.approx(iris.summary["test"]["metrics"])
    assert sum(x is iris.splits.x_test for x in iris.seen) == 2
    page = (iris.out / "index.html").read_text()
    assert "<h2>Ensemble</h2>" in page and f"single best (trial {e['single_best']})" in page
    assert "Ensemble of trials" in iris.output and "ensemble.keras" in iris.summary["files"]


def test_exported_ensemble_loads_in_safe_mode_and_reproduces_its_selection(
    iris: SimpleNamespace,
) -> None:
    e = iris.summary["ensemble"]
    model = load_model(iris.out / "ensemble.keras")  # safe mode, no custom objects
    assert {f"trial_{n}" for n in e["members"]} <= {layer.name for layer in model.layers}
    val = compute(
        "log_loss", iris.splits.y_val, training.predict(model, iris.splits.x_val), "multiclass"
    )
    assert val == pytest.approx(e["validation"]["ensemble"], abs=DEFAULT_TOLERANCE)
    assert e["validation"]["check"]["difference"] <= DEFAULT_TOLERANCE
    test_out = training.predict(model, iris.splits.x_test)
    assert compute("log_loss", iris.splits.y_test, test_out, "multiclass") == pytest.approx(
        e["test"]["ensemble"]["log_loss"], rel=1e-5
    )
    info = json.loads((iris.out / "ensemble.json").read_text())
    assert info["task"] == "multiclass" and info["class_names"] == list(iris.splits.class_names)
    assert info["extra"]["ensemble"] == {"members": e["members"], "weights": e["weights"]}
    assert info["value"] == e["validation"]["ensemble"] and info["trial"] is None


def test_tuner_predict_uses_the_ensemble_on_raw_rows(iris: SimpleNamespace, tmp_path: Path) -> None:
    rows = tmp_path / "rows.csv"
    pd.DataFrame(iris.splits.x_test, columns=list(iris.splits.feature_names)).to_csv(
        rows, index=False
    )
    result = invoke(
        "predict",
        "--model",
        str(iris.out / "ensemble.keras"),
        "--input",
        str(rows),
        "--output",
        "p.csv",
    )
    assert result.exit_code == 0, result.output
    preds = pd.read_csv(tmp_path / "p.csv")
    proba = training.predict(load_model(iris.out / "ensemble.keras"), iris.splits.x_test)
    assert list(preds["prediction"]) == [iris.splits.class_names[i] for i in proba.argmax(axis=1)]
    np.testing.assert_allclose(
        preds[[f"probability_{c}" for c in iris.splits.class_names]].to_numpy(), proba, atol=1e-6
    )


def test_trials_without_a_saved_model_are_skipped_and_counted(
    iris: SimpleNamespace, tmp_path: Path
) -> None:
    artifacts = tmp_path / "artifacts"
    shutil.copytree(iris.folder / "artifacts", artifacts)
    second = ranked_trials(iris.study)[1]
    for meta in optuna.artifacts.get_all_artifact_meta(second, storage=iris.study._storage):
        (artifacts / meta.artifact_id).unlink()
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(iris.folder)
        result = build_report(
            iris.name,
            storage=iris.url,
            out=tmp_path / "r",
            artifacts=artifacts,
            ensemble=2,
            baselines=False,
        )
    e = result.summary["ensemble"]
    assert e["skipped"] == [{"trial": second.number, "reason": "no saved model"}]
    assert second.number not in e["candidates"] and len(e["candidates"]) == 4
    assert (
        "1 trial without a usable saved model skipped"
        in (tmp_path / "r" / "index.html").read_text()
    )


def test_no_saved_model_at_all_is_a_clear_error(iris: SimpleNamespace, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = _report_in_folder(
        iris,
        tmp_path / "r",
        "--retrain",
        "--artifacts",
        str(empty),
        "--ensemble",
        "2",
        "--no-baselines",
        "--tolerance",
        "1",
    )
    assert result.exit_code == 1
    assert result.output == (
        f"Error: no trial of study '{iris.name}' has a usable saved model in {empty}, so "
        "there is nothing to ensemble; save models while running (TUNER_ARTIFACTS=DIR) or "
        "report without --ensemble\n"
    )
    assert not (tmp_path / "r").exists()


def test_binary_ensemble_has_its_own_threshold(
    binary_report: SimpleNamespace, tmp_path: Path
) -> None:
    out = tmp_path / "r"
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(binary_report.folder)
        result = build_report(binary_report.name, storage=binary_report.url, out=out, ensemble=2)
    e, splits = result.summary["ensemble"], binary_report.splits
    outputs = training.predict(load_model(out / "ensemble.keras"), splits.x_val)
    info = json.loads((out / "ensemble.json").read_text())
    assert info["task"] == "binary" and info["threshold"] == e["threshold"]
    assert e["threshold"] == pytest.approx(
        decision_threshold(result.metric, splits.y_val, outputs, "binary"), abs=1e-6
    )
    assert e["validation"]["ensemble"] >= e["validation"]["single"]  # accuracy: higher is better
    assert [b["test_rows"] for b in result.summary["baselines"]] == [len(splits.y_test)] * 2


def test_the_study_files_ensemble_is_the_reports_default(tmp_path: Path) -> None:
    case = build_tiny_report(
        tmp_path,
        "ensemble_default",
        trials=2,
        epochs=2,
        objective='metric = "log_loss"',
        search_extra="ensemble = 2",
    )
    assert stored_config(case.study).search.ensemble == 2
    e = case.summary["ensemble"]  # built without --ensemble: the study file asked for it
    assert 1 <= len(e["members"]) <= 2 and (case.out / "ensemble.keras").exists()


def test_a_kfold_study_cannot_ask_for_an_ensemble(make_study) -> None:
    from tuner.config.parse import load_config
    from tuner.errors import ConfigError

    path = make_study(data_extra='validation = "kfold"')
    path.write_text(path.read_text().replace("[search]\n", "[search]\nensemble = 3\n"))
    with pytest.raises(ConfigError, match=r"\[search\] ensemble needs trials with models"):
        load_config(path)
