"""Local worker processes sharing one store, followed from the parent.

:func:`run_local_workers` starts K processes (spawned, so each initialises its own Keras backend)
on the same store, gives each ``cores / K`` threads and, where there are GPUs, its own GPU,
and follows the study in the store for one combined progress display. Each process joins the
study and runs the exact-budget loop (:mod:`tuner.run.budget`); SIGINT/SIGTERM in the parent
is passed on to every worker, which records its running trial as failed and queues it again.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import logging
import multiprocessing
import os
import pickle
import signal
import time
from collections.abc import Callable, Sequence
from typing import Any

import optuna
from optuna.trial import TrialState

from tuner.errors import Interrupted, TunerError
from tuner.ml.backend import DEFAULT_BACKEND, visible_gpus, worker_env
from tuner.run.budget import TrialCallback, study_budget
from tuner.run.child import WorkerSpec, worker_main
from tuner.run.signals import SignalGuard
from tuner.storage import scrub
from tuner.studies import FINISHED

_logger = logging.getLogger("tuner.run.local")

#: Seconds a stopping worker gets to record its trial before it is killed.
STOP_GRACE = 30.0


def _child_env(threads: int, gpu: str | None, backend: str = DEFAULT_BACKEND) -> dict[str, str]:
    """Environment for one worker process, read by the Keras backend and the BLAS libraries at
    start."""
    return worker_env(backend, threads, gpu)


def worker_devices(
    workers: int, threads_per_worker: int | None = None
) -> list[tuple[int, str | None]]:
    """(threads, GPU id or None) of each local worker: the GPUs in turn, several workers per GPU
    when there are more workers than GPUs; the cores divided among the workers."""
    threads = threads_per_worker or max(1, _cores() // workers)
    gpus = visible_gpus()
    return [(threads, gpus[i % len(gpus)] if gpus else None) for i in range(workers)]


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def run_local_workers(
    study: optuna.Study,
    *,
    join: Callable[..., Any],
    workers: int,
    storage_url: str,
    data_dir: str | None,
    timeout: float | None,
    verbose: bool,
    threads_per_worker: int | None,
    callbacks: Sequence[TrialCallback],
    poll: float,
    backend: str = DEFAULT_BACKEND,
    on_epoch: Callable[[int, int, int, float], None] | None = None,
    max_epochs: int = 0,
) -> None:
    """Run ``workers`` processes that each call ``join`` on ``study`` until its budget is met.

    ``join`` is a module-level function (it is pickled by name) with the signature of
    :func:`tuner.run.runner.join_study`. ``callbacks`` run here for every trial that ends in
    the study, whichever worker ran it. Raises :class:`TunerError` if a worker fails and
    :class:`Interrupted` on SIGINT/SIGTERM, after stopping every worker. ``on_epoch``
    (``trial_number, epoch, max_epochs, value``) is called here when a running trial reports
    a new epoch to the store.
    """
    seen = {t.number for t in study.get_trials(deepcopy=False) if t.state.is_finished()}
    target = pickle.dumps(join)
    specs = [
        WorkerSpec(
            i,
            study.study_name,
            storage_url,
            data_dir,
            timeout,
            verbose,
            threads,
            tuple(_child_env(threads, gpu, backend).items()),
            target,
        )
        for i, (threads, gpu) in enumerate(worker_devices(workers, threads_per_worker))
    ]
    watch = (
        None
        if on_epoch is None
        else functools.partial(_report_epochs, study, on_epoch, max_epochs, {})
    )
    _supervise(study, specs, callbacks, seen, poll, watch=watch)


def _start(ctx: Any, spec: WorkerSpec, errors: Any) -> Any:
    process = ctx.Process(
        target=worker_main, args=(spec, errors), name=f"tuner-worker-{spec.index}", daemon=False
    )
    process.start()
    return process


def _supervise(
    study: optuna.Study,
    specs: list[WorkerSpec],
    callbacks: Sequence[TrialCallback],
    seen: set[int],
    poll: float,
    watch: Callable[[], None] | None = None,
) -> None:
    """Start the workers, follow the store until they end, stop them all on a signal or error."""
    ctx = multiprocessing.get_context("spawn")
    errors = ctx.Queue()
    processes: list[Any] = []
    with SignalGuard() as guard:
        try:
            for spec in specs:
                guard.check()
                processes.append(_start(ctx, spec, errors))
            failure: tuple[int, str] | None = None
            while any(p.is_alive() for p in processes):
                guard.check()
                # No failing of lost trials here: the workers do it under the study lock, so
                # that a lost trial is queued again exactly once.
                _report(study, seen, callbacks)
                if watch is not None:
                    watch()
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
            raise TunerError(scrub(failure[1], specs[failure[0]].storage))
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


def _report_epochs(
    study: optuna.Study,
    on_epoch: Callable[[int, int, int, float], None],
    max_epochs: int,
    shown: dict[int, int],
) -> None:
    """Call ``on_epoch`` for each running trial whose latest reported epoch is new since the last
    look."""
    try:
        running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    except Exception:  # the store hiccupped; the next poll looks again
        return
    for trial in sorted(running, key=lambda t: t.number):
        if trial.intermediate_values:
            step = max(trial.intermediate_values)  # Optuna's Keras callback reports epoch index
            if shown.get(trial.number) != step:
                shown[trial.number] = step
                on_epoch(trial.number, step + 1, max_epochs, trial.intermediate_values[step])


def _check_exits(study: optuna.Study, processes: list[Any], specs: list[WorkerSpec]) -> None:
    """All workers ended: fine if the budget is met (a killed worker's trial was re-run)."""
    lost = []
    for p, spec in zip(processes, specs, strict=True):
        if p.exitcode is not None and p.exitcode < 0:
            lost.append(
                f"worker {spec.index} (pid {p.pid}) was killed by "
                f"{signal.Signals(-p.exitcode).name}"
            )
        elif p.exitcode not in (0, None):
            lost.append(f"worker {spec.index} (pid {p.pid}) exited with code {p.exitcode}")
    if not lost:
        return
    budget = study_budget(study, 0)
    finished = len(study.get_trials(deepcopy=False, states=FINISHED))
    if finished >= budget:
        _logger.warning("%s; the other workers re-ran its trial", "; ".join(lost))
        return
    raise TunerError(
        f"{'; '.join(lost)}; the study holds {finished} of {budget} finished trials. Run the same "
        "command again to resume"
    )
