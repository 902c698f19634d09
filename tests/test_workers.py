"""Several workers on one SQLite store: exact budgets, signals, joining, bad input."""

from __future__ import annotations

import os
import signal
import time

import optuna
import pytest
from click.testing import CliRunner
from optuna.trial import TrialState
from procs import (
    WORKER_ENV,
    counts,
    finish,
    run_echo_worker,
    running_trial,
    start,
    trials,
    wait_for,
)

from tuner.cli import cli
from tuner.errors import ConfigError, Interrupted, TunerError
from tuner.keys import BUDGET_ATTR, FAIL_REASON, TRIAL_SEED, WORKER
from tuner.run.runner import join_study, run_study, run_workers
from tuner.run.signals import SignalGuard
from tuner.run.trial_loop import run_trials
from tuner.storage import open_storage
from tuner.studies import FINISHED

#: Digits for 15 epochs: trials of a few seconds, long enough to interrupt one mid-training.
SLOW = dict(dataset="digits", epochs=15, pruner="none", space_extra="")


@pytest.fixture(autouse=True)
def _short_heartbeats(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in WORKER_ENV.items():
        monkeypatch.setenv(key, value)


def _slow_study(make_study, name: str = "slow", trials: int = 50):
    path = make_study(name, trials=trials, **SLOW)
    path.write_text(path.read_text().replace("patience = 2", "patience = 15"))
    return path


def test_workers_zero_is_refused_before_the_store_is_touched(
    make_study, store: str, tmp_path
) -> None:
    path = make_study()
    result = CliRunner().invoke(
        cli, ["run", "--study", str(path), "--storage", store, "--workers", "0"]
    )
    assert result.exit_code == 2  # a click range: refused while parsing the flags
    assert (
        result.output.strip().splitlines()[-1]
        == "Error: Invalid value for '--workers': 0 is not in the range 1<=x<=256."
    )
    assert not (tmp_path / "store.db").exists()
    with pytest.raises(ConfigError, match="--workers"):
        run_workers(path, workers=-2, storage=store)


def test_worker_on_a_missing_study_names_the_stored_ones(make_study, store: str) -> None:
    optuna.create_study(study_name="other", storage=store)
    result = CliRunner().invoke(cli, ["worker", "--study", "nope", "--storage", store])
    assert result.exit_code == 1
    assert result.output.strip() == "Error: no study 'nope' in the store; stored studies: other"
    result = CliRunner().invoke(cli, ["worker", "--study", "other", "--storage", store])
    assert result.exit_code == 1
    assert (
        "has no tuner settings (it was not started by tuner run); start it with: tuner run "
        "--study other" in result.output
    )
    assert "Traceback" not in result.output


@pytest.mark.slow  # five processes; test_packed's two local workers share a budget by default
def test_four_sqlite_workers_finish_exactly_the_budget_without_lock_errors(
    make_study, store: str
) -> None:
    path = make_study("four", trials=5, epochs=1)
    code, out, err = finish(
        start("run", "--study", str(path), "--storage", store, "--workers", "4", "--quiet")
    )
    assert code == 0, err
    assert "locked" not in err.lower() and "Traceback" not in err
    assert "Study 'four'" in out and "5 finished" in out
    done = trials(store, "four")
    assert [t.state for t in done].count(TrialState.RUNNING) == 0
    assert sum(t.state in FINISHED for t in done) == 5
    assert all(t.state != TrialState.FAIL for t in done), [
        t.user_attrs.get(FAIL_REASON) for t in done
    ]
    assert len({t.number for t in done}) == len(done)
    assert len({t.user_attrs[WORKER] for t in done}) >= 2, (
        "the trials were shared between processes"
    )
    # The budget is stored with the study: a bare worker has nothing left to do...
    again = join_study("four", storage=store)
    assert again.trials_run == 0 and again.n_finished == 5
    # ...and one with a new budget raises it for everyone, and stops exactly there.
    more = join_study("four", storage=store, trials=6)
    assert more.trials_run == 1 and more.n_finished == 6
    assert optuna.load_study(study_name="four", storage=store).user_attrs[BUDGET_ATTR] == 6


def test_sigint_fails_the_running_trial_and_a_rerun_resumes_with_it(make_study, store: str) -> None:
    path = _slow_study(make_study)
    proc = start("run", "--study", str(path), "--storage", store, "--quiet")
    victim = wait_for(lambda: running_trial(store, "slow"), what="a trial in training")
    proc.send_signal(signal.SIGINT)
    code, out, err = finish(proc)
    assert code == 130, err
    assert "Interrupted by SIGINT: the running trial was recorded as failed and queued again" in err
    assert "Traceback" not in err
    after = {t.number: t for t in trials(store, "slow")}
    assert counts(store, "slow")["RUNNING"] == 0
    failed = after[victim.number]
    assert failed.state == TrialState.FAIL
    assert failed.user_attrs[FAIL_REASON].startswith("interrupted by SIGINT")
    queued = [t for t in after.values() if t.state == TrialState.WAITING]
    assert len(queued) == 1 and queued[0].params == failed.params == victim.params
    assert FAIL_REASON not in queued[0].user_attrs

    # Re-running resumes: the queued trial runs first, with the interrupted trial's parameters and
    # seed.
    result = run_study(path, storage=store, trials=1)
    assert result.n_finished == 1 and result.trials_run == 1
    rerun = [t for t in trials(store, "slow") if t.state in FINISHED]
    assert len(rerun) == 1
    assert rerun[0].params == victim.params
    assert rerun[0].system_attrs["failed_trial"] == victim.number
    assert rerun[0].user_attrs[TRIAL_SEED] == failed.user_attrs[TRIAL_SEED]
    assert counts(store, "slow")["WAITING"] == 0


def test_sigterm_stops_every_local_worker_and_leaves_nothing_running(
    make_study, store: str
) -> None:
    path = _slow_study(make_study, "term")
    proc = start("run", "--study", str(path), "--storage", store, "--workers", "2", "--quiet")
    wait_for(lambda: running_trial(store, "term"), what="a trial in training")
    proc.send_signal(signal.SIGTERM)  # to the parent only: it must pass the signal on
    code, _, err = finish(proc)
    assert code == 143, err
    assert "Interrupted by SIGTERM" in err and "Traceback" not in err
    c = counts(store, "term")
    assert c["RUNNING"] == 0
    assert c["FAIL"] >= 1 and 1 <= c["WAITING"] <= c["FAIL"]
    failed = [t for t in trials(store, "term") if t.state == TrialState.FAIL]
    for t in failed:
        assert t.user_attrs[FAIL_REASON].startswith("interrupted by SIGTERM")
    for t in trials(store, "term"):
        if t.state == TrialState.WAITING:  # queued again with an interrupted trial's parameters
            assert any(t.params == f.params for f in failed)


def test_signal_guard_defers_a_signal_outside_safe_points() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with SignalGuard() as guard:
        signal.raise_signal(signal.SIGTERM)  # not in a raising() block: remembered, not raised
        assert guard.signum == signal.SIGTERM
        with pytest.raises(Interrupted) as caught:
            guard.check()
        assert caught.value.exit_code == 143
        with pytest.raises(Interrupted), guard.raising():
            pass
    assert signal.getsignal(signal.SIGTERM) is before


def test_a_trial_taken_over_after_missed_heartbeats_is_dropped_and_rerun(store: str) -> None:
    storage = open_storage(store, heartbeat_interval=1, grace_period=1)
    study = optuna.create_study(study_name="stall", storage=storage)
    study.set_user_attr(BUDGET_ATTR, 1)
    beating = set()
    real_beat = storage.record_heartbeat

    def first_beat_only(trial_id: int) -> None:  # this worker's machine stalls after one beat
        if trial_id not in beating:
            beating.add(trial_id)
            real_beat(trial_id)

    storage.record_heartbeat = first_beat_only
    calls = []

    def objective(trial: optuna.Trial) -> float:
        x = trial.suggest_float("x", 0.0, 1.0)
        calls.append(trial.number)
        if len(calls) == 1:  # meanwhile another worker notices the silence and takes over
            time.sleep(3.0)
            optuna.storages.fail_stale_trials(study)
        return x

    with SignalGuard() as guard:
        tally = run_trials(study, objective, storage=storage, default_budget=1, guard=guard)
    assert tally.taken_over == 1 and tally.run == 1
    first, retry = study.get_trials()
    assert first.state == TrialState.FAIL
    assert retry.state == TrialState.COMPLETE and retry.params == first.params
    assert retry.system_attrs["failed_trial"] == first.number
    assert calls == [0, 1]


def test_the_loop_stops_at_the_failure_limit(store: str) -> None:
    storage = open_storage(store)
    study = optuna.create_study(study_name="nan", storage=storage)

    def diverges(trial: optuna.Trial) -> float:
        trial.suggest_float("x", 0.0, 1.0)
        return float("nan")  # Optuna records the trial as failed

    message = (
        r"^2 trials failed in this run \(training diverged\); narrow the learning-rate range or "
        r"check the data$"
    )
    with SignalGuard() as guard, pytest.raises(TunerError, match=message):
        run_trials(study, diverges, storage=storage, default_budget=5, guard=guard, max_failures=2)
    assert [t.state for t in study.get_trials()] == [TrialState.FAIL] * 2


def test_a_local_worker_sets_its_threads_and_this_process_keeps_its_environment(
    store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "7")
    before = dict(os.environ)
    study = optuna.create_study(study_name="probe", storage=store)
    with pytest.raises(TunerError) as caught:  # the stand-in fails on purpose, saying what it saw
        run_echo_worker(study, store)
    assert str(caught.value) == "probe: OMP_NUM_THREADS=1, BLAS threads [1]"
    assert dict(os.environ) == before
