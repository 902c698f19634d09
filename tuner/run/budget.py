"""The exact budget, safe with any number of workers on one store (the loop that keeps it is
:mod:`tuner.run.trial_loop`).

A study's budget is its total of *finished* trials (complete + pruned), stored on the study.
Optuna's ``MaxTrialsCallback`` alone stops a worker only *after* a trial ends, so K workers
that each start "one more" overshoot by up to K - 1. Here every worker, before each trial,
takes the study's lock (:class:`~tuner.storage.StudyLock`), fails trials whose heartbeat
stopped (Optuna re-queues them with the same parameters), counts finished + running trials
(one count query: the cost does not grow with the trials stored) and starts a trial only if
that count is below the budget; the lock is released as soon as the new trial is in the
store, so the next worker counts it. Every path that fails a running trial (a lost heartbeat,
an interrupt, ``tuner recover``) does so under the lock, so a trial is queued again once.
When the budget is taken but not yet finished (the last trials are still running) a worker
waits: if one of those trials fails or its worker dies, it takes over.

Failed trials (diverged training) do not count towards the budget; the loop stops with an
error once ``max_failures`` of this worker's trials have failed.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import optuna
from optuna.trial import FrozenTrial, TrialState

from tuner.errors import TunerError
from tuner.keys import BUDGET_ATTR, FAIL_REASON
from tuner.storage import StudyLock
from tuner.storage.optuna_compat import count_trials, trial_id, trials_after
from tuner.studies import FINISHED

_logger = logging.getLogger("tuner.run.budget")

#: Called with the study and each trial that ends (Optuna's callback signature).
TrialCallback = Callable[[optuna.Study, FrozenTrial], None]


def worker_id() -> str:
    """This process, as recorded on the trials it runs: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def study_budget(study: optuna.Study, default: int) -> int:
    """The study's budget as stored (``tuner run --trials`` / ``tuner worker --trials``)."""
    value = study.user_attrs.get(BUDGET_ATTR)
    return int(value) if value is not None else default


def fail_stale_trials(study: optuna.Study) -> None:
    """Fail (and so re-queue) the running trials whose heartbeat stopped."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)


def sampler_seed(base_seed: int, n_stored: int, worker_index: int | None) -> int:
    """The sampler's seed for one worker: differs per worker, and per resume.

    Worker 0 of a single-process run keeps the plain ``base + 7919 * stored`` formula, so that
    a one-process study is reproducible; other workers add their index; a worker without an
    index (``tuner worker`` on some machine) draws a random one.
    """
    if worker_index is None:
        worker_index = int.from_bytes(os.urandom(4), "little")
    return (base_seed + 7_919 * n_stored + 104_729 * worker_index) % (2**31 - 1)


@dataclass
class Tally:
    """What one worker's loop did: the one count of its trials and failures."""

    run: int = 0  # trials this worker started and Optuna recorded (complete, pruned or failed)
    failed: int = 0  # of those, failed (e.g. diverged training)
    taken_over: int = 0  # trials that missed their heartbeat, were re-queued, and were dropped here
    max_failures: int | None = None  # stop once this many trials have failed

    @property
    def too_many_failures(self) -> bool:
        return self.max_failures is not None and self.failed >= self.max_failures

    def check_failures(self) -> None:
        """Raise :class:`TunerError` if too many trials of this loop failed."""
        if self.too_many_failures:
            raise TunerError(
                f"{self.failed} trials failed in this run (training diverged); narrow the "
                "learning-rate range or check the data"
            )


def fill_trial_cache(study: optuna.Study) -> None:
    """Read the study's trials once, outside the lock, into Optuna's cache of the store.

    Optuna's ``ask`` (under the lock) looks for queued trials, and a study loaded from a
    relational store caches the finished trials it has read, rereading only newer ones: the
    first look in a process reads them all, which at 10,000 stored trials takes seconds.
    """
    study.get_trials(deepcopy=False, states=(TrialState.WAITING,))


def next_step(
    study: optuna.Study, lock: StudyLock, default_budget: int
) -> Literal["start", "wait", "done"]:
    """Under the held lock: start a trial (the lock stays held), wait, or stop (lock released).

    "wait": the rest of the budget is running elsewhere; if one of those trials fails, a slot
    opens again. What it reads does not grow with the trials stored: the running trials'
    heartbeats, the study's attributes and one count by state.
    """
    try:
        fail_stale_trials(study)
        budget = study_budget(study, default_budget)
        counted = count_trials(lock.storage, lock.study_id, (*FINISHED, TrialState.RUNNING))
        finished = sum(counted[state] for state in FINISHED)
        started = finished + counted[TrialState.RUNNING]
    except BaseException:
        lock.release()
        raise
    if finished < budget and started < budget:
        return "start"
    lock.release()
    if finished >= budget:
        return "done"
    _logger.info(
        "study '%s': %d of %d finished, the rest running; waiting",
        study.study_name,
        finished,
        budget,
    )
    return "wait"


def _trial(storage: optuna.storages.RDBStorage, study_id: int, number: int) -> FrozenTrial:
    """Trial ``number`` as the store holds it now."""
    return storage.get_trial(storage.get_trial_id_from_study_id_trial_number(study_id, number))


def interrupted_reason(signal_name: str) -> str:
    """The fail reason recorded on a trial that SIGINT/SIGTERM stopped."""
    return f"interrupted by {signal_name}; queued again with the same parameters"


def requeue_trial(
    study: optuna.Study,
    storage: optuna.storages.RDBStorage,
    number: int,
    reason: str,
    *,
    failed_here: bool = False,
) -> bool:
    """Fail trial ``number`` if it is still RUNNING and queue it again with the same parameters,
    exactly once; whether it was queued here.

    ``failed_here``: Optuna recorded the failure in this process. Otherwise the store refused a
    write: a trial still RUNNING is failed here; one already failed was failed by another
    worker (its heartbeat was missed), which queued it again itself. The retry limit for lost
    trials does not apply: an interrupt is no fault of the trial.

    This runs under the study lock, as failing a lost trial does, so that two writers never
    both queue one trial again. If the lock cannot be had within :data:`REQUEUE_LOCK_WAIT`
    seconds the trial is left as it is: once this process is gone its heartbeat stops, and
    the next worker fails it and queues it again.
    """
    study_id = storage.get_study_id_from_name(study.study_name)
    lock = StudyLock(storage, study_id, sleep=_bounded_sleep(REQUEUE_LOCK_WAIT))
    try:
        lock.acquire()
    except TimeoutError:
        _logger.warning("trial %d: the study lock stayed busy; left to its heartbeat", number)
        return False
    try:
        return _requeue_locked(study, storage, study_id, number, reason, failed_here)
    finally:
        lock.release()


#: Seconds an interrupted worker waits for the study lock to queue its trial again.
REQUEUE_LOCK_WAIT = 20.0


def _bounded_sleep(limit: float) -> Callable[[float], None]:
    """A sleep for :class:`StudyLock` that gives up (``TimeoutError``) after ``limit`` seconds."""
    deadline = time.monotonic() + limit

    def sleep(seconds: float) -> None:
        if time.monotonic() >= deadline:
            raise TimeoutError
        time.sleep(seconds)

    return sleep


def _requeue_locked(
    study: optuna.Study,
    storage: optuna.storages.RDBStorage,
    study_id: int,
    number: int,
    reason: str,
    failed_here: bool,
) -> bool:
    trial = _trial(storage, study_id, number)
    if trial.state == TrialState.RUNNING:
        try:
            storage.set_trial_user_attr(trial_id(trial), FAIL_REASON, reason)
            if not storage.set_trial_state_values(trial_id(trial), TrialState.FAIL):
                return False
        except optuna.exceptions.UpdateFinishedTrialError:
            return False  # failed elsewhere a moment ago, and queued again there
        trial, failed_here = _trial(storage, study_id, number), True
    if not failed_here or trial.state != TrialState.FAIL or _retried(storage, study_id, trial):
        return False
    trial.user_attrs = {
        k: v for k, v in trial.user_attrs.items() if k != FAIL_REASON
    }  # our own copy
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=None)(study, trial)
    return True


def _retried(storage: optuna.storages.RDBStorage, study_id: int, trial: FrozenTrial) -> bool:
    """Whether some trial of the study is already a retry of ``trial`` (retries come after it)."""
    return any(
        (t.system_attrs.get("retry_history") or [None])[-1] == trial.number
        for t in trials_after(storage, study_id, trial_id(trial))
    )
