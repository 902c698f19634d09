"""What ``tuner run`` shows while it works: the start line, per-trial lines, the live display."""

from __future__ import annotations

import re

import optuna
from click.testing import CliRunner

from tuner.cli import cli
from tuner.cli.progress import RunDisplay
from tuner.run.local import _report_epochs
from tuner.run.runner import run_study
from tuner.run.start import RunStart


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args))


def _trial_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if re.match(r"trial \d+ ", line)]


def test_start_line_and_one_plain_line_per_trial_off_a_terminal(make_study, store: str) -> None:
    path = make_study(trials=2, epochs=2)
    first = invoke("run", "--study", str(path), "--storage", store)
    assert first.exit_code == 0, first.output
    masked = store  # no password: shown as given
    assert (
        first.output.splitlines()[0]
        == f"New study 'tiny' in {masked}: running 2 trials (sampler tpe, pruner median, 1 worker)"
    )
    lines = _trial_lines(first.output)
    assert [line.split()[1] for line in lines] == ["0", "1"]
    assert all(
        re.fullmatch(
            r"trial \d complete: accuracy [\d.]+ \(best [\d.]+, trial \d\) in [\d.]+s", line
        )
        for line in lines
    ), lines
    assert "\r" not in first.output

    resumed = invoke("run", "--study", str(path), "--storage", store, "--trials", "3")
    assert resumed.exit_code == 0, resumed.output
    best = optuna.load_study(study_name="tiny", storage=store).trials[:2]
    stored_best = max(best, key=lambda t: t.values[0])
    start = resumed.output.splitlines()[0]
    assert start.startswith(
        f"Study 'tiny' in {masked}: 2 of 3 finished trials already, running 1 more (sampler tpe, "
        "pruner median, 1 worker); best accuracy "
    )
    assert start.endswith(f"(trial {stored_best.number})")
    assert [line.split()[1] for line in _trial_lines(resumed.output)] == ["2"]
    assert "\r" not in resumed.output and "1 trials run" in resumed.output


def test_the_best_shown_after_a_resume_is_the_studys(make_study, store: str) -> None:
    path = make_study(trials=1, epochs=1, pruner="none")
    assert invoke("run", "--study", str(path), "--storage", store, "--quiet").exit_code == 0
    # A stored trial no new one can beat (strictly): the run must show it as the best.
    study = optuna.load_study(study_name="tiny", storage=store)
    study.add_trial(optuna.trial.create_trial(value=1.0, params={}, distributions={}))
    result = invoke("run", "--study", str(path), "--storage", store, "--trials", "3")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0].endswith(
        "running 1 more (sampler tpe, pruner none, 1 worker); best accuracy 1 (trial 1)"
    )
    (line,) = _trial_lines(result.output)
    assert line.startswith("trial 2 complete: accuracy ") and "(best 1, trial 1)" in line


def test_a_met_budget_says_so_and_exits_0(make_study, store: str) -> None:
    path = make_study(trials=2, epochs=1)
    assert invoke("run", "--study", str(path), "--storage", store, "--quiet").exit_code == 0
    for trials in ("1", "2"):
        result = invoke("run", "--study", str(path), "--storage", store, "--trials", trials)
        assert result.exit_code == 0, result.output
        lines = result.output.splitlines()
        assert lines[0] == (
            f"Study 'tiny' already holds 2 finished trials (budget {trials}): nothing to "
            "run. Raise --trials to add more."
        )
        assert "trials run in" not in result.output and not _trial_lines(result.output)
        assert lines[1].startswith("Best maximized value ")
    assert len(optuna.load_study(study_name="tiny", storage=store).trials) == 2


def test_on_epoch_is_called_once_per_epoch_of_an_unpruned_trial(make_study, store: str) -> None:
    calls: list[tuple[int, int, int, float]] = []
    path = make_study(trials=1, epochs=3, pruner="none")
    result = run_study(path, storage=store, on_epoch=lambda *event: calls.append(event))
    assert result.n_finished == 1
    trial = optuna.load_study(study_name="tiny", storage=store).trials[0]
    assert [c[:3] for c in calls] == [(0, 1, 3), (0, 2, 3), (0, 3, 3)]
    assert [c[3] for c in calls] == [trial.intermediate_values[step] for step in range(3)]


def test_with_workers_the_parent_reads_each_running_trials_latest_epoch(store: str) -> None:
    study = optuna.create_study(study_name="s", storage=store, direction="maximize")
    trial = study.ask()
    calls: list[tuple[int, int, int, float]] = []
    shown: dict[int, int] = {}
    _report_epochs(study, lambda *e: calls.append(e), 5, shown)  # nothing reported yet
    trial.report(0.5, step=0)
    trial.report(0.75, step=1)
    _report_epochs(study, lambda *e: calls.append(e), 5, shown)
    _report_epochs(study, lambda *e: calls.append(e), 5, shown)  # no new epoch: no call
    trial.report(0.8, step=2)
    _report_epochs(study, lambda *e: calls.append(e), 5, shown)
    assert calls == [(0, 2, 5, 0.75), (0, 3, 5, 0.8)]


def _start(**fields) -> RunStart:
    values = dict(
        study_name="s",
        storage="sqlite:///x.db",
        new=False,
        finished=2,
        budget=4,
        metric="accuracy",
        direction="maximize",
        best_value=0.9,
        best_trial=1,
        sampler="tpe",
        pruner="median",
        workers=1,
        max_epochs=3,
    )
    return RunStart(**(values | fields))


def test_the_live_display_counts_stored_trials_and_shows_running_ones(capsys) -> None:
    display = RunDisplay(live=True)
    display.start(_start())
    display.epoch(2, 1, 3, 0.5)
    live = capsys.readouterr().err
    assert "Study 's' in sqlite:///x.db: 2 of 4 finished trials already, running 2 more" in live
    assert (
        "2/4" in live and "best accuracy=0.9" in live and "trial 2: epoch 1/3 accuracy 0.5" in live
    )
    done = optuna.trial.create_trial(value=0.95, params={}, distributions={})
    done.number = 2
    display(None, done)
    display.close()
    after = capsys.readouterr().err
    assert (
        "trial 2 complete: accuracy 0.95 (best 0.95, trial 2)" in after
        and "3/4" in after
        and "best accuracy=0.95" in after
    )
    assert display.best == (0.95, 2) and display.finished == 3
