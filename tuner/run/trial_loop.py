"""One worker's trial loop, for any number of trials trained at once.

A :class:`~tuner.search.objective.TrialPack` trains the trials in its slots: one trial at a
time on the ordinary trainer (:class:`~tuner.search.objective.OneTrial`), or several in one
compiled program (:class:`~tuner.search.packed.PackedSearch`). The loop around it is the same:

- free slots are filled under the study's lock, one trial each, while the exact budget allows
  (:func:`~tuner.run.budget.next_step`); the lock is released as soon as the trial is in the
  store, so the next worker counts it. Optuna asks each trial of the sampler (queued trials
  first: start points and re-queued ones);
- the pack trains until some trials end; each ended trial is told to the study and the trial
  callbacks run, as ``study.optimize`` does; a heartbeat thread keeps every trial alive in the
  store meanwhile.

As Optuna's ``_run_trial``, every trial the loop asked for ends COMPLETE, PRUNED or FAIL, or is
queued again, whatever is raised: on SIGINT/SIGTERM every unfinished trial is failed and queued
again with its parameters, then :class:`~tuner.errors.Interrupted` is raised; on any other error
the trials it came from are failed (with the error as their ``fail_reason``), the others queued
again, and the error raised. A trial that missed its heartbeat and was failed by another worker
(which queued it again) is dropped here without stopping the run.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence

import optuna
from optuna.trial import FrozenTrial, TrialState

from tuner.errors import Interrupted, first_line
from tuner.keys import FAIL_REASON, WORKER
from tuner.run.budget import (
    Tally,
    TrialCallback,
    fill_trial_cache,
    interrupted_reason,
    next_step,
    requeue_trial,
    worker_id,
)
from tuner.run.signals import SignalGuard
from tuner.search.objective import Ended, OneTrial, TrialPack
from tuner.storage import StudyLock
from tuner.storage.optuna_compat import trial_id

_logger = logging.getLogger("tuner.run.trial_loop")

#: Tries at recording the end of a trial when the run stops (the store may be what failed).
_SETTLE_ATTEMPTS = 3

Objective = Callable[[optuna.Trial], "float | Sequence[float]"]


def run_trials(
    study: optuna.Study,
    pack: TrialPack | Objective,
    *,
    storage: optuna.storages.RDBStorage,
    default_budget: int,
    guard: SignalGuard,
    timeout: float | None = None,
    callbacks: Sequence[TrialCallback] = (),
    max_failures: int | None = None,
    poll: float | None = None,
) -> Tally:
    """Run trials of ``study`` until it holds its budget of finished trials (see module doc).

    ``pack``: the trials' trainer, or an objective function (trained one trial at a time).
    ``timeout`` (seconds) stops starting new trials. Raises :class:`~tuner.errors.TunerError`
    once ``max_failures`` trials of this loop have failed.
    """
    pack = pack if isinstance(pack, TrialPack) else OneTrial(pack)
    loop = _Loop(study, pack, storage, guard, callbacks, Tally(max_failures=max_failures))
    interval = storage.get_heartbeat_interval() or 5
    poll = poll if poll is not None else min(5.0, max(0.5, interval / 2))
    started = time.monotonic()
    fill_trial_cache(study)  # outside the lock: the first look at queued trials reads them all
    with _heartbeats(storage, loop.asked):
        try:
            while True:
                guard.check()
                step = "done"
                if not loop.tally.too_many_failures and (
                    timeout is None or time.monotonic() - started < timeout
                ):
                    step = loop.fill(default_budget)
                if not loop.asked:
                    if step == "wait":
                        guard.sleep(poll)
                        continue
                    break
                loop.advance()
        except BaseException as exc:
            loop.settle(exc)
            if guard.signum is not None and not isinstance(exc, Interrupted):
                # The signal landed inside a library (a store's commit, say), which raised an
                # error of its own outside a trial: the run was still interrupted, and says so.
                raise Interrupted(guard.signum) from exc
            raise
    loop.tally.check_failures()
    return loop.tally


class _Loop:
    """The loop's state: the trials asked of Optuna and not yet told, and whose error it is."""

    def __init__(
        self,
        study: optuna.Study,
        pack: TrialPack,
        storage: optuna.storages.RDBStorage,
        guard: SignalGuard,
        callbacks: Sequence[TrialCallback],
        tally: Tally,
    ):
        self.study, self.pack, self.storage, self.guard = study, pack, storage, guard
        self.callbacks, self.tally = callbacks, tally
        self.study_id = storage.get_study_id_from_name(study.study_name)
        self.lock = StudyLock(storage, self.study_id, sleep=guard.sleep)  # an interrupt ends a wait
        self.asked: dict[int, optuna.Trial] = {}  # read by the heartbeat thread
        self.culprits: set[int] = set()  # the trials an error raised now would come from

    def fill(self, default_budget: int) -> str:
        """Start a trial in each free slot while the budget allows; the last budget step."""
        step = "start"
        for slot in self.pack.free_slots():
            self.lock.acquire()
            if self.guard.signum is not None:  # arrived while waiting for the lock
                self.lock.release()
                self.guard.check()
            step = next_step(self.study, self.lock, default_budget)
            if step != "start":  # the lock is released
                break
            try:
                with warnings.catch_warnings():
                    # Optuna warns that heartbeats are meant for optimize(): _heartbeats keeps them.
                    warnings.filterwarnings("ignore", "Heartbeat of storage", UserWarning)
                    trial = self.study.ask()
                self.asked[trial.number] = trial  # from here on, this loop ends it
                if self.storage.get_heartbeat_interval():
                    self.storage.record_heartbeat(trial_id(trial))
            finally:
                self.lock.release()
            self.culprits = {trial.number}
            trial.set_user_attr(WORKER, worker_id())
            self.pack.start(slot, trial)
            self.culprits = set()
        return step

    def advance(self) -> None:
        """Train until some trials end; tell each to the study, then raise the first error."""
        self.culprits = {trial.number for trial in self.pack.trials()}
        ended = self.pack.advance(self.guard.raising)
        self.culprits = set()
        signum = self.guard.signum
        # A signal that a library turned into an error of its own (a store's commit, say)
        # interrupted those trials: they stay unfinished, for settle() to queue again.
        cut = [end for end in ended if signum is not None and end.error is not None]
        error: BaseException | None = None
        for end in ended:
            if any(end is other for other in cut):
                continue
            self.culprits = {end.trial.number}
            if self._tell(end) and error is None:
                error = end.error
            self.culprits = set()
        if cut:
            raise Interrupted(signum) from cut[0].error
        if error is not None:
            raise error

    def _tell(self, end: Ended) -> bool:
        """Record ``end`` on the study and run the callbacks; whether it was recorded here."""
        trial = end.trial
        if self._stored(trial.number).state.is_finished():
            # Our trial missed its heartbeat (an overloaded machine, a paused VM), so another
            # worker failed it and queued it again; that worker's run is the one that counts.
            _logger.warning(
                "trial %d missed its heartbeat and was queued again elsewhere; dropped its result "
                "here",
                trial.number,
            )
            del self.asked[trial.number]
            self.tally.taken_over += 1
            return False
        state, values = end.state, end.values
        if end.error is not None:
            trial.set_user_attr(FAIL_REASON, _reason(end.error))
        elif state == TrialState.COMPLETE and _has_nan(values):
            state, values = TrialState.FAIL, None  # training diverged: its fail_reason says why
        frozen = self.study.tell(trial, values, state=state, skip_if_finished=True)
        del self.asked[trial.number]
        self.tally.run += 1
        self.tally.failed += frozen.state == TrialState.FAIL
        _log_end(frozen)
        for callback in self.callbacks:
            callback(self.study, frozen)
        return True

    def settle(self, exc: BaseException) -> None:
        """Inside ``except``: end every trial asked and not told; the trials ``exc`` came from
        fail, the others are queued again with their parameters (all of them on a signal)."""
        self.lock.release()  # re-queueing takes the lock itself
        signum = exc.signum if isinstance(exc, Interrupted) else self.guard.signum
        interrupted = interrupted_reason(Interrupted(signum).signal_name) if signum else None
        stopped = f"the run stopped ({_reason(exc)}); queued again with the same parameters"
        for number in list(self.asked):
            for attempt in range(_SETTLE_ATTEMPTS):
                try:
                    if interrupted is None and number in self.culprits:
                        self._fail(number, _reason(exc))
                    else:
                        requeue_trial(self.study, self.storage, number, interrupted or stopped)
                    break
                except Exception as cleanup:  # a store that hiccuped: try again
                    if attempt == _SETTLE_ATTEMPTS - 1:  # down: its heartbeat stops instead
                        _logger.warning("could not record the end of trial %d: %s", number, cleanup)
                    else:
                        time.sleep(0.2)
            del self.asked[number]

    def _fail(self, number: int, reason: str) -> None:
        trial = self._stored(number)
        if trial.state == TrialState.RUNNING:
            with contextlib.suppress(optuna.exceptions.UpdateFinishedTrialError):
                self.storage.set_trial_user_attr(trial_id(trial), FAIL_REASON, reason)
                self.storage.set_trial_state_values(trial_id(trial), TrialState.FAIL)

    def _stored(self, number: int) -> FrozenTrial:
        """Trial ``number`` as the store holds it now."""
        storage = self.storage
        return storage.get_trial(
            storage.get_trial_id_from_study_id_trial_number(self.study_id, number)
        )


def _has_nan(values: float | Sequence[float] | None) -> bool:
    items = values if isinstance(values, Sequence) else [values]
    return any(v is None or math.isnan(float(v)) for v in items)


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {first_line(exc)}"


def _log_end(trial: FrozenTrial) -> None:
    if trial.state == TrialState.COMPLETE:
        _logger.info("trial %d finished with value %s", trial.number, trial.values)
    else:
        _logger.info("trial %d %s", trial.number, trial.state.name.lower())


@contextlib.contextmanager
def _heartbeats(
    storage: optuna.storages.RDBStorage, trials: dict[int, optuna.Trial]
) -> Iterator[None]:
    """Record a heartbeat for every trial in ``trials``, every heartbeat interval."""
    interval = storage.get_heartbeat_interval()
    if not interval:
        yield
        return
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(interval):
            # A trial that just ended, or a store that hiccuped: the next beat will do.
            with contextlib.suppress(Exception):
                for trial in list(trials.values()):
                    with contextlib.suppress(Exception):
                        storage.record_heartbeat(trial_id(trial))

    thread = threading.Thread(target=beat, name="tuner-heartbeats", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
