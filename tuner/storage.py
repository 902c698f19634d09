"""Storage URLs, the embedded default store, and opening Optuna's relational storage.

Default: ``sqlite:///storage/tuner.db`` relative to the working directory (the folder is
created on first use). ``--storage URL`` or ``$TUNER_STORAGE`` select any SQLAlchemy URL,
PostgreSQL included. Passwords are never printed: use :func:`mask_url` for anything shown.
"""

from __future__ import annotations

import os
from pathlib import Path

import optuna

from tuner.errors import StorageError

STORAGE_ENV = "TUNER_STORAGE"
DEFAULT_STORAGE = "sqlite:///storage/tuner.db"
#: Seconds to wait for a database server before giving up.
CONNECT_TIMEOUT = 5


def resolve_storage_url(storage: str | None = None) -> str:
    """``storage`` if given, else ``$TUNER_STORAGE``, else the embedded SQLite default."""
    return storage or os.environ.get(STORAGE_ENV) or DEFAULT_STORAGE


def mask_url(url: str) -> str:
    """The URL with any password replaced by ``***``."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return "<malformed storage URL>"


def _parse(url: str):  # -> sqlalchemy.engine.URL
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        raise StorageError(f"malformed storage URL {mask_url(url)!s}; expected e.g. sqlite:///storage/tuner.db or postgresql+psycopg://user@host/db") from None
    return parsed


def _engine_kwargs(url) -> dict:
    backend = url.get_backend_name()
    if backend == "sqlite":
        return {"connect_args": {"timeout": 60}}
    if backend == "postgresql":
        return {"connect_args": {"connect_timeout": CONNECT_TIMEOUT}, "pool_pre_ping": True}
    return {"pool_pre_ping": True}


def _prepare_sqlite(url) -> None:
    database = url.database
    if not database or database == ":memory:":
        raise StorageError("an in-memory SQLite store would lose every trial; give a file, e.g. sqlite:///storage/tuner.db")
    Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)


def open_storage(storage: str | None = None) -> optuna.storages.RDBStorage:
    """Open (and on first use create) the relational store; a clear error if it is unreachable."""
    url_text = resolve_storage_url(storage)
    url = _parse(url_text)
    if url.get_backend_name() == "sqlite":
        _prepare_sqlite(url)
    try:
        return optuna.storages.RDBStorage(url_text, engine_kwargs=_engine_kwargs(url))
    except Exception as exc:  # driver errors vary by backend; all mean "cannot use this store"
        raise StorageError(f"cannot open storage {mask_url(url_text)}: {_first_line(exc)}") from None


def _first_line(exc: BaseException) -> str:
    from sqlalchemy.exc import DBAPIError

    if isinstance(exc, DBAPIError) and exc.orig is not None:
        exc = exc.orig
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
