"""Ctrl-C reaches every local worker: no traceback, no interrupt swallowed by Python."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from optuna.trial import TrialState
from procs import WORKER_ENV, counts, finish, running_trial, trials, wait_for

from tuner.keys import FAIL_REASON

_WEAKREF_SCRIPT = """
import os, signal, time, weakref
from tuner.errors import Interrupted
from tuner.run.signals import SignalGuard

fired = []

class Thing:
    pass

def callback(ref):  # as WeakKeyDictionary's own remove() callback, run when a key dies
    fired.append(1)
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(0.01)  # the handler runs here, inside the callback

with SignalGuard() as guard:
    try:
        with guard.raising():
            thing = Thing()
            ref = weakref.ref(thing, callback)
            del thing
            for _ in range(600):  # 30 s: a dropped signal lets the block end normally
                time.sleep(0.05)
        print("not interrupted")
    except Interrupted as exc:
        print("interrupted", exc.signum, "fired", len(fired))
"""


def test_a_signal_inside_a_weakref_callback_interrupts_without_a_trace() -> None:
    """Python prints and drops an exception raised in a weakref callback ("Exception ignored
    in: <function WeakKeyDictionary...remove>"): the guard delivers it again, silently."""
    proc = subprocess.run(
        [sys.executable, "-c", _WEAKREF_SCRIPT], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"interrupted {int(signal.SIGINT)} fired 1"
    assert "Exception ignored" not in proc.stderr and "Traceback" not in proc.stderr


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
