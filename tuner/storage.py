"""Storage URLs, the embedded default store, and opening Optuna's relational storage.

Default: ``sqlite:///storage/tuner.db`` relative to the working directory (the folder is
created on first use). ``--storage URL`` or ``$TUNER_STORAGE`` select any SQLAlchemy URL,
PostgreSQL included (``postgresql://`` means the psycopg 3 driver). Passwords are never
printed: use :func:`mask_url` for URLs and :func:`scrub` for any other text shown.

Every store opened here is ready for several workers at once:

- **Heartbeats.** A running trial records a heartbeat every ``heartbeat_interval`` seconds;
  one silent for ``grace_period`` seconds (its worker was killed, or its machine lost) is
  marked failed by the next worker that looks, and Optuna's
  :class:`~optuna.storages.RetryHeartbeatStaleTrialCallback` queues it again with the same
  parameters (at most :data:`MAX_RETRY` times).
- **SQLite** runs in WAL mode with a busy timeout, so local processes wait for each other's
  short writes instead of failing with "database is locked".
- **A study lock** (:class:`StudyLock`) serialises "count the trials, then start one" across
  processes and machines, which is what keeps a study's budget exact.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import optuna

from tuner.errors import StorageError

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

STORAGE_ENV = "TUNER_STORAGE"
DEFAULT_STORAGE = "sqlite:///storage/tuner.db"
#: Seconds to wait for a database server before giving up ($TUNER_CONNECT_TIMEOUT).
CONNECT_TIMEOUT = 5
CONNECT_TIMEOUT_ENV = "TUNER_CONNECT_TIMEOUT"
#: Seconds between two heartbeats of a running trial ($TUNER_HEARTBEAT_INTERVAL).
HEARTBEAT_INTERVAL = 60
HEARTBEAT_INTERVAL_ENV = "TUNER_HEARTBEAT_INTERVAL"
#: Seconds without a heartbeat after which a running trial counts as lost ($TUNER_GRACE_PERIOD;
#: default: twice the heartbeat interval).
GRACE_PERIOD_ENV = "TUNER_GRACE_PERIOD"
#: How many times a lost trial is queued again with the same parameters.
MAX_RETRY = 3
#: Seconds SQLite waits for another process's write before "database is locked".
SQLITE_BUSY_TIMEOUT = 60
#: First key of the PostgreSQL advisory lock (the second is the study id): "tunr" in ASCII.
_PG_LOCK_NAMESPACE = 0x74756E72


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


_URL_PASSWORD = re.compile(r"(://[^:/@\s]*:)[^@\s]+@")
_KEYWORD_PASSWORD = re.compile(r"(password\s*=\s*)('[^']*'|\S+)", re.IGNORECASE)


def scrub(text: str, url: str | None = None) -> str:
    """``text`` with every password removed: the one in ``url`` and any found in URLs or
    ``password=`` settings in the text itself (driver messages sometimes echo them)."""
    if url:
        from urllib.parse import quote

        password = _password_of(url)
        if password:
            for form in {password, quote(password, safe=""), quote(password)}:
                text = text.replace(form, "***")
    text = _URL_PASSWORD.sub(r"\1***@", text)
    return _KEYWORD_PASSWORD.sub(r"\1***", text)


def _password_of(url: str) -> str | None:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).password
    except (ArgumentError, ValueError):
        match = _URL_PASSWORD.search(url)
        return match.group(0)[len(match.group(1)) : -1] if match else None


def _parse(url: str) -> URL:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    # SQLAlchemy's default PostgreSQL driver is psycopg2; we ship psycopg 3.
    fixed = re.sub(r"^(postgres|postgresql)://", "postgresql+psycopg://", url)
    try:
        parsed = make_url(fixed)
    except (ArgumentError, ValueError):
        raise StorageError(f"malformed storage URL {scrub(url)!r}; expected e.g. sqlite:///storage/tuner.db or postgresql+psycopg://user@host/db") from None
    return parsed


def _int_env(name: str, default: int | None) -> int | None:
    text = os.environ.get(name)
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise StorageError(f"${name} must be a positive whole number of seconds, got {text!r}")
    return value


def connect_timeout() -> int:
    """Seconds to wait for a database server ($TUNER_CONNECT_TIMEOUT, default 5)."""
    return _int_env(CONNECT_TIMEOUT_ENV, CONNECT_TIMEOUT)  # type: ignore[return-value]


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
        raise StorageError("an in-memory SQLite store would lose every trial; give a file, e.g. sqlite:///storage/tuner.db")
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
        raise StorageError(f"cannot open SQLite store {path}: {exc}; check that the folder is writable") from None


def missing_store_message(path: Path) -> str:
    """Why a read-only command found no SQLite store at ``path``: the ``.db`` files beside it."""
    folder = path.parent
    shown = f"{folder.as_posix().rstrip('/')}/" if str(folder) != "." else "./"
    if not folder.is_dir():
        return f"no store at {path.as_posix()}; the folder {shown} does not exist"
    found = sorted(p.name for p in folder.glob("*.db") if p.is_file())
    listed = ", ".join(found) if found else "none"
    return f"no store at {path.as_posix()}; .db files in {shown}: {listed}"


#: The URL schemes Optuna's relational storage supports, as the error for an unknown one lists them.
SUPPORTED_SCHEMES = ("sqlite", "postgresql", "mysql")


def _is_not_a_database(exc: BaseException) -> bool:
    """SQLite's answer for a file that exists but is not a database (directly or via SQLAlchemy)."""
    return "file is not a database" in str(exc).lower()


def _not_a_database_message(path: str | os.PathLike[str]) -> str:
    return f"cannot open SQLite store {path}: the file exists but is not an SQLite database; name another file in the storage URL (e.g. sqlite:///storage/tuner.db) or move {path} away"


def _unknown_dialect_message(url: URL, where: str) -> str:
    """Why SQLAlchemy has no plugin for ``url``: an unknown database scheme, or an unknown driver."""
    from sqlalchemy.engine import make_url

    backend, _, driver = url.drivername.partition("+")
    examples = "e.g. sqlite:///storage/tuner.db, postgresql+psycopg://user@host/db, mysql+pymysql://user@host/db"
    try:
        make_url(f"{backend}://").get_dialect()
    except Exception:  # the scheme itself is unknown
        return f"cannot open storage {where}: unknown database scheme '{backend}'; the supported schemes are {', '.join(SUPPORTED_SCHEMES)} ({examples})"
    return f"cannot open storage {where}: unknown driver '{driver}' for {backend}; give a driver SQLAlchemy knows ({examples})"


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
    (60 s) and ``$TUNER_GRACE_PERIOD`` (twice the interval). ``create=False`` (see
    :func:`open_existing_storage`) refuses a SQLite file that does not exist instead of
    creating it and its folder.
    """
    url_text = resolve_storage_url(storage)
    url = _parse(url_text)
    if url.get_backend_name() == "sqlite":
        _prepare_sqlite(url, create=create)
    interval = heartbeat_interval or _int_env(HEARTBEAT_INTERVAL_ENV, HEARTBEAT_INTERVAL)
    grace = grace_period or _int_env(GRACE_PERIOD_ENV, None)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.storages.RDBStorage(
                url.render_as_string(hide_password=False),
                engine_kwargs=_engine_kwargs(url),
                heartbeat_interval=interval,
                grace_period=grace,
                heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=max_retry),
            )
    except Exception as exc:  # driver errors vary by backend; all mean "cannot use this store"
        raise StorageError(describe_connect_error(exc, url_text)) from None


def open_existing_storage(storage: str | None = None, **kwargs: Any) -> optuna.storages.RDBStorage:
    """Open a store that must exist already (every command but ``tuner run``): a mistyped
    SQLite URL is an error naming the ``.db`` files beside it, and creates nothing."""
    return open_storage(storage, create=False, **kwargs)


def describe_connect_error(exc: BaseException, url_text: str) -> str:
    """A one-line, password-free explanation of why the store at ``url_text`` cannot be used."""
    url = _parse(url_text)
    where = mask_url(url.render_as_string(hide_password=False))
    detail = scrub(_first_line(exc), url_text)
    text = detail.lower()
    host = f"{url.host or 'localhost'}:{url.port or 5432}"
    from sqlalchemy.exc import NoSuchModuleError

    if isinstance(exc, NoSuchModuleError):
        return _unknown_dialect_message(url, where)
    if url.get_backend_name() == "sqlite" and _is_not_a_database(exc):
        return _not_a_database_message(url.database or "")
    if isinstance(exc, ImportError) or "no module named" in text:
        return f"cannot open storage {where}: its database driver is missing ({detail}); install it, e.g. PostgreSQL: postgresql+psycopg://… with pip install 'psycopg[binary]', MySQL: mysql+pymysql://… with pip install pymysql"
    if "password authentication failed" in text or "access denied" in text:
        return f"the database at {host} refused the password for user '{url.username}' ({where}); check the password in $PGPASSWORD, ~/.pgpass or the storage URL"
    if "no password supplied" in text:
        return f"the database at {host} wants a password for user '{url.username}' ({where}); set $PGPASSWORD, add a ~/.pgpass line, or put it in the storage URL"
    if "connection refused" in text:
        return f"cannot reach the database server at {host} (connection refused); check that it is running and that the host and port in {where} are right"
    if "timeout expired" in text or "timed out" in text:
        return f"the database server at {host} did not answer within {connect_timeout()} s; check the host, port and firewall in {where} (or raise ${CONNECT_TIMEOUT_ENV})"
    if "could not translate host name" in text or "name or service not known" in text or "nodename nor servname" in text:
        return f"unknown database host '{url.host}' in {where}; check the host name"
    if "database" in text and "does not exist" in text:
        return f"database '{url.database}' does not exist on {host}; create it (createdb {url.database}) or fix {where}"
    return f"cannot open storage {where}: {detail}"


def _first_line(exc: BaseException) -> str:
    from sqlalchemy.exc import DBAPIError

    if isinstance(exc, DBAPIError) and exc.orig is not None:
        exc = exc.orig
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    # libpq puts the reason on the second line ("connection failed: ... failed:" / "FATAL: ...").
    if len(lines) > 1 and lines[0].rstrip().endswith(":"):
        return f"{lines[0]} {lines[1]}"
    return lines[0]


# --------------------------------------------------------------------------- the study lock


class StudyLock:
    """A lock per study, shared by every process and machine using the store.

    Workers hold it only from "count the trials" to "the new trial is in the store" (a few
    milliseconds), so no two of them can both see one free slot and start a trial for it.

    - PostgreSQL: a transaction-scoped advisory lock (``pg_advisory_xact_lock``) on its own
      connection; it also works behind PgBouncer in transaction mode, and the server drops it
      if the worker dies.
    - SQLite: an exclusive ``flock`` on ``<database>.lock`` next to the database file (SQLite
      itself only works among processes of one machine).
    - MySQL: a named lock (``GET_LOCK``).
    - Anything else: no lock; concurrent workers may then overshoot the budget.

    ``release`` may be called more than once; only the first call releases.
    """

    def __init__(self, storage: optuna.storages.RDBStorage, study_id: int):
        self.storage = storage
        self.study_id = study_id
        self.backend = storage.engine.url.get_backend_name()
        self._conn: Any = None
        self._trans: Any = None
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._conn is not None or self._fd is not None

    def acquire(self) -> None:
        from sqlalchemy import text

        if self.held:
            return
        if self.backend == "postgresql":
            conn = self.storage.engine.connect()
            try:
                self._trans = conn.begin()
                conn.execute(text("SELECT pg_advisory_xact_lock(:ns, :study)"), {"ns": _PG_LOCK_NAMESPACE, "study": self.study_id})
            except BaseException:
                conn.close()
                self._trans = None
                raise
            self._conn = conn
        elif self.backend == "sqlite":
            import fcntl

            path = f"{self.storage.engine.url.database}.lock"
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
            except BaseException:
                os.close(fd)
                raise
            self._fd = fd
        elif self.backend == "mysql":
            conn = self.storage.engine.connect()
            try:
                conn.execute(text("SELECT GET_LOCK(:name, -1)"), {"name": f"tuner-study-{self.study_id}"})
            except BaseException:
                conn.close()
                raise
            self._conn = conn

    def release(self) -> None:
        from sqlalchemy import text

        conn, trans, fd = self._conn, self._trans, self._fd
        self._conn = self._trans = self._fd = None
        if fd is not None:
            os.close(fd)  # closing the descriptor drops the flock
        if conn is None:
            return
        try:
            if trans is not None:
                trans.rollback()  # ends the transaction, and with it the advisory lock
            elif self.backend == "mysql":
                conn.execute(text("SELECT RELEASE_LOCK(:name)"), {"name": f"tuner-study-{self.study_id}"})
                conn.commit()
        finally:
            conn.close()

    def __enter__(self) -> StudyLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
