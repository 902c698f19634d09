"""The leaderboard of the best trials (`tuner show --top N`, the report) and the importance note."""

from __future__ import annotations

import optuna
from click.testing import CliRunner

from tuner.cli import cli
from tuner.keys import EPOCHS_RUN, N_PARAMS
from tuner.report.leaderboard import MIN_IMPORTANCE_TRIALS, importance_reliability, study_extras
from tuner.studies import LEADERBOARD_COLUMNS, leaderboard


def _study(store: str, direction: str, values: list[float]) -> optuna.Study:
    study = optuna.create_study(study_name=f"lb_{direction}", storage=store, direction=direction)
    for i, value in enumerate(values):
        trial = study.ask()
        trial.suggest_categorical("activation", ["relu", "tanh"])
        trial.suggest_float("learning_rate", 1e-4, 1e-1, log=True)
        trial.set_user_attr(EPOCHS_RUN, 3 + i)
        trial.set_user_attr(N_PARAMS, 1000 + i)
        study.tell(trial, value)
    study.tell(study.ask(), state=optuna.trial.TrialState.PRUNED)  # not on the board
    return study


def test_leaderboard_ranks_completed_trials_by_direction(store: str) -> None:
    low = _study(store, "minimize", [0.5, 0.2, 0.9, 0.2])
    assert [(r.number, r.value) for r in leaderboard(low, 3)] == [(1, 0.2), (3, 0.2), (0, 0.5)]
    high = _study(store, "maximize", [0.5, 0.2, 0.9])
    rows = leaderboard(high)
    assert [r.number for r in rows] == [2, 0, 1]
    assert (
        rows[0].epochs_run == 5
        and rows[0].n_params == 1002
        and rows[0].activation in ("relu", "tanh")
    )


def test_show_top_prints_the_table_after_the_best_trial(store: str) -> None:
    _study(store, "maximize", [0.5, 0.2, 0.9])
    plain = CliRunner().invoke(cli, ["show", "--study", "lb_maximize", "--storage", store])
    assert plain.exit_code == 0, plain.output
    assert "Top" not in plain.output
    result = CliRunner().invoke(
        cli, ["show", "--study", "lb_maximize", "--storage", store, "--top", "2"]
    )
    assert result.exit_code == 0, result.output
    assert result.output.startswith(plain.output)
    tail = result.output[len(plain.output) :].strip().splitlines()
    assert tail[0] == "Top 2 completed trials, best first:"
    assert tail[1].split() == [short for short, _ in LEADERBOARD_COLUMNS]
    assert [line.split()[:3] for line in tail[3:]] == [["1", "2", "0.9"], ["2", "0", "0.5"]]
    bad = CliRunner().invoke(
        cli, ["show", "--study", "lb_maximize", "--storage", store, "--top", "0"]
    )
    assert bad.exit_code == 2 and "--top" in bad.output


def test_importances_on_few_trials_carry_a_note(store: str) -> None:
    few = _study(store, "minimize", [0.1, 0.2, 0.3])
    info = importance_reliability(few)
    assert info["completed_trials"] == 3 and info["reliable"] is False
    assert info["note"].startswith(
        f"based on 3 completed trials only (fewer than {MIN_IMPORTANCE_TRIALS})"
    )
    many = _study(store, "maximize", [i / 20 for i in range(MIN_IMPORTANCE_TRIALS)])
    assert importance_reliability(many) == {
        "completed_trials": MIN_IMPORTANCE_TRIALS,
        "min_trials": MIN_IMPORTANCE_TRIALS,
        "reliable": True,
        "note": None,
    }
    extras = study_extras(many, 3)
    assert [r["rank"] for r in extras["leaderboard"]] == list(range(1, MIN_IMPORTANCE_TRIALS + 1))
    assert extras["leaderboard"][0]["number"] == MIN_IMPORTANCE_TRIALS - 1
    assert (
        extras["saved_models"]["keep_models"] == 3
        and "3 best completed trials" in extras["saved_models"]["note"]
    )
