"""Storage URLs, password masking, SQLite settings, connection errors and the study lock."""

from __future__ import annotations

import socket
import sqlite3
import threading

import optuna
import pytest
from click.testing import CliRunner

from tuner.cli import cli
from tuner.errors import StorageError
from tuner.storage import MAX_RETRY, StudyLock, mask_url, open_storage, resolve_storage_url, scrub


def test_urls_resolve_flag_then_env_then_default(monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_storage_url() == "sqlite:///storage/tuner.db"
    monkeypatch.setenv("TUNER_STORAGE", "sqlite:///env.db")
    assert resolve_storage_url() == "sqlite:///env.db"
    assert resolve_storage_url("sqlite:///flag.db") == "sqlite:///flag.db"


def test_passwords_are_masked_in_urls_and_in_any_message() -> None:
    url = "postgresql+psycopg://tuner:p%40ss word@db:5432/tuner"
    assert mask_url(url) == "postgresql+psycopg://tuner:***@db:5432/tuner"
    leaked = (
        'connection to "tuner:p@ss word@db" failed; dsn: password=p@ss word host=db; url '
        "postgresql://x:hunter2@h/d"
    )
    clean = scrub(leaked, url)
    assert "p@ss" not in clean and "hunter2" not in clean
    assert clean.count("***") >= 3
    assert scrub("password='a b c' user=x") == "password=*** user=x"


def test_sqlite_store_uses_wal_heartbeats_and_retries(
    store: str, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TUNER_HEARTBEAT_INTERVAL", "2")
    storage = open_storage(store)
    with sqlite3.connect(tmp_path / "store.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert storage.heartbeat_interval == 2 and storage.grace_period is None  # Optuna: 2 x interval
    retry = storage.get_heartbeat_stale_trial_callback()
    assert isinstance(retry, optuna.storages.RetryHeartbeatStaleTrialCallback)
    assert retry._max_retry == MAX_RETRY  # Optuna has no public accessor for it
    custom = open_storage(store, heartbeat_interval=5, grace_period=7)
    assert (custom.heartbeat_interval, custom.grace_period) == (5, 7)


def test_a_sqlite_store_in_a_new_folder_is_created(tmp_path) -> None:
    open_storage(f"sqlite:///{tmp_path / 'deep' / 'er' / 't.db'}")
    assert (tmp_path / "deep" / "er" / "t.db").is_file()


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("sqlite://", "an in-memory SQLite store would lose every trial"),
        ("sqlite:///:memory:", "an in-memory SQLite store would lose every trial"),
        ("not a url", "malformed storage URL"),
        ("mysql+nosuchdriver://u:pw@h/d", "cannot open storage mysql+nosuchdriver://u:***@h/d"),
    ],
)
def test_bad_urls_are_refused_clearly(url: str, message: str) -> None:
    with pytest.raises(StorageError) as caught:
        open_storage(url)
    assert message in str(caught.value)
    assert ":pw@" not in str(caught.value)


def test_bad_heartbeat_settings_are_refused(store: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUNER_HEARTBEAT_INTERVAL", "soon")
    with pytest.raises(
        StorageError,
        match=(
            r"^\$TUNER_HEARTBEAT_INTERVAL must be a positive whole number of seconds, "
            r"got 'soon'$"
        ),
    ):
        open_storage(store)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_database_is_a_one_line_error() -> None:
    port = _closed_port()
    result = CliRunner().invoke(
        cli,
        ["studies", "--storage", f"postgresql+psycopg://tuner:s3cr3t-pw@127.0.0.1:{port}/tuner"],
    )
    assert result.exit_code == 1
    assert result.output.strip() == (
        f"Error: cannot reach the database server at 127.0.0.1:{port} (connection refused); "
        "check that it is running "
        f"and that the host and port in postgresql+psycopg://tuner:***@127.0.0.1:{port}/tuner "
        "are right"
    )


def test_a_silent_database_times_out_with_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUNER_CONNECT_TIMEOUT", "1")
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        result = CliRunner().invoke(
            cli,
            [
                "worker",
                "--study",
                "x",
                "--storage",
                f"postgresql://tuner:s3cr3t-pw@127.0.0.1:{port}/tuner",
            ],
        )
    assert result.exit_code == 1
    assert (
        f"Error: the database server at 127.0.0.1:{port} did not answer within 1 s" in result.output
    )
    assert "s3cr3t" not in result.output and "Traceback" not in result.output


def test_the_sqlite_study_lock_excludes_other_holders(store: str) -> None:
    storage = open_storage(store)
    optuna.create_study(study_name="s", storage=storage)
    study_id = storage.get_study_id_from_name("s")
    got_it = threading.Event()

    def contend() -> None:
        with StudyLock(open_storage(store), study_id):
            got_it.set()

    with StudyLock(storage, study_id) as lock:
        assert lock.held
        thread = threading.Thread(target=contend)
        thread.start()
        assert not got_it.wait(1.0), "a second holder got the lock while the first held it"
    assert not lock.held
    assert got_it.wait(30)
    thread.join()
