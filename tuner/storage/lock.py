"""The study lock: one per study, shared by every process and machine using the store."""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import optuna

from tuner.errors import StorageError

#: First key of the PostgreSQL advisory lock (the second is the study id): "tunr" in ASCII.
_PG_LOCK_NAMESPACE = 0x74756E72

#: PostgreSQL's error code for a lock wait that ran past ``lock_timeout``.
_PG_LOCK_NOT_AVAILABLE = "55P03"
#: Seconds one wait for the lock lasts in the database server (PostgreSQL; MySQL: 1 s) before
#: the worker looks for an interrupt and waits again.
SERVER_WAIT = 0.25

#: The stores that have a study lock (and so an exact budget with several workers).
LOCKING_BACKENDS = ("sqlite", "postgresql", "mysql")

#: Seconds between two tries while another worker holds the lock: the first, and the longest.
FIRST_RETRY = 0.001
LONGEST_RETRY = 0.02


def check_lockable(storage: optuna.storages.BaseStorage) -> None:
    """Refuse a store that cannot hold the study lock: several workers would overshoot the
    budget on it."""
    backend = (
        storage.engine.url.get_backend_name()
        if isinstance(storage, optuna.storages.RDBStorage)
        else type(storage).__name__
    )
    check_lockable_backend(backend)


def check_lockable_backend(backend: str) -> None:
    """Refuse a store kind (a URL's backend name) that has no study lock."""
    if backend not in LOCKING_BACKENDS:
        raise StorageError(
            f"the store ({backend}) has no study lock, so workers could start more trials than "
            f"the budget; use a {', '.join(LOCKING_BACKENDS)} storage URL"
        )


@dataclass
class LockStats:
    """How long this process waited for the lock and held it, over ``holds`` acquisitions."""

    holds: int = 0
    wait_seconds: float = 0.0
    hold_seconds: float = 0.0


class StudyLock:
    """A lock per study, shared by every process and machine using the store.

    Workers hold it only from "count the trials" to "the new trial is in the store" (a few
    milliseconds), so no two of them can both see one free slot and start a trial for it.

    - PostgreSQL: a transaction-scoped advisory lock (``pg_advisory_xact_lock``) on its own
      connection; it also works behind PgBouncer in transaction mode, and the server drops
      it if the worker dies.
    - SQLite: an exclusive ``flock`` on ``<database>.lock`` next to the database file (SQLite
      itself only works among processes of one machine).
    - MySQL: a named lock (``GET_LOCK``).
    - Any other store is refused (:class:`~tuner.errors.StorageError`).

    A waiting worker never blocks for long: PostgreSQL and MySQL wait in the server for at
    most :data:`SERVER_WAIT` (1 s on MySQL) at a time, SQLite tries the ``flock`` every few
    milliseconds; in between the worker sleeps with ``sleep`` (the signal guard's sleep, which
    an interrupt ends), so a hung holder never makes a waiting worker deaf to Ctrl-C.
    ``release`` may be called more than once; only the first call releases.
    """

    def __init__(
        self,
        storage: optuna.storages.RDBStorage,
        study_id: int,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ):
        check_lockable(storage)
        self.storage = storage
        self.study_id = study_id
        self.backend = storage.engine.url.get_backend_name()
        self.sleep = sleep
        self.stats = LockStats()
        self._conn: Any = None
        self._trans: Any = None
        self._fd: int | None = None
        self._since = 0.0

    @property
    def held(self) -> bool:
        return self._since > 0.0

    def acquire(self) -> None:
        """Wait for the lock (see the class doc); an interrupt raised by ``sleep`` ends the
        wait with nothing held."""
        if self.held:
            return
        began = time.perf_counter()
        pause = FIRST_RETRY
        try:
            while not self._try():
                self.sleep(pause * random.uniform(0.5, 1.5))
                pause = min(LONGEST_RETRY, pause * 2)
        except BaseException:
            self._close()
            raise
        self._since = time.perf_counter()
        self.stats.holds += 1
        self.stats.wait_seconds += self._since - began

    def _try(self) -> bool:
        """One attempt; True once held."""
        if self.backend == "sqlite":
            return self._try_flock()
        from sqlalchemy import text

        if self._conn is None:
            self._conn = self.storage.engine.connect()
        if self.backend == "postgresql":
            return self._try_advisory(text)
        got = self._conn.execute(
            text("SELECT GET_LOCK(:name, 1)"), {"name": f"tuner-study-{self.study_id}"}
        ).scalar()
        return got == 1

    def _try_advisory(self, text: Any) -> bool:
        """Wait for the advisory lock in the server, at most :data:`SERVER_WAIT` at a time:
        the server hands it over the moment it is free, and no waiter polls it."""
        from sqlalchemy.exc import OperationalError

        self._trans = self._conn.begin()
        self._conn.execute(text(f"SET LOCAL lock_timeout = '{int(SERVER_WAIT * 1000)}ms'"))
        try:
            self._conn.execute(
                text("SELECT pg_advisory_xact_lock(:ns, :study)"),
                {"ns": _PG_LOCK_NAMESPACE, "study": self.study_id},
            )
        except OperationalError as exc:
            if getattr(exc.orig, "sqlstate", None) != _PG_LOCK_NOT_AVAILABLE:
                raise
            self._trans.rollback()
            self._trans = None
            return False
        return True

    def _try_flock(self) -> bool:
        import fcntl

        if self._fd is None:
            path = f"{self.storage.engine.url.database}.lock"
            self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def release(self) -> None:
        from sqlalchemy import text

        if self.held:
            self.stats.hold_seconds += time.perf_counter() - self._since
        was_held, self._since = self.held, 0.0
        conn, trans = self._conn, self._trans
        if conn is not None and trans is None and was_held and self.backend == "mysql":
            try:
                conn.execute(
                    text("SELECT RELEASE_LOCK(:name)"), {"name": f"tuner-study-{self.study_id}"}
                )
                conn.commit()
            except BaseException:
                conn.invalidate()  # ends the session, and with it the named lock
                self._close()
                raise
        self._close()

    def _close(self) -> None:
        """Give back the connection or the file; whatever they held goes with them."""
        self._since = 0.0
        conn, trans, fd = self._conn, self._trans, self._fd
        self._conn = self._trans = self._fd = None
        if fd is not None:
            os.close(fd)  # closing the descriptor drops the flock
        if conn is None:
            return
        try:
            if trans is not None:
                trans.rollback()  # ends the transaction, and with it the advisory lock
        finally:
            conn.close()

    def __enter__(self) -> StudyLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
