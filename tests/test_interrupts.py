"""Ctrl-C reaches every local worker: no traceback, no interrupt swallowed by Python."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from optuna.trial import TrialState
from procs import WORKER_ENV, counts, finish, running_trial, trials, wait_for

from tuner.keys import FAIL_REASON


def test_ctrl_c_to_two_workers_fails_and_requeues_their_trials_without_a_traceback(
    make_study, store: str
) -> None:
    path = make_study("ctrlc", trials=50, dataset="digits", epochs=15, pruner="none")
    path.write_text(path.read_text().replace("patience = 2", "patience = 15"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "tuner", "run", "--study", str(path), "--storage", store]
        + ["--workers", "2", "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **WORKER_ENV},
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )
    try:
        wait_for(lambda: running_trial(store, "ctrlc"), timeout=240, what="a trial in training")
    except AssertionError:
        os.killpg(proc.pid, signal.SIGKILL)
        raise
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C: the parent and both workers at once
    code, _, err = finish(proc, timeout=240)
    assert code == 130, err
    assert "Traceback" not in err and "Exception ignored" not in err, err
    assert "Interrupted by SIGINT" in err
    c = counts(store, "ctrlc")
    assert c["RUNNING"] == 0 and c["FAIL"] >= 1
    failed = [t for t in trials(store, "ctrlc") if t.state == TrialState.FAIL]
    assert all(t.user_attrs[FAIL_REASON].startswith("interrupted by SIGINT") for t in failed)
    waiting = [t for t in trials(store, "ctrlc") if t.state == TrialState.WAITING]
    assert sorted(t.system_attrs["failed_trial"] for t in waiting) == sorted(
        t.number for t in failed
    )
