"""The report of a cross-validated CSV study: it names the fold scheme and no holdout split,
scores column importance out of fold, labels its plots in folds, and says which models it
trains again while it does. One tiny study (200 rows, 3 folds, 3 trials) serves every test."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import tabular_data as td
from conftest import run_study_file

from tuner.artifacts import resolve_artifacts_dir
from tuner.config.parse import load_config
from tuner.data.datasets import load_splits
from tuner.data.splits import fold_splits
from tuner.ml.training import predict
from tuner.report.build import build_report
from tuner.report.importance import _Fitted, validation_frame


@pytest.fixture(scope="module")
def kfold(tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    folder = tmp_path_factory.mktemp("kfold_report")
    td.write(td.patients(rows=200), folder / "patients.csv")
    path = td.csv_study(
        folder / "p.toml",
        "patients.csv",
        "stroke",
        data='validation = "kfold"\nfolds = 3\nkfold_model = "average"',
    )
    url = run_study_file(folder, path)
    shutil.rmtree(resolve_artifacts_dir(url), ignore_errors=True)  # the report must re-train
    lines: list[str] = []
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(folder)
        mp.setenv("TUNER_OFFLINE", "1")
        result = build_report("table", storage=url, out=folder / "report", progress=lines.append)
        config = load_config(path)
        splits = load_splits(config.data)
    return SimpleNamespace(
        out=folder / "report",
        result=result,
        lines=lines,
        folds=fold_splits(splits, config.data),
        splits=splits,
        summary=json.loads((folder / "report" / "summary.json").read_text()),
        page=(folder / "report" / "index.html").read_text(),
    )


def test_a_report_that_re_trains_says_so_for_each_fold(kfold: SimpleNamespace) -> None:
    trial = kfold.result.trial
    assert len(kfold.lines) == 3
    for i, line in enumerate(kfold.lines, start=1):
        assert line.startswith(f"re-training trial {trial} ") and f"fold {i}/3" in line


def test_the_report_names_the_fold_scheme_and_no_holdout_split(kfold: SimpleNamespace) -> None:
    cv = kfold.summary["cross_validation"]
    non_test = len(kfold.splits.y_train) + len(kfold.splits.y_val)
    assert cv["folds"] == 3 and cv["rows"] == sum(cv["rows_per_fold"]) == non_test
    assert "3 folds over the" in kfold.page and "out of fold" in kfold.page
    assert "Split sizes" not in kfold.page
    assert f"validation {len(kfold.splits.y_val)}" not in kfold.page


def test_plots_are_labelled_in_folds(kfold: SimpleNamespace) -> None:
    titles = {p["name"]: p["title"] for p in kfold.summary["plots"]}
    assert "by fold" in titles["intermediate_values"]
    html = (kfold.out / "plots" / "intermediate_values.html").read_text()
    assert "folds finished" in html and "epoch (0-based)" not in html

    assert "mean over its 3 folds" in titles["training_curves"]


def test_column_importance_is_out_of_fold(kfold: SimpleNamespace) -> None:
    assert kfold.summary["permutation_importance_rows"] == "out of fold"
    assert {r["column"] for r in kfold.summary["permutation_importance"]} == set(
        kfold.splits.feature_names
    )
    from tuner.ml.backend import load_keras

    model = load_keras().saving.load_model(kfold.out / "model.keras", safe_mode=True, compile=False)
    frame = pd.concat([validation_frame(f) for f in kfold.folds], ignore_index=True)
    fold_of_row = np.concatenate([np.full(len(f.y_val), i) for i, f in enumerate(kfold.folds)])
    order = np.random.default_rng(0).permutation(len(frame))  # any row order
    scored = _Fitted(model, fold_of_row[order]).predict(
        frame.iloc[order].reset_index(drop=True), kfold.splits
    )
    expected = np.concatenate(
        [predict(model.get_layer(f"fold_{i}"), f.x_val) for i, f in enumerate(kfold.folds)]
    )
    np.testing.assert_allclose(scored, expected[order], atol=1e-5)
    assert not np.allclose(expected, predict(model, frame_inputs(kfold)), atol=1e-4)


def frame_inputs(kfold: SimpleNamespace) -> dict[str, np.ndarray]:
    """The folds' validation rows as the model's raw column inputs."""
    return {
        name: np.concatenate([np.asarray(f.x_val[name]).reshape(-1, 1) for f in kfold.folds])
        for name in kfold.splits.feature_names
    }


def test_report_cli_prints_the_re_training_lines_on_a_terminal(tmp_path: Path) -> None:
    from click.testing import CliRunner
    from conftest import run_tiny_study

    from tuner.cli import cli

    _, url = run_tiny_study(tmp_path, "iris_lines", dataset="iris", trials=1)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(tmp_path)
        mp.setattr("tuner.cli.commands.reports._on_terminal", lambda: True)
        result = CliRunner().invoke(
            cli,
            ["report", "--study", "iris_lines", "--storage", url, "--retrain", "--no-baselines"],
        )
    assert result.exit_code == 0, result.output
    assert result.output.startswith("re-training trial 0 from seed ")  # before the summary
    assert "\nReport for study 'iris_lines', trial 0 (model re-trained" in result.output
