"""Opening Optuna's relational storage: SQLite prepared for several processes, heartbeats on."""

from __future__ import annotations

import contextlib
import sqlite3
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna

from tuner.errors import StorageError
from tuner.storage.connect_errors import (
    _is_not_a_database,
    _not_a_database_message,
    describe_connect_error,
    missing_store_message,
)
from tuner.storage.lock import check_lockable_backend
from tuner.storage.settings import (
    GRACE_PERIOD_ENV,
    HEARTBEAT_INTERVAL,
    HEARTBEAT_INTERVAL_ENV,
    MAX_RETRY,
    SQLITE_BUSY_TIMEOUT,
    _int_env,
    connect_timeout,
)
from tuner.storage.urls import _parse, resolve_storage_url

if TYPE_CHECKING:
    from sqlalchemy.engine import URL


#: Why a ``grpc://`` URL (Optuna's storage proxy) is refused; docs/scale.md says more.
GRPC_REFUSED = (
    "grpc:// stores (Optuna's storage proxy) are not supported: the proxy cannot hold the study "
    "lock, so workers could start more trials than the budget; give the database's URL (for "
    "many workers, through PgBouncer)"
)


def _known_dialect(url: URL) -> bool:
    """Whether SQLAlchemy knows the URL's database (else opening it says what is wrong)."""
    try:
        url.get_dialect()
    except Exception:
        return False
    return True


def _engine_kwargs(url: URL) -> dict[str, Any]:
    backend = url.get_backend_name()
    if backend == "sqlite":
        return {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT}}
    if backend == "postgresql":
        return {"connect_args": {"connect_timeout": connect_timeout()}, "pool_pre_ping": True}
    return {"pool_pre_ping": True}


def _prepare_sqlite(url: URL, *, create: bool = True) -> None:
    database = url.database
    if not database or database == ":memory:":
        raise StorageError(
            "an in-memory SQLite store would lose every trial; give a file, e.g. "
            "sqlite:///storage/tuner.db"
        )
    path = Path(database).expanduser()
    if not create and not path.is_file():
        raise StorageError(missing_store_message(path))
    try:
        if create:
            path.parent.mkdir(parents=True, exist_ok=True)
        # WAL lets readers and one writer work at once; the setting is stored in the file.
        with contextlib.closing(sqlite3.connect(path, timeout=SQLITE_BUSY_TIMEOUT)) as conn:
            conn.execute("PRAGMA journal_mode=WAL")
    except (OSError, sqlite3.Error) as exc:
        if _is_not_a_database(exc):
            raise StorageError(_not_a_database_message(path)) from None
        raise StorageError(
            f"cannot open SQLite store {path}: {exc}; check that the folder is writable"
        ) from None


def open_storage(
    storage: str | None = None,
    *,
    heartbeat_interval: int | None = None,
    grace_period: int | None = None,
    max_retry: int | None = MAX_RETRY,
    create: bool = True,
) -> optuna.storages.RDBStorage:
    """Open (and on first use create) the relational store; a clear error if it is unreachable.

    ``heartbeat_interval`` and ``grace_period`` default to ``$TUNER_HEARTBEAT_INTERVAL``
    (60 s) and ``$TUNER_GRACE_PERIOD`` (twice the interval). A store that has no study lock is
    refused when ``create`` is true (``tuner run``). ``create=False`` (see
    :func:`open_existing_storage`) refuses a SQLite file that does not exist instead of
    creating it and its folder.
    """
    url_text = resolve_storage_url(storage)
    if url_text.lower().startswith("grpc://"):
        raise StorageError(GRPC_REFUSED)
    url = _parse(url_text)
    if create and _known_dialect(url):  # a store that runs trials: refused before any write
        check_lockable_backend(url.get_backend_name())
    # The settings first: a bad one must not leave an empty store behind.
    interval = heartbeat_interval or _int_env(HEARTBEAT_INTERVAL_ENV, HEARTBEAT_INTERVAL)
    grace = grace_period or _int_env(GRACE_PERIOD_ENV, None)
    if url.get_backend_name() == "sqlite":
        _prepare_sqlite(url, create=create)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.storages.RDBStorage(
                url.render_as_string(hide_password=False),
                engine_kwargs=_engine_kwargs(url),
                heartbeat_interval=interval,
                grace_period=grace,
                heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(
                    max_retry=max_retry
                ),
            )
    except Exception as exc:  # driver errors vary by backend; all mean "cannot use this store"
        raise StorageError(describe_connect_error(exc, url_text)) from None


def open_existing_storage(storage: str | None = None, **kwargs: Any) -> optuna.storages.RDBStorage:
    """Open a store that must exist already (every command but ``tuner run``): a mistyped
    SQLite URL is an error naming the ``.db`` files beside it, and creates nothing."""
    return open_storage(storage, create=False, **kwargs)
