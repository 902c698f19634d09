"""Your own CSV tables: reading, column typing, task inference and in-model preprocessing.

A study with ``[data] dataset = "csv"`` reads one CSV file. Every column but the target is
*numeric* (standardised with the training split's mean and variance; a missing value becomes
the training mean, and columns with gaps get a 0/1 "was missing" input), *categorical*
(one-hot over the values seen in the training split, plus one out-of-vocabulary slot that
unseen values and missing values share) or *ignored*. Columns the study file does not list are
typed from their values; the decisions that drop a column are reported as a
:class:`~tuner.errors.DataWarning`.

The fitted preprocessing lives inside the Keras model, which takes one named input per column
(numbers as float32 with NaN for missing, categories as strings), so a saved model scores raw
rows whose columns come in any order.
"""

from __future__ import annotations

import difflib
import math
import re
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from tuner.errors import ConfigError, DatasetError, DataWarning, first_line
from tuner.ml.backend import load_keras

if TYPE_CHECKING:
    import keras

    from tuner.config.schema import DataConfig
    from tuner.data.datasets import Splits

CSV_DATASET = "csv"
#: Fewest rows (with a target) a table needs to be split into train, validation and test.
MIN_ROWS = 10
#: Most classes a target may have.
MAX_CLASSES = 100
#: A numeric target with at most this many distinct integer values is a class label.
MAX_INTEGER_CLASSES = 20
#: An unlisted text column with more distinct values than this is ignored (with a warning).
MAX_CATEGORIES = 100
#: Fields of ``[data]`` that only a CSV study uses.
TABLE_FIELDS = ("path", "target", "numeric", "categorical", "ignore", "missing_indicator", "positive_class")
KINDS = ("numeric", "categorical", "ignore")

#: Layer names the model uses; an input column with one of these names gets a suffixed tensor name.
_RESERVED_NAMES = re.compile(r"(dense|dropout|lookup)_\d+|probability|probabilities|standardized|prediction|numeric_columns|impute_and_scale|encoded")
_ID_NAME = re.compile(r"(?i)(id|index|key|row|rowid|row_id|row_number|unnamed: \d+)|.*[_\s.-]id|.*[a-z]I[dD]")
_OOV_TOKEN = "[UNK]"

# Keras warns when a dict input's key differs from its tensor name, which happens only for
# columns whose names Keras cannot use as-is ("/" in the name, or a reserved layer name).
warnings.filterwarnings("ignore", message="When providing `inputs` as a dict, all keys in the dict must match", category=UserWarning)


# --------------------------------------------------------------------------- study-file fields


def parse_table_fields(table: Any, dataset: str, source: str) -> dict[str, Any]:
    """Read the CSV fields of a ``[data]`` table (a ``config._Table``) into DataConfig keywords."""
    given = [k for k in TABLE_FIELDS if table.has(k)]
    out: dict[str, Any] = {"class_weight": _class_weight_field(table)}
    if dataset != CSV_DATASET:
        if given:
            table.fail(f"[data] {given[0]} only applies to dataset = \"{CSV_DATASET}\"; remove it")
        return out
    for key, what in (("path", 'path = "table.csv" (relative to the study file\'s folder)'), ("target", 'target = "column to predict"')):
        if table.string(key, None) in (None, ""):
            table.fail(f"[data] {key} is missing; dataset = \"{CSV_DATASET}\" needs {what}")
    out["path"] = resolve_csv_path(table.raw["path"], source)
    out["target"] = table.raw["target"]
    seen: dict[str, str] = {}
    for kind in ("numeric", "categorical", "ignore"):
        names = _string_list(table, kind)
        for name in names:
            if name == out["target"]:
                table.fail(f"[data] {kind} lists the target column '{name}'; the target is predicted, not an input — remove it from {kind}")
            if name in seen:
                table.fail(f"[data] column '{name}' is listed under both {seen[name]} and {kind}; keep it in one list")
            seen[name] = kind
        out[kind] = names
    indicator = table.raw.get("missing_indicator", True)
    if not isinstance(indicator, bool):
        table.fail(f"[data] missing_indicator must be true or false, got {indicator!r}")
    out["missing_indicator"] = indicator
    positive = table.raw.get("positive_class")
    if positive is not None and (isinstance(positive, bool) or not isinstance(positive, (str, int))):
        table.fail(f"[data] positive_class must be a class label such as \"yes\" or 1, got {positive!r}")
    out["positive_class"] = None if positive is None else str(positive)
    return out


def _string_list(table: Any, key: str) -> tuple[str, ...]:
    value = table.raw.get(key, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        table.fail(f"[data] {key} must be a list of column names, e.g. {key} = [\"age\", \"bmi\"]; got {value!r}")
    if len(set(value)) != len(value):
        twice = next(v for v in value if value.count(v) > 1)
        table.fail(f"[data] {key} lists the column '{twice}' twice")
    return tuple(value)


def _class_weight_field(table: Any) -> str | tuple[tuple[str, float], ...] | None:
    value = table.raw.get("class_weight")
    if value is None:
        return None
    if value == "balanced":
        return "balanced"
    if isinstance(value, Mapping) and value:
        pairs = []
        for label, weight in value.items():
            if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not weight > 0 or not math.isfinite(weight):
                table.fail(f"[data] class_weight for class '{label}' must be a positive number, got {weight!r}")
            pairs.append((str(label), float(weight)))
        return tuple(pairs)
    table.fail(f"[data] class_weight must be \"balanced\" or a table of class → weight, e.g. class_weight = {{ yes = 10, no = 1 }}; got {value!r}")
    return None


def resolve_csv_path(value: Any, source: str) -> str:
    """``[data] path`` as an absolute path; a relative one is relative to the study file's folder."""
    path = Path(str(value)).expanduser()
    if not path.is_absolute():
        base = Path(source).parent if source and not source.startswith("<") else Path.cwd()
        path = base / path
    return str(path.resolve())


def infer_table_task(data: DataConfig) -> str:
    """The task a CSV study's target column implies (reads that one column)."""
    path = Path(data.path or "")
    header = read_csv(path, nrows=0)
    _check_target(header, data.target or "", path)
    return infer_task(_clean_text(read_csv(path, usecols=[data.target])[data.target]), data.target or "", path)


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


def _clean_text(values: pd.Series) -> pd.Series:
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


def _is_identifier(name: str, numbers: pd.Series) -> bool:
    values = numbers.dropna()
    if len(values) < 20 or values.nunique() != len(values) or not bool((values == np.round(values)).all()):
        return False
    consecutive = values.max() - values.min() + 1 == len(values)
    return bool(consecutive or _ID_NAME.fullmatch(name.strip()))


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
    if not not_number.any():
        if _is_identifier(name, numbers):
            return ColumnInfo(name, "ignore", n_missing, n_distinct, "holds a different integer in every row, like an identifier", hint="list it under numeric to use it")
        return ColumnInfo(name, "numeric", n_missing, n_distinct)
    if n_distinct > MAX_CATEGORIES:
        return ColumnInfo(name, "ignore", n_missing, n_distinct, f"is text with {n_distinct:,} distinct values, too many to one-hot encode (more than {MAX_CATEGORIES})", hint="list it under categorical to encode it anyway, or under ignore to silence this")
    if len(present) >= 20 and n_distinct == len(present):
        return ColumnInfo(name, "ignore", n_missing, n_distinct, "holds a different text in every row, like an identifier", hint="list it under categorical to encode it anyway")
    return ColumnInfo(name, "categorical", n_missing, n_distinct, "", False, top)


def numeric_array(values: pd.Series, name: str) -> np.ndarray:
    """A numeric column as float32 ``(n, 1)`` with NaN for missing; non-numbers are an error."""
    text = _clean_text(values) if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values) else values
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
    labels = _clean_text(frame[target])
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
    infos = [type_column(_clean_text(frame[c]), str(c), declared.get(str(c)), path) for c in frame.columns if c != target]
    notes += [c.warning for c in infos if c.kind == "ignore" and not c.declared]
    kept = [c for c in infos if c.kind != "ignore"]
    if not kept:
        raise DatasetError(f"CSV file {path} has no usable input column: every column but the target '{target}' is ignored; list some under [data] numeric or categorical")
    arrays = {c.name: numeric_array(frame[c.name], c.name) if c.kind == "numeric" else category_array(_clean_text(frame[c.name])) for c in kept}
    return Table(path, target, task, inferred, len(frame), tuple(infos), arrays, y, class_names, tuple(notes))


# --------------------------------------------------------------------------- fitted preprocessing


@dataclass(frozen=True)
class NumericColumn:
    name: str
    mean: float
    variance: float
    indicator: bool  # a 0/1 "was missing" input beside the value


@dataclass(frozen=True)
class CategoricalColumn:
    name: str
    vocabulary: tuple[str, ...]  # the training split's values; anything else is out of vocabulary


@dataclass(frozen=True)
class TableSchema:
    """The preprocessing of a table, fitted on its training split."""

    numeric: tuple[NumericColumn, ...]
    categorical: tuple[CategoricalColumn, ...]

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.numeric) + tuple(c.name for c in self.categorical)

    @property
    def encoded_width(self) -> int:
        """Width of the encoded input the first Dense layer sees."""
        return len(self.numeric) + sum(c.indicator for c in self.numeric) + sum(len(c.vocabulary) + 1 for c in self.categorical)


def fit_schema(train: Mapping[str, np.ndarray], kinds: Mapping[str, str], *, missing_indicator: bool = True, has_missing: Iterable[str] = ()) -> tuple[TableSchema, list[str]]:
    """Means, variances and vocabularies from the training rows; notes for columns dropped."""
    has_missing = set(has_missing)
    numeric, categorical, notes = [], [], []
    for name, kind in kinds.items():
        values = train[name]
        if kind == "numeric":
            present = values[~np.isnan(values)].astype(np.float64)
            if present.size == 0:
                notes.append(f"column '{name}' is empty in every training row; ignored")
                continue
            variance = float(present.var())
            numeric.append(NumericColumn(name, float(present.mean()), variance if variance > 1e-12 else 1.0, missing_indicator and name in has_missing))
        else:
            vocabulary = sorted({str(v) for v in values.ravel() if v != "" and v != _OOV_TOKEN})
            if not vocabulary:
                notes.append(f"column '{name}' is empty in every training row; ignored")
                continue
            categorical.append(CategoricalColumn(name, tuple(vocabulary)))
    if not numeric and not categorical:
        raise DatasetError("no input column has a value in the training rows; check the CSV")
    return TableSchema(tuple(numeric), tuple(categorical)), notes


def input_names(columns: Sequence[str]) -> dict[str, str]:
    """Column → Keras tensor name: the column's own name wherever Keras can use it."""
    out: dict[str, str] = {}
    used: set[str] = set()
    for column in columns:
        name = column.replace("/", "_") or "column"
        base, i = name, 1
        while _RESERVED_NAMES.fullmatch(name) or name in used:
            name = f"{base}_column" if i == 1 else f"{base}_column_{i}"
            i += 1
        used.add(name)
        out[column] = name
    return out


def table_inputs(schema: TableSchema) -> tuple[dict[str, Any], Any]:
    """Keras inputs (one per column) and the encoded tensor the MLP starts from."""
    keras = load_keras()

    names = input_names(schema.columns)
    inputs: dict[str, Any] = {}
    for col in schema.numeric:
        inputs[col.name] = keras.Input(shape=(1,), dtype="float32", name=names[col.name])
    for col in schema.categorical:
        inputs[col.name] = keras.Input(shape=(1,), dtype="string", name=names[col.name])
    parts = []
    if schema.numeric:
        values = [inputs[c.name] for c in schema.numeric]
        raw = keras.layers.Concatenate(name="numeric_columns")(values) if len(values) > 1 else values[0]
        parts.append(_impute_and_scale(schema.numeric)(raw))
    for j, col in enumerate(schema.categorical):
        lookup = keras.layers.StringLookup(vocabulary=list(col.vocabulary), num_oov_indices=1, output_mode="one_hot", name=f"lookup_{j}")
        parts.append(lookup(inputs[col.name]))
    encoded = keras.layers.Concatenate(name="encoded")(parts) if len(parts) > 1 else parts[0]
    return inputs, encoded


def _impute_and_scale(numeric: Sequence[NumericColumn]) -> keras.Model:
    """Missing → training mean, then standardise; 0/1 indicators for columns with gaps.

    A nested model, so the names of its operations cannot clash with column names.
    """
    keras = load_keras()
    ops = keras.ops

    means = np.array([c.mean for c in numeric], dtype=np.float32)
    variances = np.array([c.variance for c in numeric], dtype=np.float32)
    values = keras.Input(shape=(len(numeric),), dtype="float32", name="values")
    missing = ops.isnan(values)
    filled = ops.where(missing, means, values)
    out = keras.layers.Normalization(mean=means, variance=variances, name="standardize")(filled)
    flagged = [i for i, c in enumerate(numeric) if c.indicator]
    if flagged:
        indicators = ops.cast(ops.take(missing, flagged, axis=1), "float32")
        out = keras.layers.Concatenate(name="with_indicators")([out, indicators])
    return keras.Model(values, out, name="impute_and_scale")


def to_model_inputs(x: Any) -> Any:
    """Column arrays as Keras takes them: tensors (Keras refuses NumPy arrays of strings)."""
    if not isinstance(x, Mapping):
        return x
    import tensorflow as tf

    return {k: v if tf.is_tensor(v) else tf.constant(v) for k, v in x.items()}


# --------------------------------------------------------------------------- splits


def class_weights(spec: str | Sequence[tuple[str, float]] | None, y_train: np.ndarray, class_names: Sequence[str]) -> dict[int, float] | None:
    """``[data] class_weight`` as Keras wants it: class index → weight (missing classes weigh 1)."""
    if spec is None:
        return None
    k = len(class_names)
    if spec == "balanced":
        counts = np.bincount(np.asarray(y_train, dtype=np.int64), minlength=k)
        n = counts.sum()
        return {i: float(n / (k * c)) if c else 1.0 for i, c in enumerate(counts)}
    weights = {i: 1.0 for i in range(k)}
    index = {name: i for i, name in enumerate(class_names)}
    for label, weight in spec:
        if label not in index:
            raise DatasetError(f"[data] class_weight names the class '{label}', which the target does not have; its classes are: {', '.join(class_names)}")
        weights[index[label]] = float(weight)
    return weights


def load_table_splits(cfg: DataConfig) -> Splits:
    """Read ``cfg.path``, split it like any dataset, and fit the preprocessing on the training rows."""
    from tuner.data.datasets import Splits, split_arrays

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


# --------------------------------------------------------------------------- raw rows → predictions


def model_columns(model: keras.Model) -> dict[str, str]:
    """The columns a table model takes (name → numeric / categorical); empty for matrix models."""
    struct = model.input
    if not isinstance(struct, Mapping):
        return {}
    return {name: ("categorical" if str(t.dtype) == "string" else "numeric") for name, t in struct.items()}


def frame_inputs(frame: pd.DataFrame, columns: Mapping[str, str], *, source: str = "the input") -> dict[str, np.ndarray]:
    """Model inputs from raw rows: the model's columns, in any order; other columns are ignored."""
    absent = [c for c in columns if c not in frame.columns]
    if absent:
        raise DatasetError(f"{source} lacks the column{'s' if len(absent) > 1 else ''} {', '.join(repr(c) for c in absent)} that the model needs; it needs: {', '.join(columns)}")
    out = {}
    for name, kind in columns.items():
        values = frame[name]
        if kind == "numeric":
            try:
                out[name] = numeric_array(values, name)
            except DatasetError as exc:
                raise DatasetError(f"{source}: {exc}") from None
        else:
            out[name] = category_array(_clean_text(values) if not pd.api.types.is_numeric_dtype(values) else values)
    return out


def predict_table(model: keras.Model, frame: pd.DataFrame, *, task: str, class_names: Sequence[str] = (), threshold: float | None = None, source: str = "the input") -> pd.DataFrame:
    """Score raw rows with a table model: ``prediction`` and ``probability_<class>`` columns.

    A binary model's label uses ``threshold`` (default 0.5) on the positive class's probability.
    """
    from tuner.artifacts import predictions_frame
    from tuner.ml.training import predict

    columns = model_columns(model)
    if not columns:
        raise DatasetError("this model takes a feature matrix, not named columns; it was not trained on a CSV table")
    outputs = predict(model, frame_inputs(frame, columns, source=source))
    names = list(class_names) or [str(i) for i in range(max(outputs.shape[1], 2))]
    return predictions_frame(outputs, task=task, class_names=names if task != "regression" else (), threshold=threshold, index=frame.index)


__all__ = [
    "CSV_DATASET",
    "ColumnInfo",
    "Table",
    "TableSchema",
    "class_weights",
    "fit_schema",
    "frame_inputs",
    "infer_task",
    "load_table",
    "load_table_splits",
    "model_columns",
    "predict_table",
    "read_csv",
    "table_inputs",
    "to_model_inputs",
]
