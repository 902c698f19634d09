"""A report folder written in one piece: built in a hidden folder beside it, renamed into place.

A report that fails part-way leaves nothing behind, and a finished one replaces the old folder
(with ``overwrite``) in one rename.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

from tuner.errors import ReportError

#: staging folder -> the highest folder made for it (``reports/`` on a first report), which
#: :func:`discard` removes again if the report fails.
_MADE: dict[Path, Path] = {}


def staging_dir(out: Path, overwrite: bool) -> Path:
    """A fresh hidden folder beside ``out``; refuses a taken ``out`` unless ``overwrite``."""
    if out.exists() and not out.is_dir():
        raise ReportError(
            f"report folder {out} is an existing file; choose another folder with --out"
        )
    if out.exists() and not overwrite:
        raise ReportError(
            f"report folder {out} already exists; pass --overwrite to replace it, or choose "
            "another folder with --out"
        )
    anchor = out.parent
    while not anchor.exists() and anchor != anchor.parent:
        anchor = anchor.parent
    if not anchor.is_dir():
        raise ReportError(
            f"cannot write the report to {out}: {anchor} is a file, not a folder; choose another "
            "folder with --out"
        )
    if not os.access(anchor, os.W_OK | os.X_OK):
        raise ReportError(
            f"cannot write the report to {out}: {anchor} is not writable; choose a writable folder "
            "with --out"
        )
    staging = out.parent / f".{out.name}.partial-{uuid.uuid4().hex[:8]}"
    missing = [p for p in (out.parent, *out.parent.parents) if not p.exists()]
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        staging.mkdir()
        if missing:
            _MADE[staging] = missing[-1]
    except OSError as exc:
        reason = (exc.strerror or str(exc)).lower()
        raise ReportError(
            f"cannot write the report to {out}: {reason} ({exc.filename or out.parent}); choose a "
            "writable folder with --out"
        ) from None
    return staging


def discard(staging: Path) -> None:
    """Remove a failed report's ``staging`` folder, and the folders made for it if empty."""
    shutil.rmtree(staging, ignore_errors=True)
    top = _MADE.pop(staging, None)
    folder = staging.parent
    while top is not None:
        try:
            folder.rmdir()
        except OSError:  # not empty: something else is in it now
            break
        if folder == top:
            break
        folder = folder.parent


def publish(staging: Path, out: Path, overwrite: bool) -> None:
    """Rename the finished ``staging`` folder to ``out`` (replacing it when ``overwrite``)."""
    _MADE.pop(staging, None)
    if out.exists():
        if not overwrite:
            raise ReportError(
                f"report folder {out} appeared while the report was being built; pass --overwrite "
                "to replace it"
            )
        old = out.parent / f".{out.name}.old-{uuid.uuid4().hex[:8]}"
        os.rename(out, old)
        os.rename(staging, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(staging, out)


__all__ = ["discard", "publish", "staging_dir"]
