"""Timeouts and heartbeat settings of a store, and reading them from the environment."""

from __future__ import annotations

import os

from tuner.errors import StorageError

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
