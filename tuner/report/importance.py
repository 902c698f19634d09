"""Which inputs matter: permutation importance of a trained model, on the validation split
(out of fold for a cross-validated study whose model averages its folds).

Each input column (for a CSV table: each raw column, one-hot groups included; for a matrix
dataset: each feature) is shuffled in turn, and the drop in the objective metric is its
importance. scikit-learn's :func:`~sklearn.inspection.permutation_importance` does the
shuffling; a scorer feeds the Keras model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from tuner.errors import TunerError
from tuner.ml import metrics as metrics_mod

if TYPE_CHECKING:
    import keras

    from tuner.data.splits import Splits


@dataclass(frozen=True)
class Importance:
    """How much the metric worsens when ``column`` is shuffled (in the metric's units)."""

    column: str
    importance: float  # mean over repeats; > 0: the model relies on the column
    std: float


class _Fitted:
    """The trained Keras model, as the estimator scikit-learn expects (it is never re-fitted).

    Out of fold (``fold_of_row`` given), ``model`` holds one nested model per fold
    (``fold_0``, ``fold_1``, …) and each row is predicted by the model of its fold, the one
    that did not train on it.
    """

    def __init__(self, model: keras.Model, fold_of_row: np.ndarray | None = None):
        self.model = model
        self.fold_of_row = fold_of_row

    def predict(self, frame: pd.DataFrame, splits: Splits) -> np.ndarray:
        from tuner.ml.training import predict

        if self.fold_of_row is None:
            return predict(self.model, _model_inputs(frame, splits))
        parts: list[np.ndarray] = []
        order = []
        for fold in np.unique(self.fold_of_row):
            rows = np.flatnonzero(self.fold_of_row == fold)
            member = self.model.get_layer(f"fold_{fold}")
            parts.append(predict(member, _model_inputs(frame.iloc[rows], splits)))
            order.append(rows)
        outputs = np.concatenate(parts)
        result = np.empty_like(outputs)
        result[np.concatenate(order)] = outputs
        return result

    def fit(self, x: Any, y: Any) -> _Fitted:  # pragma: no cover - required by the API only
        return self


def has_fold_models(model: keras.Model, folds: int) -> bool:
    """Whether ``model`` averages ``folds`` nested fold models (``fold_0``, …)."""
    names = {layer.name for layer in model.layers}
    return all(f"fold_{i}" in names for i in range(folds))


def _out_of_fold(folds: Sequence[Splits]) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Every fold's validation rows in one frame, their targets and which fold each came from."""
    frame = pd.concat([validation_frame(f) for f in folds], ignore_index=True)
    y = np.concatenate([np.asarray(f.y_val) for f in folds])
    fold_of_row = np.concatenate([np.full(len(f.y_val), i) for i, f in enumerate(folds)])
    return frame, y, fold_of_row


def validation_frame(splits: Splits) -> pd.DataFrame:
    """The validation inputs as one column per model input (raw values for a table)."""
    if splits.table is not None:
        return pd.DataFrame(
            {name: np.asarray(splits.x_val[name]).reshape(-1) for name in splits.feature_names}
        )
    return pd.DataFrame(np.asarray(splits.x_val), columns=list(splits.feature_names))


def _model_inputs(frame: pd.DataFrame, splits: Splits) -> Any:
    if splits.table is None:
        return frame.to_numpy(dtype=np.float32)
    numeric = {c.name for c in splits.table.numeric}
    return {
        name: (
            frame[name].to_numpy(dtype=np.float32)
            if name in numeric
            else frame[name].to_numpy(dtype=object)
        ).reshape(-1, 1)
        for name in frame.columns
    }


def permutation_importance_table(
    model: keras.Model,
    splits: Splits,
    metric: str,
    *,
    n_repeats: int = 5,
    seed: int = 0,
    max_rows: int | None = 5000,
    folds: Sequence[Splits] | None = None,
) -> list[Importance]:
    """Permutation importance of every input column on the validation split, largest first.

    With ``folds`` (a cross-validated study whose ``model`` averages its fold models), the
    importance is out of fold: every non-test row is scored by the fold model that did not
    train on it.

    ``metric`` is the study's objective metric; importances are in its units and signed so
    that larger means more important for metrics to minimise too. ``max_rows`` caps the
    validation rows used (a fixed random subset), which bounds the time on large splits.
    """
    from sklearn.inspection import permutation_importance

    if metric not in metrics_mod.METRICS:
        raise TunerError(
            f"unknown metric '{metric}'; choose from: {', '.join(metrics_mod.METRICS)}"
        )
    sign = 1.0 if metrics_mod.METRICS[metric].direction == "maximize" else -1.0
    fold_of_row = None
    if folds is not None:
        frame, y, fold_of_row = _out_of_fold(folds)
    else:
        frame, y = validation_frame(splits), np.asarray(splits.y_val)
    if max_rows is not None and len(frame) > max_rows:
        rows = np.sort(np.random.default_rng(seed).choice(len(frame), size=max_rows, replace=False))
        frame, y = frame.iloc[rows].reset_index(drop=True), y[rows]
        fold_of_row = None if fold_of_row is None else fold_of_row[rows]

    def score(estimator: _Fitted, x: pd.DataFrame, y_true: np.ndarray) -> float:
        outputs = estimator.predict(x, splits)
        return sign * metrics_mod.compute(metric, y_true, outputs, splits.task)

    result = permutation_importance(
        _Fitted(model, fold_of_row), frame, y, scoring=score, n_repeats=n_repeats, random_state=seed
    )
    rows = [
        Importance(str(name), float(mean), float(std))
        for name, mean, std in zip(
            frame.columns, result.importances_mean, result.importances_std, strict=True
        )
    ]
    return sorted(
        rows, key=lambda r: (-r.importance if np.isfinite(r.importance) else np.inf, r.column)
    )


def importance_rows(
    model: keras.Model,
    splits: Splits,
    metric: str,
    *,
    n_repeats: int = 5,
    seed: int = 0,
    folds: Sequence[Splits] | None = None,
) -> list[dict[str, Any]]:
    """:func:`permutation_importance_table` as JSON-ready rows (for a report's summary)."""
    table = permutation_importance_table(
        model, splits, metric, n_repeats=n_repeats, seed=seed, folds=folds
    )
    return [{"column": r.column, "importance": r.importance, "std": r.std} for r in table]


__all__ = [
    "Importance",
    "has_fold_models",
    "importance_rows",
    "permutation_importance_table",
    "validation_frame",
]
