"""Why a store cannot be opened, as one password-free line naming the fix."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from tuner.storage.settings import CONNECT_TIMEOUT_ENV, connect_timeout
from tuner.storage.urls import _parse, mask_url, scrub

if TYPE_CHECKING:
    from sqlalchemy.engine import URL


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
    return (
        f"cannot open SQLite store {path}: the file exists but is not an SQLite database; name "
        f"another file in the storage URL (e.g. sqlite:///storage/tuner.db) or move {path} away"
    )


def _unknown_dialect_message(url: URL, where: str) -> str:
    """Why SQLAlchemy has no plugin for ``url``: an unknown database scheme, or an unknown
    driver."""
    from sqlalchemy.engine import make_url

    backend, _, driver = url.drivername.partition("+")
    examples = (
        "e.g. sqlite:///storage/tuner.db, postgresql+psycopg://user@host/db, "
        "mysql+pymysql://user@host/db"
    )
    try:
        make_url(f"{backend}://").get_dialect()
    except Exception:  # the scheme itself is unknown
        return (
            f"cannot open storage {where}: unknown database scheme '{backend}'; the supported "
            f"schemes are {', '.join(SUPPORTED_SCHEMES)} ({examples})"
        )
    return (
        f"cannot open storage {where}: unknown driver '{driver}' for {backend}; give a driver "
        f"SQLAlchemy knows ({examples})"
    )


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
        return (
            f"cannot open storage {where}: its database driver is missing ({detail}); install it, "
            "e.g. PostgreSQL: postgresql+psycopg://… with pip install 'psycopg[binary]', MySQL: "
            "mysql+pymysql://… with pip install pymysql"
        )
    if "password authentication failed" in text or "access denied" in text:
        return (
            f"the database at {host} refused the password for user '{url.username}' ({where}); "
            "check the password in $PGPASSWORD, ~/.pgpass or the storage URL"
        )
    if "no password supplied" in text:
        return (
            f"the database at {host} wants a password for user '{url.username}' ({where}); set "
            "$PGPASSWORD, add a ~/.pgpass line, or put it in the storage URL"
        )
    if "connection refused" in text:
        return (
            f"cannot reach the database server at {host} (connection refused); check that it is "
            f"running and that the host and port in {where} are right"
        )
    if "timeout expired" in text or "timed out" in text:
        return (
            f"the database server at {host} did not answer within {connect_timeout()} s; check "
            f"the host, port and firewall in {where} (or raise ${CONNECT_TIMEOUT_ENV})"
        )
    if (
        "could not translate host name" in text
        or "name or service not known" in text
        or "nodename nor servname" in text
    ):
        return f"unknown database host '{url.host}' in {where}; check the host name"
    if "database" in text and "does not exist" in text:
        return (
            f"database '{url.database}' does not exist on {host}; create it (createdb "
            f"{url.database}) or fix {where}"
        )
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
