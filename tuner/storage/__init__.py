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

from tuner.storage.connect_errors import (
    SUPPORTED_SCHEMES,
    describe_connect_error,
    missing_store_message,
)
from tuner.storage.lock import LOCKING_BACKENDS, LockStats, StudyLock, check_lockable
from tuner.storage.open_store import open_existing_storage, open_storage
from tuner.storage.settings import (
    CONNECT_TIMEOUT,
    CONNECT_TIMEOUT_ENV,
    GRACE_PERIOD_ENV,
    HEARTBEAT_INTERVAL,
    HEARTBEAT_INTERVAL_ENV,
    MAX_RETRY,
    SQLITE_BUSY_TIMEOUT,
    connect_timeout,
)
from tuner.storage.urls import DEFAULT_STORAGE, STORAGE_ENV, mask_url, resolve_storage_url, scrub

__all__ = [
    "CONNECT_TIMEOUT",
    "CONNECT_TIMEOUT_ENV",
    "DEFAULT_STORAGE",
    "GRACE_PERIOD_ENV",
    "HEARTBEAT_INTERVAL",
    "HEARTBEAT_INTERVAL_ENV",
    "LOCKING_BACKENDS",
    "LockStats",
    "MAX_RETRY",
    "SQLITE_BUSY_TIMEOUT",
    "STORAGE_ENV",
    "SUPPORTED_SCHEMES",
    "StudyLock",
    "check_lockable",
    "connect_timeout",
    "describe_connect_error",
    "mask_url",
    "missing_store_message",
    "open_existing_storage",
    "open_storage",
    "resolve_storage_url",
    "scrub",
]
