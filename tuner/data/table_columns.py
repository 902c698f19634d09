"""The input columns of a CSV table: each column's kind (and why), and its model-ready array."""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from tuner.data.csv_file import clean_text, line_number, rows_text
from tuner.data.table_target import label_text
from tuner.errors import DatasetError

#: An unlisted text column with more distinct values than this is ignored (with a warning).
MAX_CATEGORIES = 100
#: An unlisted integer column named like an identifier (``id``, ``Id``, ``user_id`` …) with at
#: least this share of distinct values is an identifier, and ignored (with a warning).
ID_DISTINCT_SHARE = 0.9
#: Fewest rows (with a value) a column needs before it may be judged an identifier.
MIN_ID_ROWS = 20
KINDS = ("numeric", "categorical", "ignore")
#: An unlisted column of numbers (at least this many) with a few text cells (at most this share
#: of its values) is refused, naming the first such cell, rather than typed as text.
MIN_STRAY_NUMBERS = 10
MAX_STRAY_SHARE = 0.05

_ID_NAME = re.compile(
    r"(?i)(id|index|key|row|rowid|row_id|row_number|unnamed: \d+)|.*[_\s.-]id|.*[a-z]I[dD]"
)


def looks_like_identifier(name: str) -> bool:
    """Whether a column's name reads like an identifier's: ``id``, ``row_id``, ``PassengerId``."""
    return bool(_ID_NAME.fullmatch(name.strip()))


@dataclass(frozen=True)
class ColumnInfo:
    """What a column is and why: ``kind`` is numeric, categorical or ignore."""

    name: str
    kind: str
    n_missing: int
    n_distinct: int
    reason: str = ""  # why an unlisted column was ignored, e.g. "is empty in every row"
    declared: bool = False
    top_values: tuple[str, ...] = ()  # most frequent values of a categorical column
    hint: str = ""  # how to keep an ignored column
    note: str = ""  # a caution about its values, e.g. a few text cells in a column of numbers

    @property
    def warning(self) -> str:
        """The message reporting that an unlisted column was ignored."""
        return f"column '{self.name}' {self.reason}; ignored" + (
            f" ({self.hint})" if self.hint else ""
        )


def identifier_reason(name: str, numbers: pd.Series) -> str:
    """Why an integer column looks like an identifier, or "" if it does not.

    A different integer in every row that is consecutive or named like an identifier; or a
    name like an identifier with nearly every value distinct (rows repeated for one id).
    """
    values = numbers.dropna()
    if len(values) < MIN_ID_ROWS or not bool((values == np.round(values)).all()):
        return ""
    distinct, named = int(values.nunique()), looks_like_identifier(name)
    if distinct == len(values):
        consecutive = values.max() - values.min() + 1 == len(values)
        return (
            "holds a different integer in every row, like an identifier"
            if consecutive or named
            else ""
        )
    if named and distinct >= ID_DISTINCT_SHARE * len(values):
        return (
            f"is named like an identifier and holds {distinct:,} distinct integers in "
            f"{rows_text(len(values))}"
        )
    return ""


def type_column(values: pd.Series, name: str, declared: str | None, path: Path) -> ColumnInfo:
    """Decide (or check) one input column's kind from its cleaned text values."""
    n_missing = int(values.isna().sum())
    present = values.dropna()
    n_distinct = int(present.nunique())
    if declared == "ignore":
        return ColumnInfo(name, "ignore", n_missing, n_distinct, "listed under ignore", True)
    if present.empty:
        if declared:
            raise DatasetError(
                f"column '{name}' in {path} is listed under {declared} but is empty in every row; "
                f"list it under ignore or remove it from {declared}"
            )
        return ColumnInfo(name, "ignore", n_missing, 0, "is empty in every row")
    numbers = pd.to_numeric(present, errors="coerce")
    not_number = numbers.isna() | ~np.isfinite(numbers.to_numpy(dtype=float))
    top = tuple(str(v) for v in present.value_counts().index[:5])
    if declared == "numeric":
        if not_number.any():
            first = int(not_number.to_numpy().nonzero()[0][0])
            raise DatasetError(
                f"column '{name}' in {path} is listed under numeric but holds non-numeric values "
                f"({present.iloc[first]!r} on line {line_number(present.index[first])}; "
                f"{rows_text(int(not_number.sum()))} in all); "
                "fix them, leave those cells empty to mark them missing, or list the column under "
                "categorical"
            )
        return ColumnInfo(name, "numeric", n_missing, n_distinct, "", True)
    if declared == "categorical":
        return ColumnInfo(name, "categorical", n_missing, n_distinct, "", True, top)
    if n_distinct == 1 and n_missing == 0:
        return ColumnInfo(
            name,
            "ignore",
            n_missing,
            n_distinct,
            f"holds the same value ({present.iloc[0]!r}) in every row, nothing to learn from",
            hint="list it under numeric or categorical to use it",
        )
    if not not_number.any():
        reason = identifier_reason(name, numbers)
        if reason:
            return ColumnInfo(
                name,
                "ignore",
                n_missing,
                n_distinct,
                reason,
                hint="list it under numeric to use it",
            )
        return ColumnInfo(name, "numeric", n_missing, n_distinct)
    info = _text_kind(name, present, n_missing, n_distinct, top)
    strays = int(not_number.sum())
    if len(present) - strays >= MIN_STRAY_NUMBERS and strays <= MAX_STRAY_SHARE * len(present):
        first = int(not_number.to_numpy().nonzero()[0][0])
        treated = "ignored" if info.kind == "ignore" else "treated as text (categorical)"
        info = dataclasses.replace(
            info,
            note=(
                f"column '{name}' holds numbers but {present.iloc[first]!r} on line "
                f"{line_number(present.index[first])} ({rows_text(strays)} of text in all), so "
                f"it is {treated}; fix those cells or leave them empty to use it as numbers"
            ),
        )
    return info


def _text_kind(
    name: str, present: pd.Series, n_missing: int, n_distinct: int, top: tuple[str, ...]
) -> ColumnInfo:
    """An unlisted column that is not all numbers: categorical, or ignored (and why)."""
    if n_distinct > MAX_CATEGORIES:
        return ColumnInfo(
            name,
            "ignore",
            n_missing,
            n_distinct,
            f"is text with {n_distinct:,} distinct values, too many to one-hot encode (more than "
            f"{MAX_CATEGORIES})",
            hint="list it under categorical to encode it anyway, or under ignore to silence this",
        )
    if len(present) >= 20 and n_distinct == len(present):
        return ColumnInfo(
            name,
            "ignore",
            n_missing,
            n_distinct,
            "holds a different text in every row, like an identifier",
            hint="list it under categorical to encode it anyway",
        )
    return ColumnInfo(name, "categorical", n_missing, n_distinct, "", False, top)


def numeric_array(values: pd.Series, name: str) -> np.ndarray:
    """A numeric column as float32 ``(n, 1)`` with NaN for missing; non-numbers are an error."""
    text = (
        clean_text(values)
        if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values)
        else values
    )
    numbers = pd.to_numeric(text, errors="coerce")
    bad = (numbers.isna() & text.notna()) | np.isinf(numbers.to_numpy(dtype=float))
    if bad.any():
        first = int(bad.to_numpy().nonzero()[0][0])
        raise DatasetError(
            f"column '{name}' must hold numbers, but holds {text.iloc[first]!r} on line "
            f"{line_number(text.index[first])}; fix it or leave the cell empty"
        )
    return numbers.to_numpy(dtype=np.float32, na_value=np.nan).reshape(-1, 1)


def category_array(values: pd.Series) -> np.ndarray:
    """A categorical column as strings ``(n, 1)``; missing values become "" (out of vocabulary)."""
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        numbers = values.astype(float)
        text = ["" if math.isnan(v) else label_text(v) for v in numbers]
    else:
        text = [
            ""
            if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA
            else str(v).strip()
            for v in values
        ]
    return np.asarray(text, dtype=object).reshape(-1, 1)


__all__ = [
    "KINDS",
    "ColumnInfo",
    "identifier_reason",
    "looks_like_identifier",
    "category_array",
    "numeric_array",
    "type_column",
]
