"""SIGTERM at random moments: every interrupted trial is queued again, exactly once.

In this process the worker loop is signalled at random points of its cycle (waiting for the
lock, Optuna creating the trial, the objective writing to the store, Optuna recording the
result) many times; then ``tuner run --workers 2`` is signalled at random moments.
"""

from __future__ import annotations

import random
import signal
import threading
import time
from collections import Counter

import optuna
import pytest
from optuna.trial import FrozenTrial, TrialState
from procs import WORKER_ENV, finish, running_trial, start, trials, wait_for

from tuner.errors import Interrupted
from tuner.keys import FAIL_REASON
from tuner.run.signals import SignalGuard
from tuner.run.trial_loop import run_trials
from tuner.storage import open_storage


@pytest.fixture(autouse=True)
def _short_heartbeats(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in WORKER_ENV.items():
        monkeypatch.setenv(key, value)


def assert_requeued_once(all_trials: list[FrozenTrial]) -> None:
    """No trial is left running; each failed (interrupted) trial has exactly one retry, with its
    parameters."""
    by_number = {t.number: t for t in all_trials}
    assert [t.number for t in all_trials if t.state == TrialState.RUNNING] == []
    failed = {t.number for t in all_trials if t.state == TrialState.FAIL}
    retries = Counter(
        t.system_attrs["retry_history"][-1]
        for t in all_trials
        if t.system_attrs.get("retry_history")
    )
    assert {n: retries[n] for n in failed if retries[n] != 1} == {}, (
        "failed trials queued again other than once"
    )
    assert set(retries) <= failed, "a retry of a trial that did not fail"
    for t in all_trials:
        if t.system_attrs.get("retry_history"):
            source = by_number[t.system_attrs["retry_history"][-1]]
            assert source.user_attrs[FAIL_REASON].startswith("interrupted by SIGTERM")
            if t.state == TrialState.WAITING:
                assert t.params == source.params and FAIL_REASON not in t.user_attrs
            elif t.params:  # ran since: the same parameters, drawn from the retry
                assert {k: v for k, v in t.params.items() if k in source.params} == source.params
    assert all(
        t.system_attrs.get("retry_history") for t in all_trials if t.state == TrialState.WAITING
    )


def _objective(trial: optuna.Trial) -> float:
    """A few store writes around short pauses, like a training trial's."""
    x = trial.suggest_float("x", 0.0, 1.0)
    trial.suggest_int("n", 1, 8)
    for step in range(3):
        trial.report(x * step, step)
        time.sleep(0.01)
    trial.set_user_attr("probe", x)
    return x


def test_signals_at_random_points_of_the_loop_requeue_each_trial_once(store: str) -> None:
    storage = open_storage(store)
    study = optuna.create_study(study_name="stress", storage=storage)
    rng = random.Random(7)
    main = threading.main_thread().ident
    assert main is not None
    for _ in range(60):
        timer = threading.Timer(rng.uniform(0.0, 0.15), signal.pthread_kill, (main, signal.SIGTERM))
        with SignalGuard() as guard, pytest.raises(Interrupted):
            timer.start()
            run_trials(study, _objective, storage=storage, default_budget=10_000, guard=guard)
        timer.join()
    done = study.get_trials()
    assert sum(t.state == TrialState.FAIL for t in done) >= 10  # the signals did land inside trials
    assert_requeued_once(done)


def test_an_interrupt_whose_failure_the_store_refused_is_still_requeued(
    store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The signal arrives, then recording the failure raises: the trial is failed and queued
    here."""
    storage = open_storage(store)
    study = optuna.create_study(study_name="refused", storage=storage)
    real = storage.set_trial_state_values
    calls: list[TrialState] = []

    def refuse_once(trial_id: int, state: TrialState, values=None) -> bool:  # type: ignore[no-untyped-def]
        calls.append(state)
        if len(calls) == 1:
            raise optuna.exceptions.StorageInternalError("database is locked")
        return real(trial_id, state, values)

    monkeypatch.setattr(storage, "set_trial_state_values", refuse_once)

    def objective(trial: optuna.Trial) -> float:
        trial.suggest_float("x", 0.0, 1.0)
        signal.raise_signal(signal.SIGTERM)
        raise AssertionError("the signal raises inside the objective")

    with SignalGuard() as guard, pytest.raises(Interrupted):
        run_trials(study, objective, storage=storage, default_budget=5, guard=guard)
    first, retry = study.get_trials()
    assert first.state == TrialState.FAIL and first.user_attrs[FAIL_REASON].startswith(
        "interrupted by SIGTERM"
    )
    assert retry.state == TrialState.WAITING and retry.params == first.params
    assert_requeued_once([first, retry])


def test_an_interrupt_is_requeued_however_often_the_trial_was_retried(store: str) -> None:
    """The retry limit is for trials whose worker died, not for interrupts."""
    storage = open_storage(store)
    study = optuna.create_study(study_name="again", storage=storage)

    def objective(trial: optuna.Trial) -> float:
        trial.suggest_float("x", 0.0, 1.0)
        signal.raise_signal(signal.SIGTERM)
        return 0.0

    for _ in range(6):
        with SignalGuard() as guard, pytest.raises(Interrupted):
            run_trials(study, objective, storage=storage, default_budget=5, guard=guard)
    done = study.get_trials()
    assert [t.state for t in done] == [TrialState.FAIL] * 6 + [TrialState.WAITING]
    assert len({repr(t.params) for t in done}) == 1
    assert done[-1].system_attrs["retry_history"] == list(range(6))
    assert_requeued_once(done)


def _sigterm_rounds(make_study, store: str, rounds: int, seed: int) -> None:
    """``tuner run --workers 2``, signalled after a random pause, ``rounds`` times on one study."""
    path = make_study("term", dataset="digits", epochs=15, trials=200, pruner="none")
    path.write_text(
        path.read_text().replace("patience = 2", "patience = 15")
    )  # trials of a few seconds
    rng = random.Random(seed)
    for _ in range(rounds):
        proc = start("run", "--study", str(path), "--storage", store, "--workers", "2", "--quiet")
        try:
            wait_for(
                lambda: running_trial(store, "term"),
                timeout=240,
                every=0.05,
                what="a trial in training",
            )
        except AssertionError:
            proc.kill()
            raise
        time.sleep(rng.uniform(0.0, 1.5))  # then signal at a random moment
        proc.send_signal(signal.SIGTERM)
        code, _, err = finish(proc, timeout=300)
        assert code == 143, err
        assert "Traceback" not in err
    done = _trials(store)
    assert any(t.state == TrialState.FAIL for t in done)
    assert_requeued_once(done)


def _trials(store: str) -> list[FrozenTrial]:
    try:
        return trials(store, "term")
    except KeyError:  # the study is not in the store yet
        return []


@pytest.mark.slow  # six processes on digits; test_workers covers one SIGTERM to two workers
def test_sigterm_to_two_workers_requeues_each_interrupted_trial_once(
    make_study, store: str
) -> None:
    _sigterm_rounds(make_study, store, rounds=2, seed=1)


@pytest.mark.slow
def test_sigterm_to_two_workers_many_times(make_study, store: str) -> None:
    _sigterm_rounds(make_study, store, rounds=8, seed=2)


#: A block guarded by a SignalGuard, in which ``trigger`` makes the signal land inside a
#: callback whose exceptions Python drops; prints how the block ended.
_GUARDED_SCRIPT = """
import gc, os, signal, sys, time, weakref
from tuner.errors import Interrupted
from tuner.run.signals import SignalGuard

fired = []

def fire(signum):
    fired.append(1)
    os.kill(os.getpid(), signum)
    time.sleep(0.01)  # the handler runs here, inside the callback

def collector_callback(phase, info):
    if phase == "start" and not fired:
        fire(signal.SIGTERM)

class Thing:
    pass

with SignalGuard() as guard:
    try:
        with guard.raising():
            TRIGGER
            for _ in range(600):  # 30 s: a dropped signal lets the block end normally
                time.sleep(0.05)
        print("not interrupted")
    except Interrupted as exc:
        print("interrupted", exc.signum, "fired", len(fired))
"""


def _guarded(trigger: str):
    """Run :data:`_GUARDED_SCRIPT` with ``trigger`` in a fresh process (signal handlers need the
    main thread, which a test runner may not give)."""
    import subprocess
    import sys

    script = _GUARDED_SCRIPT.replace("TRIGGER", trigger)
    return subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )


def test_a_signal_inside_a_gc_callback_still_interrupts() -> None:
    """Python drops an exception raised in a garbage-collector callback (JAX installs one):
    the guard delivers such a signal again, so the block is still interrupted."""
    proc = _guarded("gc.callbacks.append(collector_callback); gc.collect()")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"interrupted {int(signal.SIGTERM)} fired 1"


def test_a_signal_inside_a_weakref_callback_interrupts_without_a_trace() -> None:
    """Python prints and drops an exception raised in a weakref callback ("Exception ignored
    in: <function WeakKeyDictionary...remove>"): the guard delivers it again, silently."""
    proc = _guarded(
        "thing = Thing(); ref = weakref.ref(thing, lambda r: fire(signal.SIGINT)); del thing"
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"interrupted {int(signal.SIGINT)} fired 1"
    assert "Exception ignored" not in proc.stderr and "Traceback" not in proc.stderr
