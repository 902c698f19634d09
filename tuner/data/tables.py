"""Your own CSV tables: reading, column typing and target encoding (pandas and NumPy only).

A study with ``[data] dataset = "csv"`` reads one CSV file. Every column but the target is
*numeric* (standardised with the training split's mean and variance; a missing value becomes
the training mean, and columns with gaps get a 0/1 "was missing" input), *categorical*
(one-hot over the values seen in the training split, plus one out-of-vocabulary slot that
unseen values and missing values share) or *ignored*. Columns the study file does not list are
typed from their values; the decisions that drop a column are reported as a
:class:`~tuner.errors.DataWarning`.

The preprocessing is fitted on the training split (:mod:`tuner.data.table_schema`) and lives
inside the Keras model (:mod:`tuner.ml.table_layers`), which takes one named input per column.
"""

from __future__ import annotations

import difflib
import math
import re
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from tuner.data.splits import Splits, class_weights, split_arrays
from tuner.data.table_schema import fit_schema
from tuner.errors import ConfigError, DatasetError, DataWarning, first_line

if TYPE_CHECKING:
    from tuner.config.schema import DataConfig

CSV_DATASET = "csv"
#: Fewest rows (with a target) a table needs to be split into train, validation and test.
MIN_ROWS = 10
#: Most classes a target may have.
MAX_CLASSES = 100
#: A numeric target with at most this many distinct integer values is a class label.
MAX_INTEGER_CLASSES = 20
#: An unlisted text column with more distinct values than this is ignored (with a warning).
MAX_CATEGORIES = 100
#: An unlisted integer column named like an identifier (``id``, ``Id``, ``user_id`` …) with at
#: least this share of distinct values is an identifier, and ignored (with a warning).
ID_DISTINCT_SHARE = 0.9
#: Fewest rows (with a value) a column needs before it may be judged an identifier.
MIN_ID_ROWS = 20
KINDS = ("numeric", "categorical", "ignore")

_ID_NAME = re.compile(r"(?i)(id|index|key|row|rowid|row_id|row_number|unnamed: \d+)|.*[_\s.-]id|.*[a-z]I[dD]")


# --------------------------------------------------------------------------- study files


def infer_table_task(data: DataConfig) -> str:
    """The task a CSV study's target column implies (reads that one column)."""
    path = Path(data.path or "")
    header = read_csv(path, nrows=0)
    _check_target(header, data.target or "", path)
    return infer_task(clean_text(read_csv(path, usecols=[data.target])[data.target]), data.target or "", path)


# --------------------------------------------------------------------------- reading


def read_csv(path: str | Path, *, usecols: Sequence[str] | None = None, nrows: int | None = None) -> pd.DataFrame:
    """A CSV file as text columns (missing cells as NaN), or a one-line :class:`DatasetError`."""
    path = Path(path)
    if not path.is_file():
        if path.exists():
            raise DatasetError(f"{path} is not a file; [data] path must name a CSV file")
        raise DatasetError(f"CSV file {path} does not exist; fix [data] path (a relative path is relative to the study file's folder)")
    try:
        with path.open(encoding="utf-8-sig") as fh:
            first = fh.readline()
        sep = max((",", ";", "\t"), key=first.count) if first.strip() else ","
        frame = pd.read_csv(path, sep=sep, dtype=str, skipinitialspace=True, usecols=usecols, nrows=nrows, encoding="utf-8-sig")
    except pd.errors.EmptyDataError:
        raise DatasetError(f"CSV file {path} is empty; it needs a header row naming the columns, then one row per example") from None
    except pd.errors.ParserError as exc:
        raise DatasetError(f"CSV file {path} cannot be parsed: {first_line(exc)}") from None
    except UnicodeDecodeError:
        raise DatasetError(f"CSV file {path} is not UTF-8 text; save it as UTF-8 and run again") from None
    except OSError as exc:
        raise DatasetError(f"CSV file {path} cannot be read ({exc.strerror or exc})") from None
    if nrows is None and len(frame) == 0:
        raise DatasetError(f"CSV file {path} has a header but no data rows; add one row per example below the header")
    return frame


def _check_target(frame: pd.DataFrame, target: str, path: Path) -> None:
    if target in frame.columns:
        return
    hint = difflib.get_close_matches(target, [str(c) for c in frame.columns], n=1)
    extra = f" (did you mean '{hint[0]}'?)" if hint else ""
    raise DatasetError(f"target column '{target}' is not in {path}{extra}; its columns are: {', '.join(map(str, frame.columns))}")


def clean_text(values: pd.Series) -> pd.Series:
    """Stripped text; empty cells become missing (NaN)."""
    text = values.astype("string").str.strip()
    keep = (text.notna() & (text != "")).fillna(False).astype(bool)
    return text.astype(object).where(keep, np.nan)


def _rows(n: int) -> str:
    return f"{n:,} row{'s' if n != 1 else ''}"


def _line(frame_index: Any) -> int:
    return int(frame_index) + 2  # the header is line 1


# --------------------------------------------------------------------------- target


def infer_task(labels: pd.Series, target: str, path: Path) -> str:
    """binary / multiclass / regression from the target's values (missing values skipped)."""
    present = labels.dropna()
    if present.empty:
        raise DatasetError(f"target column '{target}' in {path} is empty in every row; choose the column that holds what to predict")
    numbers = pd.to_numeric(present, errors="coerce")
    numeric = bool(numbers.notna().all() and np.isfinite(numbers.to_numpy(dtype=float)).all())
    distinct = numbers.nunique() if numeric else present.nunique()
    if distinct < 2:
        raise DatasetError(f"target column '{target}' in {path} has a single value ({present.iloc[0]!r}) in all {len(present):,} rows; there is nothing to learn — a target needs at least two classes (or varying numbers)")
    if distinct == 2:
        return "binary"
    if numeric:
        integral = bool((numbers == np.round(numbers)).all())
        return "multiclass" if integral and distinct <= MAX_INTEGER_CLASSES else "regression"
    if distinct <= MAX_CLASSES:
        return "multiclass"
    raise DatasetError(f"target column '{target}' in {path} is text with {distinct:,} distinct values: too many to be classes (at most {MAX_CLASSES}) and not numbers to regress on; choose another target")


def _label_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def encode_target(labels: pd.Series, task: str, target: str, path: Path, positive_class: str | None = None) -> tuple[np.ndarray, tuple[str, ...]]:
    """Targets as the model sees them: class indices (and the class names) or float32 values."""
    numbers = pd.to_numeric(labels, errors="coerce")
    bad = numbers.isna() | ~np.isfinite(numbers.to_numpy(dtype=float))
    if task == "regression":
        if bad.any():
            where = bad.to_numpy().nonzero()[0][0]
            raise DatasetError(f"[objective] task = \"regression\" but target column '{target}' holds {labels.iloc[where]!r} on line {_line(labels.index[where])}; regression needs numbers — fix the value, or remove task to classify the column")
        return numbers.to_numpy(dtype=np.float32), ()
    if not bad.any():
        keys = numbers.map(_label_text)
        names = [_label_text(v) for v in sorted(numbers.unique())]
    else:
        keys = labels.astype(str)
        names = sorted(keys.unique())
    if task == "binary" and len(names) != 2:
        shown = ", ".join(names[:10]) + (", …" if len(names) > 10 else "")
        raise DatasetError(f"[objective] task = \"binary\" but target column '{target}' has {len(names)} classes ({shown}); set task = \"multiclass\", or remove task to infer it")
    if len(names) > MAX_CLASSES:
        raise DatasetError(f"target column '{target}' has {len(names):,} classes, more than {MAX_CLASSES}; set [objective] task = \"regression\" if it is a number, or choose another target")
    if positive_class is not None:
        if task != "binary":
            raise DatasetError(f"[data] positive_class only applies to a binary target, and '{target}' is {task}; remove positive_class")
        wanted = positive_class
        if not bad.any():  # numeric labels: "1.0" names the class "1"
            number = pd.to_numeric(pd.Series([positive_class]), errors="coerce").iloc[0]
            wanted = positive_class if pd.isna(number) else _label_text(number)
        if wanted not in names:
            raise DatasetError(f"[data] positive_class {positive_class!r} is not a class of target column '{target}'; its classes are: {', '.join(names)}")
        names = [n for n in names if n != wanted] + [wanted]
    index = {name: i for i, name in enumerate(names)}
    return keys.map(index).to_numpy(dtype=np.int64), tuple(names)


# --------------------------------------------------------------------------- columns


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

    @property
    def warning(self) -> str:
        """The message reporting that an unlisted column was ignored."""
        return f"column '{self.name}' {self.reason}; ignored" + (f" ({self.hint})" if self.hint else "")


def _identifier_reason(name: str, numbers: pd.Series) -> str:
    """Why an integer column looks like an identifier, or "" if it does not.

    A different integer in every row that is consecutive or named like an identifier; or a
    name like an identifier with nearly every value distinct (rows repeated for one id).
    """
    values = numbers.dropna()
    if len(values) < MIN_ID_ROWS or not bool((values == np.round(values)).all()):
        return ""
    distinct, named = int(values.nunique()), bool(_ID_NAME.fullmatch(name.strip()))
    if distinct == len(values):
        consecutive = values.max() - values.min() + 1 == len(values)
        return "holds a different integer in every row, like an identifier" if consecutive or named else ""
    if named and distinct >= ID_DISTINCT_SHARE * len(values):
        return f"is named like an identifier and holds {distinct:,} distinct integers in {_rows(len(values))}"
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
            raise DatasetError(f"column '{name}' in {path} is listed under {declared} but is empty in every row; list it under ignore or remove it from {declared}")
        return ColumnInfo(name, "ignore", n_missing, 0, "is empty in every row")
    numbers = pd.to_numeric(present, errors="coerce")
    not_number = numbers.isna() | ~np.isfinite(numbers.to_numpy(dtype=float))
    top = tuple(str(v) for v in present.value_counts().index[:5])
    if declared == "numeric":
        if not_number.any():
            first = int(not_number.to_numpy().nonzero()[0][0])
            raise DatasetError(
                f"column '{name}' in {path} is listed under numeric but holds non-numeric values "
                f"({present.iloc[first]!r} on line {_line(present.index[first])}; {_rows(int(not_number.sum()))} in all); "
                "fix them, leave those cells empty to mark them missing, or list the column under categorical"
            )
        return ColumnInfo(name, "numeric", n_missing, n_distinct, "", True)
    if declared == "categorical":
        return ColumnInfo(name, "categorical", n_missing, n_distinct, "", True, top)
    if n_distinct == 1 and n_missing == 0:
        return ColumnInfo(name, "ignore", n_missing, n_distinct, f"holds the same value ({present.iloc[0]!r}) in every row, nothing to learn from", hint="list it under numeric or categorical to use it")
    if not not_number.any():
        reason = _identifier_reason(name, numbers)
        if reason:
            return ColumnInfo(name, "ignore", n_missing, n_distinct, reason, hint="list it under numeric to use it")
        return ColumnInfo(name, "numeric", n_missing, n_distinct)
    if n_distinct > MAX_CATEGORIES:
        return ColumnInfo(name, "ignore", n_missing, n_distinct, f"is text with {n_distinct:,} distinct values, too many to one-hot encode (more than {MAX_CATEGORIES})", hint="list it under categorical to encode it anyway, or under ignore to silence this")
    if len(present) >= 20 and n_distinct == len(present):
        return ColumnInfo(name, "ignore", n_missing, n_distinct, "holds a different text in every row, like an identifier", hint="list it under categorical to encode it anyway")
    return ColumnInfo(name, "categorical", n_missing, n_distinct, "", False, top)


def numeric_array(values: pd.Series, name: str) -> np.ndarray:
    """A numeric column as float32 ``(n, 1)`` with NaN for missing; non-numbers are an error."""
    text = clean_text(values) if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values) else values
    numbers = pd.to_numeric(text, errors="coerce")
    bad = (numbers.isna() & text.notna()) | np.isinf(numbers.to_numpy(dtype=float))
    if bad.any():
        first = int(bad.to_numpy().nonzero()[0][0])
        raise DatasetError(f"column '{name}' must hold numbers, but holds {text.iloc[first]!r} on line {_line(text.index[first])}; fix it or leave the cell empty")
    return numbers.to_numpy(dtype=np.float32, na_value=np.nan).reshape(-1, 1)


def category_array(values: pd.Series) -> np.ndarray:
    """A categorical column as strings ``(n, 1)``; missing values become "" (out of vocabulary)."""
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        numbers = values.astype(float)
        text = ["" if math.isnan(v) else _label_text(v) for v in numbers]
    else:
        text = ["" if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA else str(v).strip() for v in values]
    return np.asarray(text, dtype=object).reshape(-1, 1)


# --------------------------------------------------------------------------- the loaded table


@dataclass(frozen=True, eq=False)
class Table:
    """A CSV read, checked and typed: the kept columns as model-ready arrays, targets encoded."""

    path: Path
    target: str
    task: str
    inferred_task: str
    n_rows: int
    columns: tuple[ColumnInfo, ...]
    arrays: dict[str, np.ndarray]
    y: np.ndarray
    class_names: tuple[str, ...]
    notes: tuple[str, ...]

    @property
    def kinds(self) -> dict[str, str]:
        return {c.name: c.kind for c in self.columns if c.kind != "ignore"}

    def class_counts(self) -> tuple[int, ...]:
        if not self.class_names:
            return ()
        return tuple(int(c) for c in np.bincount(self.y, minlength=len(self.class_names)))


def load_table(path: str | Path, target: str, *, numeric: Iterable[str] = (), categorical: Iterable[str] = (), ignore: Iterable[str] = (), task: str | None = None, positive_class: str | None = None) -> Table:
    """Read a CSV, check it, type its columns and encode its target."""
    path = Path(path)
    frame = read_csv(path)
    _check_target(frame, target, path)
    declared = {**{c: "numeric" for c in numeric}, **{c: "categorical" for c in categorical}, **{c: "ignore" for c in ignore}}
    for name, kind in declared.items():
        if name not in frame.columns:
            hint = difflib.get_close_matches(name, [str(c) for c in frame.columns], n=1)
            extra = f" (did you mean '{hint[0]}'?)" if hint else ""
            raise DatasetError(f"column '{name}' listed under [data] {kind} is not in {path}{extra}; its columns are: {', '.join(map(str, frame.columns))}")
    labels = clean_text(frame[target])
    inferred = infer_task(labels, target, path)
    notes: list[str] = []
    has_target = labels.notna()
    if not has_target.all():
        notes.append(f"dropped {int((~has_target).sum()):,} of {len(frame):,} rows whose target '{target}' is empty")
        frame, labels = frame.loc[has_target], labels.loc[has_target]
    if len(frame) < MIN_ROWS:
        raise DatasetError(f"CSV file {path} has {len(frame)} rows with a target; at least {MIN_ROWS} are needed to split it into train, validation and test")
    task = task or inferred
    y, class_names = encode_target(labels, task, target, path, positive_class)
    infos = [type_column(clean_text(frame[c]), str(c), declared.get(str(c)), path) for c in frame.columns if c != target]
    notes += [c.warning for c in infos if c.kind == "ignore" and not c.declared]
    kept = [c for c in infos if c.kind != "ignore"]
    if not kept:
        raise DatasetError(f"CSV file {path} has no usable input column: every column but the target '{target}' is ignored; list some under [data] numeric or categorical")
    arrays = {c.name: numeric_array(frame[c.name], c.name) if c.kind == "numeric" else category_array(clean_text(frame[c.name])) for c in kept}
    return Table(path, target, task, inferred, len(frame), tuple(infos), arrays, y, class_names, tuple(notes))


def load_table_splits(cfg: DataConfig) -> Splits:
    """Read ``cfg.path``, split it like any dataset, and fit the preprocessing on the training rows."""
    table = load_table(cfg.path or "", cfg.target or "", numeric=cfg.numeric, categorical=cfg.categorical, ignore=cfg.ignore, task=cfg.task, positive_class=cfg.positive_class)
    if table.task == "regression" and cfg.class_weight is not None:
        raise ConfigError("[data] class_weight applies to classification, but this target is a regression; remove class_weight")
    rows = np.arange(table.n_rows)
    r_train, y_train, r_val, y_val, r_test, y_test = split_arrays(cfg, rows, table.y, table.task != "regression")
    missing = [c.name for c in table.columns if c.n_missing]
    schema, notes = fit_schema({k: v[r_train] for k, v in table.arrays.items()}, table.kinds, missing_indicator=cfg.missing_indicator, has_missing=missing)
    for note in (*table.notes, *notes):
        warnings.warn(note, DataWarning, stacklevel=2)
    pick = lambda r: {c: table.arrays[c][r] for c in schema.columns}  # noqa: E731
    return Splits(
        pick(r_train), y_train, pick(r_val), y_val, pick(r_test), y_test,
        task=table.task,
        feature_names=schema.columns,
        class_names=table.class_names,
        table=schema,
        class_weight=class_weights(cfg.class_weight, y_train, table.class_names),
    )


__all__ = [
    "CSV_DATASET",
    "ColumnInfo",
    "Table",
    "category_array",
    "clean_text",
    "infer_table_task",
    "infer_task",
    "load_table",
    "load_table_splits",
    "numeric_array",
    "read_csv",
]
