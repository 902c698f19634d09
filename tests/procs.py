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

#: Short heartbeats, so that a killed worker's trial is noticed within seconds; no saved models
#: (these tests are about workers, and every saved model costs time).
WORKER_ENV = {"TUNER_HEARTBEAT_INTERVAL": "1", "TUNER_GRACE_PERIOD": "3", "TUNER_ARTIFACTS": "off"}


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
