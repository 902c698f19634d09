"""What a user would fit instead of a tuned MLP: a linear model and gradient boosting.

:func:`fit_baselines` fits scikit-learn's logistic regression (ridge for regression) and
histogram gradient boosting on the study's training and validation rows together, and scores
each once on its test rows with the study's metric. Their outputs have the shape the MLP's
have (binary: P(positive class); multiclass: one probability column per class, in class
index order; regression: values), so every figure comes from :mod:`tuner.ml.metrics`, like
the MLP's. A binary baseline labels at probability 0.5.

On large data both stay quick: each model is fitted on a stratified sample of the rows that
keeps its work under a fixed budget (:data:`LINEAR_MAX_CELLS`, :data:`BOOSTING_MAX_CELLS`),
and gradient boosting on more than :data:`LARGE_ROWS` rows runs at most
:data:`LARGE_MAX_ITER` rounds with early stopping on a tenth of its rows; each
:class:`Baseline` says so in its ``description``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, RidgeCV
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler
from threadpoolctl import threadpool_limits

from tuner.data.splits import row_weights
from tuner.errors import DatasetError, TunerError
from tuner.ml.metrics import compute, compute_all
from tuner.report.intervals import (
    MLP,
    POINT_METRICS,
    PairedIntervals,
    baseline_intervals,
    verdict,
)

if TYPE_CHECKING:
    from tuner.data.splits import Splits

#: The linear model sees at most this many feature values (rows × columns); beyond, a sample.
LINEAR_MAX_CELLS = 10_000_000
#: Gradient boosting sees at most this many rows × columns × trees per round (one tree per
#: class for multiclass); beyond, a sample.
BOOSTING_MAX_CELLS = 100_000_000
#: Gradient boosting on more rows than this stops early and runs at most LARGE_MAX_ITER rounds.
LARGE_ROWS = 10_000
LARGE_MAX_ITER = 30
#: Boosting rounds on small data (scikit-learn's default).
SMALL_MAX_ITER = 100
#: Gradient boosting bins a categorical column into at most this many categories.
MAX_BOOSTING_CATEGORIES = 250
LOGISTIC_MAX_ITER = 1000
#: OpenMP / BLAS threads while fitting: half the usable cores. Spinning threads on a busy
#: machine made gradient boosting on digits take minutes instead of seconds.
FIT_THREADS = (
    max(1, len(os.sched_getaffinity(0)) // 2)
    if hasattr(os, "sched_getaffinity")
    else max(1, (os.cpu_count() or 2) // 2)
)
RIDGE_ALPHAS = tuple(float(a) for a in np.logspace(-3, 3, 13))


@dataclass(frozen=True)
class Baseline:
    """One scikit-learn model fitted on the train + validation rows and scored on the test rows."""

    name: str  # "logistic regression", "ridge" or "gradient boosting"
    metric: str
    value: float  # ``metric`` on the test rows
    test_metrics: dict[str, float]  # every metric of the task on the test rows
    fit_seconds: float
    fit_rows: int  # rows the model was fitted on (fewer than train + validation if sampled)
    test_rows: int
    description: str
    outputs: np.ndarray = field(repr=False, compare=False)  # test outputs, shaped like the MLP's

    def to_dict(self) -> dict[str, Any]:
        """The figures, JSON-friendly (without the outputs)."""
        return {
            "name": self.name,
            "metric": self.metric,
            "value": self.value,
            "test_metrics": dict(self.test_metrics),
            "fit_seconds": self.fit_seconds,
            "fit_rows": self.fit_rows,
            "test_rows": self.test_rows,
            "description": self.description,
        }


# --------------------------------------------------------------------------- features


def _is_table(splits: Splits) -> bool:
    return getattr(splits, "table", None) is not None


def _frame(x: Any, splits: Splits) -> pd.DataFrame | np.ndarray:
    """A table's columns as a DataFrame (missing categories as NaN); a matrix as it is."""
    if not _is_table(splits):
        return np.asarray(x, dtype=np.float64)
    table = splits.table
    columns: dict[str, Any] = {}
    for col in table.numeric:
        columns[col.name] = np.asarray(x[col.name], dtype=np.float64).reshape(-1)
    for col in table.categorical:
        values = pd.Series(np.asarray(x[col.name], dtype=object).reshape(-1), dtype=object)
        columns[col.name] = values.where(values != "", np.nan)
    return pd.DataFrame(columns)


def _rows(x: pd.DataFrame | np.ndarray, index: np.ndarray) -> pd.DataFrame | np.ndarray:
    return x.iloc[index].reset_index(drop=True) if isinstance(x, pd.DataFrame) else x[index]


def _numeric_steps() -> list[Any]:
    return [SimpleImputer(strategy="mean", add_indicator=True), StandardScaler()]


def _linear_features(splits: Splits) -> Any:
    """Mean imputation with missing indicators and scaling; one-hot categories (missing is one)."""
    if not _is_table(splits):
        return make_pipeline(*_numeric_steps())
    table = splits.table
    parts = []
    if table.numeric:
        parts.append(("numeric", make_pipeline(*_numeric_steps()), [c.name for c in table.numeric]))
    if table.categorical:
        one_hot = make_pipeline(
            SimpleImputer(strategy="constant", fill_value="(missing)"),
            OneHotEncoder(handle_unknown="ignore"),
        )
        parts.append(("categorical", one_hot, [c.name for c in table.categorical]))
    return ColumnTransformer(parts)


def _boosting_features(splits: Splits) -> tuple[Any, list[bool] | None]:
    """Numbers as they are (boosting handles NaN); categories as ordinal codes, marked
    categorical."""
    if not _is_table(splits):
        return "passthrough", None
    table = splits.table
    parts = []
    if table.numeric:
        parts.append(("numeric", "passthrough", [c.name for c in table.numeric]))
    if table.categorical:
        codes = OrdinalEncoder(
            handle_unknown="use_encoded_value",
            unknown_value=np.nan,
            encoded_missing_value=np.nan,
            max_categories=MAX_BOOSTING_CATEGORIES,
        )
        parts.append(("categorical", codes, [c.name for c in table.categorical]))
    mask = [False] * len(table.numeric) + [True] * len(table.categorical)
    return ColumnTransformer(parts), mask


# --------------------------------------------------------------------------- models


def _linear(splits: Splits, seed: int) -> tuple[str, Pipeline, str]:
    if splits.task == "regression":
        model: Any = RidgeCV(alphas=RIDGE_ALPHAS)
        return (
            "ridge",
            Pipeline([("features", _linear_features(splits)), ("model", model)]),
            "RidgeCV (alpha by leave-one-out over 1e-3..1e3)",
        )
    model = LogisticRegression(max_iter=LOGISTIC_MAX_ITER, random_state=seed)
    return (
        "logistic regression",
        Pipeline([("features", _linear_features(splits)), ("model", model)]),
        "LogisticRegression (lbfgs, C=1)",
    )


def _boosting(splits: Splits, n_rows: int, seed: int) -> tuple[str, Pipeline, str]:
    features, categorical = _boosting_features(splits)
    large = n_rows > LARGE_ROWS
    settings: dict[str, Any] = {
        "max_iter": LARGE_MAX_ITER if large else SMALL_MAX_ITER,
        "early_stopping": large,
        "random_state": seed,
        "categorical_features": categorical,
    }
    if splits.task == "regression":
        model: Any = HistGradientBoostingRegressor(**settings)
        kind = "HistGradientBoostingRegressor"
    else:
        model = HistGradientBoostingClassifier(**settings)
        kind = "HistGradientBoostingClassifier"
    detail = (
        f"at most {LARGE_MAX_ITER} rounds, early stopping on 10 % of the rows"
        if large
        else f"{SMALL_MAX_ITER} rounds"
    )
    if categorical:
        detail += ", native categorical splits"
    return (
        "gradient boosting",
        Pipeline([("features", features), ("model", model)]),
        f"{kind} ({detail})",
    )


# --------------------------------------------------------------------------- fit and score


def _sample(n_rows: int, keep: int, y: np.ndarray, classify: bool, seed: int) -> np.ndarray | None:
    """Row indices of a (stratified) sample of ``keep`` rows; None where all rows fit."""
    if n_rows <= keep:
        return None
    strat = y if classify and np.unique(y, return_counts=True)[1].min() >= 2 else None
    index, _ = train_test_split(
        np.arange(n_rows), train_size=keep, random_state=seed, stratify=strat
    )
    return np.sort(index)


def _outputs(estimator: Pipeline, x: Any, task: str, n_classes: int) -> np.ndarray:
    """Test outputs shaped like the MLP's; a class the fit never saw gets a column of zeros."""
    if task == "regression":
        return np.asarray(estimator.predict(x), dtype=np.float64).reshape(-1)
    proba = estimator.predict_proba(x)
    full = np.zeros((proba.shape[0], max(n_classes, 2)), dtype=np.float64)
    full[:, np.asarray(estimator.classes_, dtype=np.int64)] = proba
    return full[:, 1] if task == "binary" else full


def _weights(splits: Splits, y: np.ndarray) -> np.ndarray | None:
    """``[data] class_weight`` as one weight per row."""
    if not splits.class_weight or splits.task == "regression":
        return None
    return row_weights(y, splits.class_weight, dtype="float64")


def _fit_one(
    model: tuple[str, Pipeline, str],
    x: Any,
    y: np.ndarray,
    weights: np.ndarray | None,
    sample: np.ndarray | None,
    splits: Splits,
    metric: str,
) -> Baseline:
    """Fit on all of ``x`` (or its ``sample`` rows), then score the test rows once."""
    name, estimator, description = model
    rows = f"{len(y):,} train + validation rows"
    if sample is None:
        description += f"; fitted on {rows}"
    else:
        description += (
            f"; fitted on a {'stratified ' if splits.task != 'regression' else ''}sample of "
            f"{len(sample):,} of the {rows}"
        )
        x, y, weights = _rows(x, sample), y[sample], None if weights is None else weights[sample]
    fit_args = {} if weights is None else {"model__sample_weight": weights}
    with threadpool_limits(limits=FIT_THREADS):
        started = time.perf_counter()
        estimator.fit(x, y, **fit_args)
        seconds = time.perf_counter() - started
        outputs = _outputs(estimator, _frame(splits.x_test, splits), splits.task, splits.n_classes)
    return Baseline(
        name=name,
        metric=metric,
        value=compute(metric, splits.y_test, outputs, splits.task),
        test_metrics=compute_all(splits.y_test, outputs, splits.task),
        fit_seconds=seconds,
        fit_rows=len(y),
        test_rows=len(splits.y_test),
        description=description,
        outputs=outputs,
    )


def fit_baselines(splits: Splits, metric: str, *, seed: int = 0) -> list[Baseline]:
    """A linear model and gradient boosting, fitted on train + validation, scored once on test."""
    classify = splits.task != "regression"
    y = np.concatenate([np.asarray(splits.y_train), np.asarray(splits.y_val)])
    if classify and len(np.unique(y)) < 2:
        raise DatasetError(
            "the training and validation rows hold a single class; baselines need at least two"
        )
    if _is_table(splits):
        x: Any = pd.concat(
            [_frame(splits.x_train, splits), _frame(splits.x_val, splits)], ignore_index=True
        )
    else:
        x = np.concatenate([_frame(splits.x_train, splits), _frame(splits.x_val, splits)])
    weights = _weights(splits, y)
    width = max(int(x.shape[1]), 1)
    trees = splits.n_classes if splits.task == "multiclass" else 1

    linear_sample = _sample(len(y), LINEAR_MAX_CELLS // width, y, classify, seed)
    linear = _fit_one(_linear(splits, seed), x, y, weights, linear_sample, splits, metric)
    boosting_sample = _sample(len(y), BOOSTING_MAX_CELLS // (width * trees), y, classify, seed)
    n_boosting = len(y) if boosting_sample is None else len(boosting_sample)
    boosting = _fit_one(
        _boosting(splits, n_boosting, seed), x, y, weights, boosting_sample, splits, metric
    )
    return [linear, boosting]


def baselines_table(baselines: list[Baseline]) -> list[Mapping[str, Any]]:
    """The baselines as JSON-friendly rows (for a report's summary)."""
    return [b.to_dict() for b in baselines]


# --------------------------------------------------------------------------- in a report


def _interval_record(metric: str, intervals: PairedIntervals) -> dict[str, Any]:
    mlp = intervals.scores[MLP]
    return {
        "metric": metric,
        "low": mlp.low,
        "high": mlp.high,
        "level": intervals.level,
        "method": "percentile bootstrap over the test rows",
        "resamples": intervals.resamples,
        "seed": intervals.seed,
    }


def add_baselines(
    summary: dict[str, Any],
    splits: Any,
    metric: str,
    direction: str,
    *,
    test_outputs: np.ndarray,
    fit: bool = True,
    seed: int = 0,
) -> None:
    """``summary["baselines"]`` (one row per model, with its score's interval and the MLP's paired
    difference from it) and ``summary["baselines_verdict"]``; ``summary["test"]["interval"]``:
    the MLP's test ``metric`` interval (also without baselines, ``fit`` False)."""
    threshold = summary["test"].get("threshold")
    fitted: list[Any] = []
    if not fit:
        summary["baselines"], summary["baselines_verdict"] = (
            None,
            "baselines skipped (--no-baselines)",
        )
    else:
        try:
            fitted = fit_baselines(splits, metric, seed=seed)
        except TunerError as exc:
            summary["baselines"], summary["baselines_verdict"] = (
                [],
                f"baselines not fitted: {exc}",
            )
    intervals = baseline_intervals(
        fitted, splits.y_test, test_outputs, metric, splits.task, threshold, seed=seed
    )
    summary["test"]["interval"] = _interval_record(metric, intervals)
    if not fitted:
        return
    rows = list(baselines_table(fitted))
    for row in rows:
        difference = intervals.differences[row["name"]]
        row["interval"] = intervals.scores[row["name"]].to_list()
        row["difference"] = {
            "mlp_minus_baseline": float(summary["test"]["metrics"][metric]) - row["value"],
            "interval": difference.to_list(),
            "tied": difference.contains_zero(),
        }
    summary["baselines"] = rows
    summary["baselines_verdict"] = verdict(
        fitted, metric, direction, float(summary["test"]["metrics"][metric]), intervals
    )


__all__ = [
    "MLP",
    "add_baselines",
    "POINT_METRICS",
    "Baseline",
    "baseline_intervals",
    "baselines_table",
    "fit_baselines",
    "verdict",
]
