"""A k-fold study as a first-class one: lines per fold while it runs, epochs counted per fold, and
the report exporting the fold average the search saved without training it again."""

from __future__ import annotations

import json
import re

import optuna
import pytest
from click.testing import CliRunner
from optuna.trial import TrialState
from tabular_data import csv_study, iris_named, write

import tuner.report.refit as refit_module
from tuner.cli import cli
from tuner.keys import EPOCHS_RUN, FOLD_EPOCHS
from tuner.run.runner import run_study

KFOLD = 'validation = "kfold"\nfolds = 3'


def test_a_kfold_csv_run_outside_a_terminal_prints_a_line_per_fold_and_per_trial(
    tmp_path, store: str
) -> None:
    write(iris_named(), tmp_path / "iris.csv")
    path = csv_study(tmp_path / "table.toml", "iris.csv", "species", data=KFOLD)
    result = CliRunner().invoke(cli, ["run", "--study", str(path), "--storage", store])
    assert result.exit_code == 0, result.output
    fold_lines = re.findall(
        r"^trial (\d+) fold (\d)/3: accuracy \S+ after \d+ epochs?$", result.output, re.M
    )
    trial_lines = re.findall(r"^trial (\d+) (complete|pruned)", result.output, re.M)
    trials = optuna.load_study(study_name="table", storage=store).get_trials()
    assert len(trial_lines) == len(trials) == 3
    for trial in trials:
        folds = [int(f) for n, f in fold_lines if int(n) == trial.number]
        assert folds == list(range(1, len(trial.user_attrs[FOLD_EPOCHS]) + 1))
        if trial.state == TrialState.COMPLETE:
            assert folds == [1, 2, 3]


def test_epochs_count_per_fold_never_summed(make_study, store: str) -> None:
    epochs: list[tuple[int, int, int, tuple[int, int]]] = []
    path = make_study(data_extra=KFOLD, trials=2, epochs=3, pruner="none")
    run_study(
        path,
        storage=store,
        on_epoch=lambda number, epoch, most, value, fold: epochs.append(
            (number, epoch, most, fold)
        ),
    )
    trials = optuna.load_study(study_name="tiny", storage=store).get_trials()
    for trial in trials:
        per_fold = trial.user_attrs[FOLD_EPOCHS]
        assert len(per_fold) == 3 and all(1 <= e <= 3 for e in per_fold)
        assert trial.user_attrs[EPOCHS_RUN] == max(per_fold) <= 3
        for fold, count in enumerate(per_fold, start=1):  # each fold counts its own epochs
            seen = [e for n, e, _, f in epochs if n == trial.number and f == (fold, 3)]
            assert seen == list(range(1, count + 1))
    shown = CliRunner().invoke(cli, ["show", "--study", "tiny", "--storage", store])
    assert shown.exit_code == 0, shown.output
    best = optuna.load_study(study_name="tiny", storage=store).best_trial
    expected = "/".join(str(e) for e in best.user_attrs[FOLD_EPOCHS])
    assert re.search(rf"epochs per fold\s+{expected}$", shown.output, re.M), shown.output


def test_the_report_exports_the_saved_fold_average_without_training(
    make_study, store: str, tmp_path, monkeypatch
) -> None:
    from tuner.report.build import build_report

    path = make_study(
        data_extra=KFOLD + '\nkfold_model = "average"', trials=2, epochs=2, pruner="none"
    )
    run_study(path, storage=store)

    def no_training(*args, **kwargs):
        raise AssertionError("the report trained the folds again")

    monkeypatch.setattr(refit_module, "cross_validate", no_training)
    result = build_report("tiny", storage=store, out=tmp_path / "report")
    summary = json.loads((tmp_path / "report" / "summary.json").read_text())
    check = summary["model"]["validation_check"]
    assert result.model_source == "folds" and check["kind"] == "folds"
    assert check["fold_models"] == "saved when the trial ran"
    assert check["reproduced"] == pytest.approx(result.recorded_value, abs=1e-6)
    assert "saved when the trial ran" in summary["model"]["provenance"]
    # --retrain trains them again
    with pytest.raises(AssertionError, match="trained the folds again"):
        build_report("tiny", storage=store, out=tmp_path / "again", retrain=True)
