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
Reading is in :mod:`tuner.data.csv_file`, column typing in :mod:`tuner.data.table_columns` and
the target in :mod:`tuner.data.table_target`; this module loads a whole table.
"""

from __future__ import annotations

import difflib
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tuner.data.csv_file import check_target, clean_text, read_csv
from tuner.data.splits import Splits, class_weights, split_arrays
from tuner.data.table_columns import (
    ColumnInfo,
    category_array,
    identifier_reason,
    numeric_array,
    type_column,
)
from tuner.data.table_schema import fit_schema
from tuner.data.table_target import encode_target, infer_task
from tuner.errors import ConfigError, DatasetError, DataWarning

if TYPE_CHECKING:
    from tuner.config.schema import DataConfig

CSV_DATASET = "csv"
#: Fewest rows (with a target) a table needs to be split into train, validation and test.
MIN_ROWS = 10


# --------------------------------------------------------------------------- study files


def infer_table_task(data: DataConfig) -> str:
    """The task a CSV study's target column implies (reads that one column)."""
    path = Path(data.path or "")
    header = read_csv(path, nrows=0)
    check_target(header, data.target or "", path)
    return target_task(
        clean_text(read_csv(path, usecols=[data.target])[data.target]), data.target or "", path
    )


def target_task(labels: Any, target: str, path: Path) -> str:
    """The task ``labels`` imply (see :func:`infer_task`); a target that reads like an
    identifier (a different integer in every row) is refused: nothing a model could learn."""
    import pandas as pd

    task = infer_task(labels, target, path)
    if task == "regression":
        numbers = pd.to_numeric(labels.dropna(), errors="coerce")
        like_id = identifier_reason(target, numbers) if numbers.notna().all() else ""
        if like_id:
            raise DatasetError(
                f"target column '{target}' in {path} {like_id}: a model cannot learn to predict "
                "it; choose the column that holds what to predict"
            )
    return task


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


def load_table(
    path: str | Path,
    target: str,
    *,
    numeric: Iterable[str] = (),
    categorical: Iterable[str] = (),
    ignore: Iterable[str] = (),
    task: str | None = None,
    positive_class: str | None = None,
) -> Table:
    """Read a CSV, check it, type its columns and encode its target."""
    path = Path(path)
    frame = read_csv(path)
    check_target(frame, target, path)
    declared = {
        **{c: "numeric" for c in numeric},
        **{c: "categorical" for c in categorical},
        **{c: "ignore" for c in ignore},
    }
    for name, kind in declared.items():
        if name not in frame.columns:
            hint = difflib.get_close_matches(name, [str(c) for c in frame.columns], n=1)
            extra = f" (did you mean '{hint[0]}'?)" if hint else ""
            raise DatasetError(
                f"column '{name}' listed under [data] {kind} is not in {path}{extra}; its columns "
                f"are: {', '.join(map(str, frame.columns))}"
            )
    labels = clean_text(frame[target])
    inferred = target_task(labels, target, path)
    notes: list[str] = []
    has_target = labels.notna()
    if not has_target.all():
        notes.append(
            f"dropped {int((~has_target).sum()):,} of {len(frame):,} rows whose target '{target}' "
            "is empty"
        )
        frame, labels = frame.loc[has_target], labels.loc[has_target]
    if len(frame) < MIN_ROWS:
        raise DatasetError(
            f"CSV file {path} has {len(frame)} rows with a target; at least {MIN_ROWS} are needed "
            "to split it into train, validation and test"
        )
    task = task or inferred
    y, class_names = encode_target(labels, task, target, path, positive_class)
    infos = [
        type_column(clean_text(frame[c]), str(c), declared.get(str(c)), path)
        for c in frame.columns
        if c != target
    ]
    notes += [c.warning for c in infos if c.kind == "ignore" and not c.declared]
    notes += [c.note for c in infos if c.note]
    kept = [c for c in infos if c.kind != "ignore"]
    if not kept:
        raise DatasetError(
            f"CSV file {path} has no usable input column: every column but the target '{target}' "
            "is ignored; list some under [data] numeric or categorical"
        )
    arrays = {
        c.name: numeric_array(frame[c.name], c.name)
        if c.kind == "numeric"
        else category_array(clean_text(frame[c.name]))
        for c in kept
    }
    return Table(
        path, target, task, inferred, len(frame), tuple(infos), arrays, y, class_names, tuple(notes)
    )


def load_table_splits(cfg: DataConfig) -> Splits:
    """Read ``cfg.path``, split it like any dataset, and fit the preprocessing on the training
    rows."""
    table = load_table(
        cfg.path or "",
        cfg.target or "",
        numeric=cfg.numeric,
        categorical=cfg.categorical,
        ignore=cfg.ignore,
        task=cfg.task,
        positive_class=cfg.positive_class,
    )
    if table.task == "regression" and cfg.class_weight is not None:
        raise ConfigError(
            "[data] class_weight applies to classification, but this target is a regression; "
            "remove class_weight"
        )
    rows = np.arange(table.n_rows)
    r_train, y_train, r_val, y_val, r_test, y_test = split_arrays(
        cfg, rows, table.y, table.task != "regression"
    )
    missing = [c.name for c in table.columns if c.n_missing]
    schema, notes = fit_schema(
        {k: v[r_train] for k, v in table.arrays.items()},
        table.kinds,
        missing_indicator=cfg.missing_indicator,
        has_missing=missing,
    )
    for note in (*table.notes, *notes):
        warnings.warn(note, DataWarning, stacklevel=2)
    pick = lambda r: {c: table.arrays[c][r] for c in schema.columns}  # noqa: E731
    return Splits(
        pick(r_train),
        y_train,
        pick(r_val),
        y_val,
        pick(r_test),
        y_test,
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
