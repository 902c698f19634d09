"""Helpers for tests that run ``tuner`` in real processes and watch the store meanwhile."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any, TypeVar

import optuna
from optuna.trial import FrozenTrial, TrialState

from tuner.keys import N_PARAMS, WORKER

T = TypeVar("T")

#: Heartbeats every second (waiting workers look again every half second) but a long grace
#: period: on a loaded machine a live worker's heartbeat can be late by several seconds, and a
#: short grace would fail its trial as lost. A test that kills a worker and waits for its trial
#: to be queued again sets :data:`CRASH_GRACE` itself. No saved models (these tests are about
#: workers, and every saved model costs time).
WORKER_ENV = {"TUNER_HEARTBEAT_INTERVAL": "1", "TUNER_GRACE_PERIOD": "60", "TUNER_ARTIFACTS": "off"}
#: The grace period of a test whose only other worker was killed: no live worker can then be
#: failed as lost, however late its heartbeat.
CRASH_GRACE = "10"


def echo_threads(study_name: str, **kwargs: Any) -> None:
    """Stands in for ``join_study`` in a spawned worker: fails, naming the thread settings it has.

    NumPy is loaded by now (TensorFlow imports it); its BLAS read the environment then.
    """
    from threadpoolctl import threadpool_info

    from tuner.errors import TunerError

    blas = sorted({info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"})
    raise TunerError(
        f"{study_name}: OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}, BLAS threads {blas}"
    )


def run_echo_worker(study: optuna.Study, storage: str) -> None:
    """``study`` with one local worker process whose stand-in for ``join_study`` is
    :func:`echo_threads`: it raises :class:`~tuner.errors.TunerError` naming what it saw."""
    from tuner.run.local import run_local_workers

    run_local_workers(
        study,
        join=echo_threads,
        workers=1,
        storage_url=storage,
        data_dir=None,
        timeout=None,
        verbose=False,
        threads_per_worker=1,
        callbacks=(),
        poll=0.1,
    )


def start(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """``tuner ARGS`` in a new process (output captured)."""
    full_env = {**os.environ, **WORKER_ENV, **(env or {})}
    return subprocess.Popen(
        [sys.executable, "-m", "tuner", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=full_env,
    )


def jax_script(script: str, cwd: Any) -> dict[str, Any]:
    """Run the test file ``script`` as a script on JAX in a fresh process (Keras fixes its backend
    once per process); the JSON it prints last."""
    import json

    env = {**os.environ, "KERAS_BACKEND": "jax", "TUNER_OFFLINE": "1"}
    proc = subprocess.run(
        [sys.executable, script], capture_output=True, text=True, env=env, cwd=cwd, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def finish(proc: subprocess.Popen[str], timeout: float = 600) -> tuple[int, str, str]:
    """Wait for ``proc``; its exit code, stdout and stderr."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"tuner did not finish within {timeout} s; stderr:\n{err}") from None
    return proc.returncode, out, err


def wait_for(
    probe: Callable[[], T | None],
    timeout: float = 300,
    every: float = 0.1,
    what: str = "a condition",
) -> T:
    """Poll ``probe`` until it returns something truthy; that value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = probe()
        except (KeyError, optuna.exceptions.OptunaError):  # the study does not exist yet
            value = None
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")


_STORAGES: dict[str, optuna.storages.RDBStorage] = {}


def _storage(url: str) -> optuna.storages.RDBStorage:
    """One storage (one connection pool) per URL: polling must not open a connection a time."""
    if url not in _STORAGES:
        _STORAGES[url] = optuna.storages.RDBStorage(url)
    return _STORAGES[url]


def trials(storage: str, name: str) -> list[FrozenTrial]:
    return optuna.load_study(study_name=name, storage=_storage(storage)).get_trials(deepcopy=False)


def running_trial(storage: str, name: str, pid: int | None = None) -> FrozenTrial | None:
    """A RUNNING trial that is training (all its parameters drawn: its model size is recorded),
    optionally of process ``pid``."""
    for t in trials(storage, name):
        worker = t.user_attrs.get(WORKER)
        if (
            t.state == TrialState.RUNNING
            and worker
            and N_PARAMS in t.user_attrs
            and (pid is None or worker.endswith(f":{pid}"))
        ):
            return t
    return None


def counts(storage: str, name: str) -> dict[str, Any]:
    out = {state.name: 0 for state in TrialState}
    for t in trials(storage, name):
        out[t.state.name] += 1
    out["finished"] = out["COMPLETE"] + out["PRUNED"]
    return out
