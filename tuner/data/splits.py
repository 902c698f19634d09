"""Train / validation / test splits, fixed by ``[data] split_seed``, and class weights.

Classification splits are stratified (scikit-learn's ``train_test_split``); a dataset's
predefined test split is kept as it is.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from tuner.data.table_schema import TableSchema, fit_schema
from tuner.errors import DatasetError

if TYPE_CHECKING:
    from tuner.config.schema import DataConfig

#: ``[data] validation``: one validation split, or k folds of the train and validation rows.
VALIDATIONS = ("holdout", "kfold")
#: ``[data] folds``: the fewest and the most folds.
FOLD_LIMITS = (2, 20)
#: ``[data] kfold_model``: what model a cross-validated trial stands for: its fold models
#: averaged, or one model refit on every non-test row.
KFOLD_MODELS = ("average", "refit")


@dataclass(frozen=True, eq=False)
class Splits:
    """Train / validation / test arrays of one dataset, fixed by the split seed."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    task: str
    feature_names: tuple[str, ...]
    class_names: tuple[str, ...] = ()
    #: CSV tables: x_* are {column: (n, 1) array} and this is the preprocessing fitted on train.
    table: TableSchema | None = None
    #: ``[data] class_weight`` as class index → weight, passed to ``model.fit``.
    class_weight: dict[int, float] | None = None

    @property
    def n_features(self) -> int:
        """Width of the model's encoded input (for a table: after one-hot and indicators)."""
        if self.table is not None:
            return self.table.encoded_width
        return int(self.x_train.shape[1])

    @property
    def n_classes(self) -> int:
        return len(self.class_names)


def _split(
    x: np.ndarray, y: np.ndarray, fraction: float, seed: int, stratify: bool
) -> tuple[np.ndarray, ...]:
    from sklearn.model_selection import train_test_split  # on first use: a light import

    strat = y if stratify and np.unique(y, return_counts=True)[1].min() >= 2 else None
    return train_test_split(x, y, test_size=fraction, random_state=seed, stratify=strat)


def split_arrays(
    cfg: DataConfig,
    x: np.ndarray,
    y: np.ndarray,
    classify: bool,
    x_test: np.ndarray | None = None,
    y_test: np.ndarray | None = None,
) -> tuple[np.ndarray, ...]:
    """(x_train, y_train, x_val, y_val, x_test, y_test), stratified for classification.

    ``n_samples`` takes a stratified subset first; a predefined test split is kept.
    """
    if cfg.n_samples is not None and cfg.n_samples < len(x) and cfg.dataset != "blobs_xor":
        x, _, y, _ = _split(x, y, 1.0 - cfg.n_samples / len(x), cfg.split_seed, classify)
    if x_test is not None:
        if cfg.n_samples is not None and cfg.n_samples < len(x_test):
            x_test, _, y_test, _ = _split(
                x_test, y_test, 1.0 - cfg.n_samples / len(x_test), cfg.split_seed, classify
            )
        x_train, x_val, y_train, y_val = _split(
            x, y, cfg.validation_fraction, cfg.split_seed, classify
        )
    else:
        x_rest, x_test, y_rest, y_test = _split(x, y, cfg.test_fraction, cfg.split_seed, classify)
        val_share = cfg.validation_fraction / (1.0 - cfg.test_fraction)
        x_train, x_val, y_train, y_val = _split(x_rest, y_rest, val_share, cfg.split_seed, classify)
    return x_train, y_train, x_val, y_val, x_test, y_test


def class_weights(
    spec: str | Sequence[tuple[str, float]] | None, y_train: np.ndarray, class_names: Sequence[str]
) -> dict[int, float] | None:
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
            raise DatasetError(
                f"[data] class_weight names the class '{label}', which the target does not have; "
                f"its classes are: {', '.join(class_names)}"
            )
        weights[index[label]] = float(weight)
    return weights


def row_weights(
    y: np.ndarray, class_weight: dict[int, float] | None, dtype: str = "float32"
) -> np.ndarray:
    """``class_weight`` (class index → weight) as one weight per row of labels ``y``; rows of
    an unlisted class, and every row without class weights, weigh 1."""
    labels = np.asarray(y).reshape(-1).astype(np.int64)
    if not class_weight:
        return np.ones(len(labels), dtype=dtype)
    table = np.ones(max(int(labels.max(initial=0)), *class_weight) + 1, dtype=np.float64)
    for label, weight in class_weight.items():
        table[int(label)] = weight
    return table[labels].astype(dtype)


def _rows(
    x: np.ndarray | dict[str, np.ndarray], index: np.ndarray
) -> np.ndarray | dict[str, np.ndarray]:
    return {k: v[index] for k, v in x.items()} if isinstance(x, dict) else x[index]


def _join(
    a: np.ndarray | dict[str, np.ndarray], b: np.ndarray | dict[str, np.ndarray]
) -> np.ndarray | dict[str, np.ndarray]:
    if isinstance(a, dict):
        return {k: np.concatenate([a[k], b[k]]) for k in a}
    return np.concatenate([a, b])


def fold_indices(
    y: np.ndarray, folds: int, seed: int, classify: bool
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train rows, validation rows) of each fold: stratified when every class has ``folds``
    rows."""
    if folds > len(y):
        raise DatasetError(
            f"[data] folds = {folds} needs at least {folds} rows outside the test split; there "
            f"are {len(y)}; lower folds"
        )
    from sklearn.model_selection import KFold, StratifiedKFold

    stratify = classify and np.unique(y, return_counts=True)[1].min() >= folds
    splitter = (
        StratifiedKFold(folds, shuffle=True, random_state=seed)
        if stratify
        else KFold(folds, shuffle=True, random_state=seed)
    )
    return list(splitter.split(np.zeros(len(y)), y if stratify else None))


def fold_splits(splits: Splits, cfg: DataConfig) -> list[Splits]:
    """The ``cfg.folds`` folds of a study's train and validation rows, seeded by ``split_seed``.

    Each fold is a :class:`Splits` whose validation split is one fold and whose training split
    is the other folds; the test split is the study's, untouched. A CSV table's preprocessing
    and ``"balanced"`` class weights are fitted again on each fold's training rows.
    """
    x = _join(splits.x_train, splits.x_val)
    y = np.concatenate([splits.y_train, splits.y_val])
    out = []
    for train_rows, val_rows in fold_indices(
        y, cfg.folds, cfg.split_seed, splits.task != "regression"
    ):
        x_train, y_train = _rows(x, train_rows), y[train_rows]
        table = splits.table
        if table is not None:
            kinds = {
                **{c.name: "numeric" for c in table.numeric},
                **{c.name: "categorical" for c in table.categorical},
            }
            table, _ = fit_schema(
                x_train,
                kinds,
                missing_indicator=True,
                has_missing=[c.name for c in table.numeric if c.indicator],
            )
        weights = splits.class_weight
        if cfg.class_weight is not None and splits.task != "regression":
            weights = class_weights(cfg.class_weight, y_train, splits.class_names)
        x_val = _rows(x, val_rows)
        names = splits.feature_names
        if table is not None:  # a column empty in this fold's training rows is dropped
            names = table.columns
            x_train, x_val = {c: x_train[c] for c in names}, {c: x_val[c] for c in names}
        fold = dataclasses.replace(
            splits,
            x_train=x_train,
            y_train=y_train,
            x_val=x_val,
            y_val=y[val_rows],
            table=table,
            class_weight=weights,
            feature_names=names,
        )
        out.append(fold)
    return out


def all_rows(splits: Splits, cfg: DataConfig) -> Splits:
    """The splits with every non-test row in training (a refit of a cross-validated trial).

    The validation split stays as it was (scored, never trained on for early stopping:
    a refit runs a fixed number of epochs). A CSV table's preprocessing is fitted again.
    """
    x = _join(splits.x_train, splits.x_val)
    y = np.concatenate([splits.y_train, splits.y_val])
    table = splits.table
    if table is not None:
        kinds = {
            **{c.name: "numeric" for c in table.numeric},
            **{c.name: "categorical" for c in table.categorical},
        }
        table, _ = fit_schema(
            x,
            kinds,
            missing_indicator=True,
            has_missing=[c.name for c in table.numeric if c.indicator],
        )
        x = {c: x[c] for c in table.columns}
    weights = splits.class_weight
    if cfg.class_weight is not None and splits.task != "regression":
        weights = class_weights(cfg.class_weight, y, splits.class_names)
    return dataclasses.replace(splits, x_train=x, y_train=y, table=table, class_weight=weights)


__all__ = [
    "FOLD_LIMITS",
    "KFOLD_MODELS",
    "VALIDATIONS",
    "Splits",
    "all_rows",
    "class_weights",
    "row_weights",
    "fold_indices",
    "fold_splits",
    "split_arrays",
]
