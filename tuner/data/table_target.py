"""The target column of a CSV table: the task it implies and its encoding for the model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from tuner.data.csv_file import line_number
from tuner.errors import DatasetError

#: Most classes a target may have.
MAX_CLASSES = 100
#: A numeric target with at most this many distinct integer values is a class label.
MAX_INTEGER_CLASSES = 20


def infer_task(labels: pd.Series, target: str, path: Path) -> str:
    """binary / multiclass / regression from the target's values (missing values skipped)."""
    present = labels.dropna()
    if present.empty:
        raise DatasetError(
            f"target column '{target}' in {path} is empty in every row; choose the column that "
            "holds what to predict"
        )
    numbers = pd.to_numeric(present, errors="coerce")
    numeric = bool(numbers.notna().all() and np.isfinite(numbers.to_numpy(dtype=float)).all())
    distinct = numbers.nunique() if numeric else present.nunique()
    if distinct < 2:
        raise DatasetError(
            f"target column '{target}' in {path} has a single value ({present.iloc[0]!r}) in all "
            f"{len(present):,} rows; there is nothing to learn — a target needs at least two "
            "classes (or varying numbers)"
        )
    if distinct == 2:
        return "binary"
    if numeric:
        integral = bool((numbers == np.round(numbers)).all())
        return "multiclass" if integral and distinct <= MAX_INTEGER_CLASSES else "regression"
    if distinct <= MAX_CLASSES:
        return "multiclass"
    raise DatasetError(
        f"target column '{target}' in {path} is text with {distinct:,} distinct values: too many "
        f"to be classes (at most {MAX_CLASSES}) and not numbers to regress on; choose another "
        "target"
    )


def label_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def encode_target(
    labels: pd.Series, task: str, target: str, path: Path, positive_class: str | None = None
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Targets as the model sees them: class indices (and the class names) or float32 values."""
    numbers = pd.to_numeric(labels, errors="coerce")
    bad = numbers.isna() | ~np.isfinite(numbers.to_numpy(dtype=float))
    if task == "regression":
        if bad.any():
            where = bad.to_numpy().nonzero()[0][0]
            raise DatasetError(
                f"[objective] task = \"regression\" but target column '{target}' holds "
                f"{labels.iloc[where]!r} on line {line_number(labels.index[where])}; "
                "regression needs numbers — fix the value, or remove task to classify the column"
            )
        return numbers.to_numpy(dtype=np.float32), ()
    if not bad.any():
        keys = numbers.map(label_text)
        names = [label_text(v) for v in sorted(numbers.unique())]
    else:
        keys = labels.astype(str)
        names = sorted(keys.unique())
    if task == "binary" and len(names) != 2:
        shown = ", ".join(names[:10]) + (", …" if len(names) > 10 else "")
        raise DatasetError(
            f"[objective] task = \"binary\" but target column '{target}' has {len(names)} classes "
            f'({shown}); set task = "multiclass", or remove task to infer it'
        )
    if len(names) > MAX_CLASSES:
        raise DatasetError(
            f"target column '{target}' has {len(names):,} classes, more than {MAX_CLASSES}; set "
            '[objective] task = "regression" if it is a number, or choose another target'
        )
    if positive_class is not None:
        if task != "binary":
            raise DatasetError(
                f"[data] positive_class only applies to a binary target, and '{target}' is "
                f"{task}; remove positive_class"
            )
        wanted = positive_class
        if not bad.any():  # numeric labels: "1.0" names the class "1"
            number = pd.to_numeric(pd.Series([positive_class]), errors="coerce").iloc[0]
            wanted = positive_class if pd.isna(number) else label_text(number)
        if wanted not in names:
            raise DatasetError(
                f"[data] positive_class {positive_class!r} is not a class of target column "
                f"'{target}'; its classes are: {', '.join(names)}"
            )
        names = [n for n in names if n != wanted] + [wanted]
    index = {name: i for i, name in enumerate(names)}
    return keys.map(index).to_numpy(dtype=np.int64), tuple(names)


__all__ = ["MAX_CLASSES", "MAX_INTEGER_CLASSES", "encode_target", "infer_task", "label_text"]
