"""Workers sharing one store: the per-process trial loop, and local multi-process runs.

**Exact budgets.** A study's budget is its total of *finished* trials (complete + pruned),
stored on the study. Optuna's ``MaxTrialsCallback`` alone stops a worker only *after* a trial
ends, so K workers that each start "one more" overshoot by up to K - 1. Here every worker, before
each trial, takes the study's lock (:class:`~tuner.storage.StudyLock`), fails trials whose
heartbeat stopped (Optuna re-queues them with the same parameters), counts finished + running
trials and starts a trial only if that count is below the budget; the lock is released as soon
as the new trial is in the store, so the next worker counts it. When the budget is taken but
not yet finished (the last trials are still running) a worker waits: if one of those trials
fails or its worker dies, it takes over.

**Signals.** SIGINT and SIGTERM stop a worker cleanly: a running trial is recorded as failed
(with the reason) and queued again with the same parameters, and the process exits with
130 / 143. A signal that arrives while the store is being written is held until the write is
done. SIGKILL cannot be caught: the trial's heartbeat stops, and the next worker to look fails
and re-queues it after the grace period.

**Local workers.** :func:`run_workers` starts K processes (spawned, so each initialises its own
TensorFlow) on the same store, gives each ``cores / K`` TensorFlow threads and, where there
are GPUs, its own GPU, and follows the study in the store for one combined progress display.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import multiprocessing
import os
import signal
import socket
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna
from optuna.trial import FrozenTrial, TrialState

from tuner.errors import ConfigError, Interrupted, TunerError, first_line
from tuner.keys import BUDGET_ATTR
from tuner.storage import StudyLock, scrub

if TYPE_CHECKING:
    from tuner.config.schema import StudyConfig
    from tuner.studies import RunResult

_logger = logging.getLogger("tuner.run.local")

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
#: Trial user attribute naming the worker (host:pid) that ran the trial.
WORKER_ATTR = "worker"
#: Seconds a stopping worker gets to record its trial before it is killed.
STOP_GRACE = 30.0

TrialCallback = Callable[[optuna.Study, FrozenTrial], None]


def worker_id() -> str:
    """This process, as recorded on the trials it runs: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


# --------------------------------------------------------------------------- signals


class SignalGuard:
    """Turns SIGINT/SIGTERM into :class:`~tuner.errors.Interrupted`, but only where it is safe.

    Inside :meth:`raising` (training a model, waiting for other workers) the signal raises at
    once; elsewhere (talking to the store) it is remembered and :meth:`check` raises it at the
    next safe point. Later signals are ignored: the first one is already being handled.
    Outside the main thread (where Python cannot install handlers) it does nothing.
    """

    def __init__(self) -> None:
        self.signum: int | None = None
        self._raisable = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> SignalGuard:
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    def _handle(self, signum: int, frame: Any) -> None:
        if self.signum is not None:
            return
        self.signum = signum
        if self._raisable:
            self._raisable = False
            raise Interrupted(signum)

    def check(self) -> None:
        """Raise :class:`Interrupted` if a signal has arrived."""
        if self.signum is not None:
            raise Interrupted(self.signum)

    @contextlib.contextmanager
    def raising(self) -> Iterator[None]:
        """A block that a signal may interrupt at any point."""
        self.check()
        self._raisable = True
        try:
            yield
        finally:
            self._raisable = False

    def sleep(self, seconds: float) -> None:
        with self.raising():
            time.sleep(seconds)


# --------------------------------------------------------------------------- the budget


def study_budget(study: optuna.Study, default: int) -> int:
    """The study's budget as stored (``tuner run --trials`` / ``tuner worker --trials``)."""
    value = study.user_attrs.get(BUDGET_ATTR)
    return int(value) if value is not None else default


def _fail_stale_trials(study: optuna.Study) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)


@dataclass
class Tally:
    """What one worker's loop did."""

    run: int = 0  # trials this worker started and Optuna recorded (complete, pruned or failed)
    failed: int = 0  # of those, failed (e.g. diverged training)
    taken_over: int = 0  # trials that missed their heartbeat, were re-queued, and were dropped here


class _Slot:
    """The trial this worker is starting; releases the study lock once Optuna created it."""

    def __init__(self, lock: StudyLock, guard: SignalGuard, objective: Callable[[optuna.Trial], float]):
        self.lock = lock
        self.guard = guard
        self.objective = objective
        self.number: int | None = None
        self.returned = False  # the objective ended normally (so any FAIL was not ours)
        self.refused = False  # the store refused a write: the trial was failed elsewhere

    def __call__(self, trial: optuna.Trial) -> float:
        self.lock.release()  # the trial is RUNNING in the store: other workers count it now
        self.number = trial.number
        try:
            self.guard.check()
            trial.set_user_attr(WORKER_ATTR, worker_id())
            with self.guard.raising():
                value = self.objective(trial)
            self.returned = True
            return value
        except optuna.exceptions.UpdateFinishedTrialError:
            self.refused = True
            raise
        except Interrupted as exc:
            trial.set_user_attr("fail_reason", f"interrupted by {exc.signal_name}; queued again with the same parameters")
            raise


def run_trials(
    study: optuna.Study,
    objective: Callable[[optuna.Trial], float],
    *,
    storage: optuna.storages.RDBStorage,
    default_budget: int,
    guard: SignalGuard,
    timeout: float | None = None,
    callbacks: Sequence[TrialCallback] = (),
    stop: Callable[[], bool] | None = None,
    poll: float | None = None,
) -> Tally:
    """Run trials of ``study`` until it holds its budget of finished trials (see module doc).

    ``stop`` is asked after each trial; ``timeout`` (seconds) stops starting new trials.
    Raises :class:`~tuner.errors.Interrupted` on SIGINT/SIGTERM, after the running trial has
    been recorded as failed and queued again.
    """
    lock = StudyLock(storage, study._study_id)
    interval = storage.get_heartbeat_interval() or 5
    poll = poll if poll is not None else min(5.0, max(0.5, interval / 2))
    started = time.monotonic()
    tally = Tally()
    while True:
        guard.check()
        if timeout is not None and time.monotonic() - started >= timeout:
            break
        if stop is not None and stop():
            break
        lock.acquire()
        try:
            _fail_stale_trials(study)
            budget = study_budget(study, default_budget)
            counted = study.get_trials(deepcopy=False, states=(*FINISHED, TrialState.RUNNING))
            finished = sum(t.state in FINISHED for t in counted)
        except BaseException:
            lock.release()
            raise
        if finished >= budget:
            lock.release()
            break
        if len(counted) >= budget:  # the rest of the budget is running elsewhere: stand by
            lock.release()
            _logger.info("study '%s': %d of %d finished, the rest running; waiting", study.study_name, finished, budget)
            guard.sleep(poll)
            continue
        slot = _Slot(lock, guard, objective)  # the lock stays held until Optuna created the trial
        try:
            study.optimize(slot, n_trials=1, callbacks=list(callbacks), gc_after_trial=False)
        except Interrupted:
            if slot.number is not None:
                _requeue(study, storage, slot.number)
            raise
        except Exception:
            # Our trial missed its heartbeat (an overloaded machine, a paused VM), so another
            # worker failed it and queued it again; that worker's run is the one that counts.
            # Optuna then refuses our intermediate report or our result (the error it raises
            # for that varies), and the trial is FAIL although our objective did not fail.
            taken_over = slot.returned or slot.refused
            if not taken_over or slot.number is None or _state_of(study, slot.number) != TrialState.FAIL:
                raise
            _logger.warning("trial %d missed its heartbeat and was queued again elsewhere; dropped its result here", slot.number)
            tally.taken_over += 1
            continue
        finally:
            lock.release()
        tally.run += 1
        if slot.number is not None and _state_of(study, slot.number) == TrialState.FAIL:
            tally.failed += 1
    return tally


def _state_of(study: optuna.Study, number: int) -> TrialState | None:
    for t in study.get_trials(deepcopy=False):
        if t.number == number:
            return t.state
    return None


def _requeue(study: optuna.Study, storage: optuna.storages.RDBStorage, number: int) -> None:
    """Queue an interrupted trial again with the same parameters, as Optuna does for lost ones."""
    retry = storage.get_heartbeat_stale_trial_callback()
    trial = next((t for t in study.get_trials(deepcopy=True) if t.number == number), None)
    if retry is None or trial is None or trial.state != TrialState.FAIL:
        return
    clean = copy.copy(trial)
    clean.user_attrs = {k: v for k, v in trial.user_attrs.items() if k != "fail_reason"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        retry(study, clean)


def sampler_seed(base_seed: int, n_stored: int, worker_index: int | None) -> int:
    """The sampler's seed for one worker: differs per worker, and per resume.

    Worker 0 of a single-process run keeps the plain ``base + 7919 * stored`` formula, so that
    a one-process study is reproducible; other workers add their index; a worker without an
    index (``tuner worker`` on some machine) draws a random one.
    """
    if worker_index is None:
        worker_index = int.from_bytes(os.urandom(4), "little")
    return (base_seed + 7_919 * n_stored + 104_729 * worker_index) % (2**31 - 1)


# --------------------------------------------------------------------------- local processes


@dataclass(frozen=True)
class _WorkerSpec:
    index: int
    study_name: str
    storage: str
    data_dir: str | None
    timeout: float | None
    verbose: bool
    threads: int


def _child_env(threads: int, gpu: str | None) -> dict[str, str]:
    """Environment for one worker process, read by TensorFlow and the BLAS libraries at start."""
    env = {
        "TF_NUM_INTRAOP_THREADS": str(threads),
        "TF_NUM_INTEROP_THREADS": "1",
        "OMP_NUM_THREADS": str(threads),
        "OPENBLAS_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
    }
    if gpu is not None:
        env["CUDA_VISIBLE_DEVICES"] = gpu
        env["TF_FORCE_GPU_ALLOW_GROWTH"] = "true"  # several workers may share one GPU
    return env


def visible_gpus() -> list[str]:
    """CUDA device ids TensorFlow can use here (honouring ``$CUDA_VISIBLE_DEVICES``)."""
    listed = os.environ.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        return [d.strip() for d in listed.split(",") if d.strip() and d.strip() != "-1"]
    if not any(Path("/dev").glob("nvidia[0-9]*")):
        return []  # no NVIDIA device: do not pay for importing TensorFlow to learn that
    from tuner.ml.backend import load_keras

    load_keras()
    import tensorflow as tf

    return [str(i) for i in range(len(tf.config.list_physical_devices("GPU")))]


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class _StopEarly:
    """Signal handler while a worker starts (before it runs trials): stop, once."""

    def __init__(self) -> None:
        self.signum: int | None = None

    def __call__(self, signum: int, frame: Any) -> None:
        if self.signum is None:
            self.signum = signum
            raise Interrupted(signum)


def _worker_main(spec: _WorkerSpec, errors: Any) -> None:
    """Entry point of one spawned worker process; its exit code tells the parent how it ended."""
    early = _StopEarly()
    signal.signal(signal.SIGINT, early)
    signal.signal(signal.SIGTERM, early)
    try:
        from tuner.ml.backend import load_keras

        load_keras()
        import tensorflow as tf

        # The environment already says so; the API makes sure, before TensorFlow's first op.
        tf.config.threading.set_intra_op_parallelism_threads(spec.threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
        from tuner.run.runner import join_study

        join_study(spec.study_name, storage=spec.storage, data_dir=spec.data_dir, timeout=spec.timeout, verbose=spec.verbose, worker_index=spec.index)
    except Interrupted as exc:
        raise SystemExit(exc.exit_code) from None
    except TunerError as exc:
        errors.put((spec.index, str(exc)))
        raise SystemExit(1) from None
    except Exception as exc:  # a bug: report it in one line, as the CLI would
        errors.put((spec.index, scrub(f"unexpected {type(exc).__name__}: {first_line(exc, default='')}", spec.storage)))
        raise SystemExit(1) from None


def run_workers(
    study: str | os.PathLike[str] | StudyConfig,
    *,
    workers: int,
    storage: str | None = None,
    trials: int | None = None,
    timeout: float | None = None,
    max_epochs: int | None = None,
    seed: int | None = None,
    sampler: str | None = None,
    pruner: str | None = None,
    data_dir: str | os.PathLike[str] | None = None,
    verbose: bool = False,
    callbacks: Sequence[TrialCallback] = (),
    threads_per_worker: int | None = None,
    poll: float = 1.0,
) -> RunResult:
    """Run ``study`` with ``workers`` local processes on one store until its budget is met.

    Arguments are those of :func:`tuner.runner.run_study`. ``callbacks`` run in this process
    for every trial that ends in the study (whichever worker ran it). ``threads_per_worker``
    defaults to the machine's cores divided among the workers. ``workers=1`` runs in this
    process, unless ``threads_per_worker`` is given (TensorFlow's threads are fixed once it
    has started, so capping them needs a fresh process).
    """
    from tuner.run import runner

    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"--workers must be a whole number of processes, at least 1; got {workers!r}")
    if threads_per_worker is not None and threads_per_worker < 1:
        raise ConfigError(f"threads_per_worker must be at least 1, got {threads_per_worker}")
    overrides = dict(trials=trials, timeout=timeout, max_epochs=max_epochs, seed=seed, sampler=sampler, pruner=pruner)
    if workers == 1 and threads_per_worker is None:
        return runner.run_study(study, storage=storage, data_dir=data_dir, verbose=verbose, callbacks=list(callbacks), **overrides)

    config, _splits, storage_url, _rdb, study_obj = runner.prepare_study(study, storage=storage, data_dir=data_dir, verbose=verbose, **overrides)
    started = time.monotonic()
    seen = {t.number for t in study_obj.get_trials(deepcopy=False) if t.state.is_finished()}
    n_before = len(study_obj.get_trials(deepcopy=False))
    if len(study_obj.get_trials(deepcopy=False, states=FINISHED)) < config.search.trials:
        threads = threads_per_worker or max(1, _cores() // workers)
        gpus = visible_gpus()
        specs = [_WorkerSpec(i, config.name, storage_url, None if data_dir is None else str(data_dir), config.search.timeout, verbose, threads) for i in range(workers)]
        _supervise(study_obj, specs, gpus, callbacks, seen, poll)
    return runner.summarize(study_obj, storage_url=storage_url, seconds=time.monotonic() - started, trials_run=len(study_obj.get_trials(deepcopy=False)) - n_before)


def _start(ctx: Any, spec: _WorkerSpec, gpu: str | None, errors: Any) -> Any:
    process = ctx.Process(target=_worker_main, args=(spec, errors), name=f"tuner-worker-{spec.index}", daemon=False)
    saved = dict(os.environ)
    os.environ.update(_child_env(spec.threads, gpu))  # a spawned child starts with this environment
    try:
        process.start()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return process


def _supervise(study: optuna.Study, specs: list[_WorkerSpec], gpus: list[str], callbacks: Sequence[TrialCallback], seen: set[int], poll: float) -> None:
    """Start the workers, follow the store until they end, stop them all on a signal or error."""
    ctx = multiprocessing.get_context("spawn")
    errors = ctx.Queue()
    processes: list[Any] = []
    with SignalGuard() as guard:
        try:
            for spec in specs:
                guard.check()
                processes.append(_start(ctx, spec, gpus[spec.index % len(gpus)] if gpus else None, errors))
            failure: tuple[int, str] | None = None
            while any(p.is_alive() for p in processes):
                guard.check()
                with contextlib.suppress(Exception):  # notice a dead worker's trial within a poll
                    _fail_stale_trials(study)
                _report(study, seen, callbacks)
                with contextlib.suppress(Exception):
                    failure = failure or errors.get_nowait()
                if failure is not None:
                    break
                time.sleep(poll)
            _report(study, seen, callbacks)
            if failure is None and any(p.exitcode not in (0, None) for p in processes):
                with contextlib.suppress(Exception):  # a worker that failed said why
                    failure = errors.get(timeout=0.5)
        except Interrupted as exc:
            _stop(processes, exc.signum)
            raise
        if failure is not None:
            _stop(processes, signal.SIGTERM)
            raise TunerError(failure[1])
    _check_exits(study, processes, specs)


def _stop(processes: list[Any], signum: int) -> None:
    """Ask the workers to stop (each records its running trial as failed), then make sure.

    On Ctrl-C the terminal has signalled every worker already; they ignore the second signal.
    """
    for p in processes:
        if p.is_alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(p.pid, signum)
    deadline = time.monotonic() + STOP_GRACE
    for p in processes:
        p.join(max(0.0, deadline - time.monotonic()))
    for p in processes:
        if p.is_alive():  # stuck: its trial's heartbeat stops and another run re-queues it
            p.kill()
            p.join()


def _report(study: optuna.Study, seen: set[int], callbacks: Sequence[TrialCallback]) -> None:
    """Call ``callbacks`` for trials that ended since the last look."""
    try:
        trials = study.get_trials(deepcopy=False, states=(*FINISHED, TrialState.FAIL))
    except Exception:  # the store hiccupped; the workers will say so if it persists
        return
    for trial in sorted(trials, key=lambda t: t.number):
        if trial.number not in seen:
            seen.add(trial.number)
            for callback in callbacks:
                callback(study, copy.deepcopy(trial))


def _check_exits(study: optuna.Study, processes: list[Any], specs: list[_WorkerSpec]) -> None:
    """All workers ended: fine if the budget is met (a killed worker's trial was re-run)."""
    lost = []
    for p, spec in zip(processes, specs, strict=True):
        if p.exitcode is not None and p.exitcode < 0:
            lost.append(f"worker {spec.index} (pid {p.pid}) was killed by {signal.Signals(-p.exitcode).name}")
        elif p.exitcode not in (0, None):
            lost.append(f"worker {spec.index} (pid {p.pid}) exited with code {p.exitcode}")
    if not lost:
        return
    budget = study_budget(study, 0)
    finished = len(study.get_trials(deepcopy=False, states=FINISHED))
    if finished >= budget:
        _logger.warning("%s; the other workers re-ran its trial", "; ".join(lost))
        return
    raise TunerError(f"{'; '.join(lost)}; the study holds {finished} of {budget} finished trials. Run the same command again to resume")
