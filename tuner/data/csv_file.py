"""Reading a CSV file as text columns, and the small helpers its checks share."""

from __future__ import annotations

import csv
import difflib
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tuner.errors import DatasetError, first_line


def read_csv(
    path: str | Path, *, usecols: Sequence[str] | None = None, nrows: int | None = None
) -> pd.DataFrame:
    """A CSV file as text columns (missing cells as NaN), or a one-line :class:`DatasetError`."""
    path = Path(path)
    if not path.is_file():
        if path.exists():
            raise DatasetError(f"{path} is not a file; [data] path must name a CSV file")
        raise DatasetError(
            f"CSV file {path} does not exist; fix [data] path (a relative path is relative to the "
            "study file's folder)"
        )
    try:
        with path.open(encoding="utf-8-sig") as fh:
            first = fh.readline()
        sep = max((",", ";", "\t"), key=first.count) if first.strip() else ","
        frame = pd.read_csv(
            path,
            sep=sep,
            dtype=str,
            skipinitialspace=True,
            usecols=usecols,
            nrows=nrows,
            encoding="utf-8-sig",
        )
    except pd.errors.EmptyDataError:
        raise DatasetError(
            f"CSV file {path} is empty; it needs a header row naming the columns, then one row "
            "per example"
        ) from None
    except pd.errors.ParserError as exc:
        raise DatasetError(f"CSV file {path} cannot be parsed: {first_line(exc)}") from None
    except UnicodeDecodeError:
        raise DatasetError(
            f"CSV file {path} is not UTF-8 text; save it as UTF-8 and run again"
        ) from None
    except OSError as exc:
        raise DatasetError(f"CSV file {path} cannot be read ({exc.strerror or exc})") from None
    header = next(csv.reader([first.strip("\r\n\ufeff")], delimiter=sep), [])
    names = [n.strip() for n in header]
    repeated = list(dict.fromkeys(n for n in names if names.count(n) > 1))
    if repeated:
        raise DatasetError(
            f"CSV file {path} names the column{'s' if len(repeated) > 1 else ''} "
            f"{', '.join(repr(n) for n in repeated)} more than once in its header; give each "
            "column a name of its own"
        )
    if nrows is None and len(frame) == 0:
        raise DatasetError(
            f"CSV file {path} has a header but no data rows; add one row per example below the "
            "header"
        )
    return frame


@dataclass(frozen=True)
class FileIdentity:
    """What a CSV file held when a study first ran on it: its content hash and its shape."""

    sha256: str
    rows: int
    columns: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"sha256": self.sha256, "rows": self.rows, "columns": list(self.columns)}

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> FileIdentity:
        return cls(str(raw["sha256"]), int(raw["rows"]), tuple(map(str, raw["columns"])))

    def difference(self, new: FileIdentity) -> str | None:
        """What changed from ``self`` to ``new`` in words (rows, columns, content), or None."""
        if new.sha256 == self.sha256:
            return None
        parts = []
        if new.rows != self.rows:
            parts.append(f"rows {self.rows:,} -> {new.rows:,}")
        added = [c for c in new.columns if c not in self.columns]
        removed = [c for c in self.columns if c not in new.columns]
        if added:
            parts.append(f"columns added: {', '.join(added)}")
        if removed:
            parts.append(f"columns removed: {', '.join(removed)}")
        if not parts and new.columns != self.columns:
            parts.append("columns reordered")
        return "; ".join(parts) or f"content changed (same {rows_text(new.rows)} and columns)"


def file_digest(path: str | Path) -> str:
    """The SHA-256 of a file's bytes (a one-line :class:`DatasetError` if it cannot be read)."""
    digest = hashlib.sha256()
    try:
        with Path(path).open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    except OSError as exc:
        raise DatasetError(f"CSV file {path} cannot be read ({exc.strerror or exc})") from None
    return digest.hexdigest()


def file_identity(path: str | Path, digest: str | None = None) -> FileIdentity:
    """The content hash, data rows and column names of the CSV file at ``path``."""
    frame = read_csv(path)
    return FileIdentity(digest or file_digest(path), len(frame), tuple(map(str, frame.columns)))


def check_target(frame: pd.DataFrame, target: str, path: Path) -> None:
    if target in frame.columns:
        return
    hint = difflib.get_close_matches(target, [str(c) for c in frame.columns], n=1)
    extra = f" (did you mean '{hint[0]}'?)" if hint else ""
    raise DatasetError(
        f"target column '{target}' is not in {path}{extra}; its columns are: "
        f"{', '.join(map(str, frame.columns))}"
    )


def clean_text(values: pd.Series) -> pd.Series:
    """Stripped text; empty cells become missing (NaN)."""
    text = values.astype("string").str.strip()
    keep = (text.notna() & (text != "")).fillna(False).astype(bool)
    return text.astype(object).where(keep, np.nan)


def rows_text(n: int) -> str:
    """``n`` rows, in words: "1 row", "2,000 rows"."""
    return f"{n:,} row{'s' if n != 1 else ''}"


def line_number(frame_index: Any) -> int:
    """The CSV file's line for a row of the frame read from it."""
    return int(frame_index) + 2  # the header is line 1


__all__ = [
    "FileIdentity",
    "check_target",
    "file_digest",
    "file_identity",
    "clean_text",
    "line_number",
    "read_csv",
    "rows_text",
]
