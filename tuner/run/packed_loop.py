"""One worker's loop over packed trials: the exact budget, heartbeats and signals, as for one
trial at a time (:mod:`tuner.run.budget`), with several trials in flight.

Free slots are filled under the study's lock, one trial each, while the budget allows
(:func:`~tuner.run.budget.next_step`); the lock is released as soon as the trial is in the
store. Optuna asks each new trial of the sampler (queued trials first: start points and
re-queued ones), which sees the running ones (TPE's ``constant_liar``). An ended trial is told
to the study, and the trial callbacks run, as ``study.optimize`` would. A heartbeat thread keeps
every running trial alive in the store. On SIGINT/SIGTERM every running trial is failed and
queued again with its parameters, then :class:`~tuner.errors.Interrupted` is raised.
"""

from __future__ import annotations

import contextlib
import threading
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import optuna
from optuna.trial import TrialState

from tuner.errors import Interrupted
from tuner.keys import WORKER
from tuner.run.budget import (
    Tally,
    TrialCallback,
    interrupted_reason,
    next_step,
    requeue_trial,
    worker_id,
)
from tuner.run.signals import SignalGuard
from tuner.search.packed import PackedSearch
from tuner.storage import StudyLock


@contextmanager
def _heartbeats(storage: optuna.storages.RDBStorage, search: PackedSearch) -> Iterator[None]:
    """Record a heartbeat for every trial in ``search``'s slots, every heartbeat interval."""
    interval = storage.get_heartbeat_interval()
    if not interval:
        yield
        return
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(interval):
            for trial in search.trials():
                # A trial that just ended, or a store that hiccuped: the next beat will do.
                with contextlib.suppress(Exception):
                    storage.record_heartbeat(trial._trial_id)  # Optuna has no public accessor

    thread = threading.Thread(target=beat, name="tuner-heartbeats", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _fill(
    study: optuna.Study,
    search: PackedSearch,
    lock: StudyLock,
    guard: SignalGuard,
    default_budget: int,
) -> str:
    """Start a trial in each free slot while the budget allows; the last budget step."""
    step = "start"
    for slot in search.free_slots():
        lock.acquire()
        if guard.signum is not None:
            lock.release()
            guard.check()
        step = next_step(study, lock, default_budget)
        if step != "start":  # the lock is released
            break
        try:
            with warnings.catch_warnings():
                # Optuna warns that heartbeats are meant for optimize(): _heartbeats keeps them.
                warnings.filterwarnings("ignore", "Heartbeat of storage", UserWarning)
                trial = study.ask()
        finally:
            lock.release()
        trial.set_user_attr(WORKER, worker_id())
        search.start(slot, trial)
    return step


def run_packed_trials(
    study: optuna.Study,
    search: PackedSearch,
    *,
    storage: optuna.storages.RDBStorage,
    default_budget: int,
    guard: SignalGuard,
    timeout: float | None = None,
    callbacks: Sequence[TrialCallback] = (),
    max_failures: int | None = None,
    poll: float = 1.0,
) -> Tally:
    """Run packed trials of ``study`` until it holds its budget of finished trials."""
    study_id = storage.get_study_id_from_name(study.study_name)
    lock = StudyLock(storage, study_id, sleep=guard.sleep)  # an interrupt ends a wait
    started = time.monotonic()
    tally = Tally(max_failures=max_failures)
    with _heartbeats(storage, search):
        try:
            while True:
                guard.check()
                step = "done"
                if not tally.too_many_failures and (
                    timeout is None or time.monotonic() - started < timeout
                ):
                    step = _fill(study, search, lock, guard, default_budget)
                if not search.running:
                    if step == "wait":
                        guard.sleep(poll)
                        continue
                    break
                with guard.raising():
                    ended = search.epoch()
                for end in ended:
                    frozen = study.tell(
                        end.trial, end.value, state=end.state, skip_if_finished=True
                    )
                    if frozen.state != end.state:  # failed elsewhere: its heartbeat was missed
                        tally.taken_over += 1
                        continue
                    tally.run += 1
                    tally.failed += end.state == TrialState.FAIL
                    for callback in callbacks:
                        callback(study, frozen)
        except Interrupted as exc:
            for trial in search.trials():
                requeue_trial(study, storage, trial.number, interrupted_reason(exc.signal_name))
            raise
    tally.check_failures()
    return tally
