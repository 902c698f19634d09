"""Workers on a real PostgreSQL server (a throw-away cluster, see tests/pg.py)."""

from __future__ import annotations

import os
import signal
import threading
import time

import optuna
import pytest
from click.testing import CliRunner
from optuna.trial import TrialState
from procs import CRASH_GRACE, WORKER_ENV, counts, finish, running_trial, start, trials, wait_for

from tuner.cli import cli
from tuner.keys import TRIAL_SEED, WORKER
from tuner.storage import StudyLock, open_storage
from tuner.studies import FINISHED

pytestmark = pytest.mark.postgres


@pytest.fixture(autouse=True)
def _short_heartbeats(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in WORKER_ENV.items():
        monkeypatch.setenv(key, value)


def test_wrong_password_is_refused_without_echoing_it(
    pg_server, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = "Wr0ng-Secret-99"
    url = pg_server.url(password=wrong)
    result = CliRunner().invoke(cli, ["studies", "--storage", url])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        f"Error: the database at 127.0.0.1:{pg_server.port} refused the password for user 'tuner'"
    )
    assert "PGPASSWORD" in lines[0]
    assert wrong not in result.output and "Traceback" not in result.output
    # The same with the password in $PGPASSWORD instead of the URL.
    monkeypatch.setenv("PGPASSWORD", wrong)
    result = CliRunner().invoke(cli, ["studies", "--storage", pg_server.url()])
    assert (
        result.exit_code == 1
        and "refused the password" in result.output
        and wrong not in result.output
    )


def test_missing_password_says_where_to_put_it(
    pg_server, monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "no-pgpass"))
    result = CliRunner().invoke(cli, ["studies", "--storage", pg_server.url()])
    assert result.exit_code == 1
    assert "wants a password for user 'tuner'" in result.output and "~/.pgpass" in result.output


def test_plain_postgresql_urls_use_psycopg_and_the_store_works(pg_url: str) -> None:
    plain = pg_url.replace("postgresql+psycopg://", "postgresql://")
    storage = open_storage(plain)
    assert storage.engine.url.drivername == "postgresql+psycopg"
    assert storage.heartbeat_interval == 1
    assert storage.grace_period == int(WORKER_ENV["TUNER_GRACE_PERIOD"])
    optuna.create_study(study_name="s", storage=storage)
    result = CliRunner().invoke(cli, ["studies", "--storage", plain])
    assert result.exit_code == 0 and result.output.splitlines()[2].startswith("s ")


def test_the_study_lock_excludes_other_holders(pg_url: str) -> None:
    storage = open_storage(pg_url)
    optuna.create_study(study_name="s", storage=storage)
    study_id = storage.get_study_id_from_name("s")
    other = open_storage(pg_url)  # a second engine: another worker's connections
    first = StudyLock(storage, study_id)
    first.acquire()
    got_it = threading.Event()

    def contend() -> None:
        with StudyLock(other, study_id):
            got_it.set()

    thread = threading.Thread(target=contend)
    thread.start()
    try:
        assert not got_it.wait(1.0), "a second holder got the lock while the first held it"
        with StudyLock(other, study_id + 1):  # another study's lock is independent
            pass
    finally:
        first.release()
        first.release()  # releasing twice is harmless
    assert got_it.wait(30)
    thread.join()


@pytest.mark.slow  # three processes; PostgreSQL serves two processes in the test below
def test_two_workers_finish_exactly_the_budget(make_study, pg_url: str) -> None:
    path = make_study("pair", trials=6, epochs=1)
    code, out, err = finish(
        start("run", "--study", str(path), "--storage", pg_url, "--workers", "2", "--quiet")
    )
    assert code == 0, err
    assert "6 finished" in out
    done = trials(pg_url, "pair")
    assert sum(t.state in FINISHED for t in done) == 6
    assert all(t.state in FINISHED for t in done), [(t.number, t.state.name) for t in done]
    assert sorted(t.number for t in done) == list(range(len(done))), (
        "trial numbers are unique and gap-free"
    )
    assert len({t.user_attrs[WORKER] for t in done}) == 2
    assert len({t.user_attrs[TRIAL_SEED] for t in done}) == 6


def test_a_worker_killed_mid_trial_is_recovered_to_exactly_the_budget(
    make_study, pg_url: str
) -> None:
    # A shorter grace, so that the killed trial is queued again soon; a live worker's heartbeat
    # would still have to be late by CRASH_GRACE seconds to be taken for lost.
    grace = {"TUNER_GRACE_PERIOD": CRASH_GRACE}
    budget = 4
    path = make_study("crash", dataset="digits", trials=budget, epochs=15, pruner="none")
    path.write_text(path.read_text().replace("patience = 2", "patience = 15"))
    first = start("run", "--study", str(path), "--storage", pg_url, "--quiet", env=grace)
    wait_for(lambda: trials(pg_url, "crash") is not None, what="the study to be created")
    second = start("worker", "--study", "crash", "--storage", pg_url, "--quiet", env=grace)
    procs = {first.pid: first, second.pid: second}
    victim = wait_for(
        lambda: running_trial(pg_url, "crash"), timeout=180, what="a worker to train a trial"
    )
    owner = procs[int(victim.user_attrs[WORKER].rsplit(":", 1)[1])]
    survivor = second if owner is first else first
    os.kill(owner.pid, signal.SIGKILL)
    killed_at = time.monotonic()
    owner.communicate(timeout=30)
    assert owner.returncode == -signal.SIGKILL
    # Read the victim again now that its worker is dead: a read taken while it was writing may
    # have seen its user attributes but not yet every parameter.
    victim = next(t for t in trials(pg_url, "crash") if t.number == victim.number)

    def requeued():
        return next(
            (
                t
                for t in trials(pg_url, "crash")
                if t.system_attrs.get("failed_trial") == victim.number
            ),
            None,
        )

    retry = wait_for(requeued, timeout=120, every=0.05, what="the killed trial to be queued again")
    requeue_seconds = time.monotonic() - killed_at
    code, _, err = finish(survivor)
    assert code == 0, err

    done = trials(pg_url, "crash")
    c = counts(pg_url, "crash")
    print(
        f"\ncrash test: SIGKILL -> re-queued in {requeue_seconds:.1f} s "
        f"(heartbeat 1 s, grace {CRASH_GRACE} s); final counts {c}"
    )
    assert c["finished"] == budget and c["RUNNING"] == 0 and c["WAITING"] == 0
    killed = next(t for t in done if t.number == victim.number)
    assert killed.state == TrialState.FAIL
    reruns = [t for t in done if t.system_attrs.get("failed_trial") == victim.number]
    assert [t.number for t in reruns] == [retry.number]
    rerun = reruns[0]
    assert rerun.state in FINISHED, rerun.state
    assert rerun.params == killed.params == victim.params
    assert rerun.user_attrs[TRIAL_SEED] == killed.user_attrs[TRIAL_SEED]
    assert rerun.user_attrs[WORKER].endswith(f":{survivor.pid}")
    assert len({t.number for t in done}) == len(done)
