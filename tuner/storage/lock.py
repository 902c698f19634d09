"""The study lock: one per study, shared by every process and machine using the store."""

from __future__ import annotations

import os
from typing import Any

import optuna

#: First key of the PostgreSQL advisory lock (the second is the study id): "tunr" in ASCII.
_PG_LOCK_NAMESPACE = 0x74756E72


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
                conn.execute(
                    text("SELECT pg_advisory_xact_lock(:ns, :study)"),
                    {"ns": _PG_LOCK_NAMESPACE, "study": self.study_id},
                )
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
                conn.execute(
                    text("SELECT GET_LOCK(:name, -1)"), {"name": f"tuner-study-{self.study_id}"}
                )
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
                conn.execute(
                    text("SELECT RELEASE_LOCK(:name)"), {"name": f"tuner-study-{self.study_id}"}
                )
                conn.commit()
        finally:
            conn.close()

    def __enter__(self) -> StudyLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
