"""Storage URLs: which store to use, and showing a URL or a message without its password."""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING

from tuner.errors import StorageError

if TYPE_CHECKING:
    from sqlalchemy.engine import URL


STORAGE_ENV = "TUNER_STORAGE"
DEFAULT_STORAGE = "sqlite:///storage/tuner.db"


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
        raise StorageError(
            f"malformed storage URL {scrub(url)!r}; expected e.g. sqlite:///storage/tuner.db or "
            "postgresql+psycopg://user@host/db"
        ) from None
    return parsed
