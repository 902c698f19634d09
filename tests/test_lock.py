"""The study lock: waits that an interrupt ends, one count query, re-queueing exactly once,
and stores without a lock refused."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import threading
import time

import optuna
import pytest
from optuna.trial import TrialState

from tuner.errors import StorageError
from tuner.keys import BUDGET_ATTR, FAIL_REASON
from tuner.run.budget import next_step, requeue_trial
from tuner.run.signals import SignalGuard
from tuner.run.trial_loop import run_trials
from tuner.storage import StudyLock, check_lockable, open_storage
from tuner.storage.optuna_compat import trial_id

pytestmark = pytest.mark.filterwarnings("ignore:Heartbeat of storage:UserWarning")

#: A process that waits for the study lock the way a worker does (with the signal guard's
#: sleep), saying "waiting" first; it exits with the interrupt's code.
WAITER = textwrap.dedent(
    """
    import sys
    from tuner.errors import Interrupted
    from tuner.run.signals import SignalGuard
    from tuner.storage import StudyLock, open_storage

    storage = open_storage(sys.argv[1])
    study_id = storage.get_study_id_from_name("s")
    with SignalGuard() as guard:
        lock = StudyLock(storage, study_id, sleep=guard.sleep)
        print("waiting", flush=True)
        try:
            lock.acquire()
        except Interrupted as exc:
            print("interrupted", flush=True)
            sys.exit(exc.exit_code)
    print("got the lock", flush=True)
    """
)


def _interrupt_a_waiter(url: str) -> None:
    """Hold the lock here; a waiting process ends on SIGINT although the lock is never freed."""
    storage = open_storage(url)
    optuna.create_study(study_name="s", storage=storage)
    held = StudyLock(storage, storage.get_study_id_from_name("s"))
    held.acquire()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-c", WAITER, url], stdout=subprocess.PIPE, text=True
        )
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "waiting"
        proc.send_signal(signal.SIGINT)
        try:  # a generous bound: the wait ends within a few milliseconds of the signal
            out, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise AssertionError("a lock wait ignored SIGINT") from None
        assert (proc.returncode, out.strip()) == (130, "interrupted")
    finally:
        held.release()


def test_sigint_ends_a_wait_for_the_sqlite_lock(store: str) -> None:
    _interrupt_a_waiter(store)


@pytest.mark.postgres
def test_sigint_ends_a_wait_for_the_postgresql_lock(pg_url: str) -> None:
    _interrupt_a_waiter(pg_url)


def test_a_lock_freed_meanwhile_is_taken_and_counted(store: str) -> None:
    storage = open_storage(store)
    optuna.create_study(study_name="s", storage=storage)
    study_id = storage.get_study_id_from_name("s")
    first, second = StudyLock(storage, study_id), StudyLock(storage, study_id)
    first.acquire()
    threading.Timer(0.2, first.release).start()
    second.acquire()  # tries again until the first holder lets go
    assert second.held and not first.held
    second.release()
    second.release()  # releasing twice is harmless
    assert (second.stats.holds, first.stats.holds) == (1, 1)
    assert second.stats.wait_seconds > 0 and second.stats.hold_seconds >= 0


def test_a_store_without_a_lock_is_refused_before_any_trial() -> None:
    storage = optuna.storages.InMemoryStorage()
    study = optuna.create_study(storage=storage)
    message = (
        r"^the store \(InMemoryStorage\) has no study lock, so workers could start more trials "
        r"than the budget; use a sqlite, postgresql, mysql storage URL$"
    )
    with pytest.raises(StorageError, match=message):
        check_lockable(storage)
    with SignalGuard() as guard, pytest.raises(StorageError, match=message):
        run_trials(study, lambda t: 0.0, storage=storage, default_budget=3, guard=guard)
    assert study.trials == []


def test_the_budget_is_counted_without_reading_the_trials(store: str) -> None:
    storage = open_storage(store)
    study = optuna.create_study(study_name="s", storage=storage)
    study.set_user_attr(BUDGET_ATTR, 3)
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    study.ask()  # one running: three started of three
    lock = StudyLock(storage, storage.get_study_id_from_name("s"))

    def no_reads(*args: object, **kwargs: object) -> None:
        raise AssertionError("next_step read the trials")

    storage.get_all_trials = no_reads  # type: ignore[method-assign]
    lock.acquire()
    assert next_step(study, lock, 3) == "wait" and not lock.held
    study.set_user_attr(BUDGET_ATTR, 4)
    lock.acquire()
    assert next_step(study, lock, 3) == "start" and lock.held
    lock.release()
    study.set_user_attr(BUDGET_ATTR, 2)
    lock.acquire()
    assert next_step(study, lock, 3) == "done" and not lock.held


def test_two_writers_requeue_one_interrupted_trial_once(store: str) -> None:
    storage = open_storage(store)
    study = optuna.create_study(study_name="s", storage=storage)
    trial = study.ask()
    trial.suggest_float("x", 0.0, 1.0)
    results: list[bool] = []
    barrier = threading.Barrier(2)

    def requeue() -> None:
        barrier.wait()
        results.append(requeue_trial(study, storage, trial.number, "interrupted by SIGTERM"))

    threads = [threading.Thread(target=requeue) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False, True]
    failed, retry = study.get_trials()
    assert failed.state == TrialState.FAIL and failed.user_attrs[FAIL_REASON].startswith("inter")
    assert retry.state == TrialState.WAITING and retry.params == failed.params
    assert retry.system_attrs["retry_history"] == [failed.number]


def test_the_workers_parent_leaves_lost_trials_to_the_workers(store: str) -> None:
    """Failing a lost trial happens under the study lock, in a worker; the parent of
    ``--workers`` only watches (here its one worker fails at once, before any trial)."""
    from procs import run_echo_worker

    from tuner.errors import TunerError

    storage = open_storage(store, heartbeat_interval=1, grace_period=1)
    study = optuna.create_study(study_name="probe", storage=storage)
    lost = study.ask()
    storage.record_heartbeat(trial_id(lost))
    time.sleep(2.5)  # its heartbeat is stale now
    with pytest.raises(TunerError, match="^probe: OMP_NUM_THREADS=1"):
        run_echo_worker(study, store)
    assert [t.state for t in study.get_trials()] == [TrialState.RUNNING]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "grpc://localhost:13000",
            "grpc:// stores (Optuna's storage proxy) are not supported: the proxy cannot hold "
            "the study lock, so workers could start more trials than the budget; give the "
            "database's URL (for many workers, through PgBouncer)",
        ),
        (
            "mssql+pymssql://u@nowhere/db",
            "the store (mssql) has no study lock, so workers could start more trials than the "
            "budget; use a sqlite, postgresql, mysql storage URL",
        ),
    ],
)
def test_tuner_run_refuses_a_store_without_a_lock_in_one_line(
    make_study, url: str, message: str
) -> None:
    from click.testing import CliRunner

    from tuner.cli import cli

    result = CliRunner().invoke(cli, ["run", "--study", str(make_study()), "--storage", url])
    assert result.exit_code == 1
    assert result.output.strip() == f"Error: {message}"
