"""The preprocessing of a CSV table, fitted on its training split (NumPy only).

Numeric columns keep the training mean and variance (and whether a 0/1 "was missing" input
goes beside them); categorical columns keep the training split's values as their vocabulary.
The Keras layers that apply it live in :mod:`tuner.ml.table_layers`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from tuner.errors import DatasetError

#: Keras' out-of-vocabulary token: never part of a fitted vocabulary.
OOV_TOKEN = "[UNK]"


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
        return (
            len(self.numeric)
            + sum(c.indicator for c in self.numeric)
            + sum(len(c.vocabulary) + 1 for c in self.categorical)
        )


def fit_schema(
    train: Mapping[str, np.ndarray],
    kinds: Mapping[str, str],
    *,
    missing_indicator: bool = True,
    has_missing: Iterable[str] = (),
) -> tuple[TableSchema, list[str]]:
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
            numeric.append(
                NumericColumn(
                    name,
                    float(present.mean()),
                    variance if variance > 1e-12 else 1.0,
                    missing_indicator and name in has_missing,
                )
            )
        else:
            vocabulary = sorted({str(v) for v in values.ravel() if v != "" and v != OOV_TOKEN})
            if not vocabulary:
                notes.append(f"column '{name}' is empty in every training row; ignored")
                continue
            categorical.append(CategoricalColumn(name, tuple(vocabulary)))
    if not numeric and not categorical:
        raise DatasetError("no input column has a value in the training rows; check the CSV")
    return TableSchema(tuple(numeric), tuple(categorical)), notes


__all__ = ["OOV_TOKEN", "CategoricalColumn", "NumericColumn", "TableSchema", "fit_schema"]
