"""Validation and test metrics, computed with scikit-learn from model outputs.

``predictions`` are what the Keras model returns: class probabilities for classification
(one column for binary, one per class for multiclass) and values for regression.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


def _skm():
    """scikit-learn's metrics, imported on first use: reading a study file needs none of it."""
    from sklearn import metrics

    return metrics


CLASSIFICATION_TASKS = ("binary", "multiclass")
TASKS = (*CLASSIFICATION_TASKS, "regression")


@dataclass(frozen=True)
class Metric:
    name: str
    direction: str  # "maximize" or "minimize"
    tasks: tuple[str, ...]
    fn: Callable[[np.ndarray, np.ndarray, str], float]
    description: str


def _labels(pred: np.ndarray, task: str, threshold: float = 0.5) -> np.ndarray:
    if task == "binary":
        return (pred.reshape(-1) >= threshold).astype(np.int64)
    return pred.argmax(axis=1)


def _proba_matrix(pred: np.ndarray, task: str) -> np.ndarray:
    if task == "binary":
        p = pred.reshape(-1)
        return np.stack([1.0 - p, p], axis=1)
    return pred


def _roc_auc(y: np.ndarray, pred: np.ndarray, task: str) -> float:
    if task == "binary":
        return _skm().roc_auc_score(y, pred.reshape(-1))
    labels = np.arange(pred.shape[1])
    return _skm().roc_auc_score(y, pred, multi_class="ovr", average="macro", labels=labels)


def _pr_auc(y: np.ndarray, pred: np.ndarray, task: str) -> float:
    if task == "binary":
        return _skm().average_precision_score(y, pred.reshape(-1))
    onehot = np.eye(pred.shape[1], dtype=np.int64)[y]
    return _skm().average_precision_score(onehot, pred, average="macro")


def _log_loss(y: np.ndarray, pred: np.ndarray, task: str) -> float:
    proba = _proba_matrix(pred, task)
    return _skm().log_loss(y, proba, labels=np.arange(proba.shape[1]))


_C = CLASSIFICATION_TASKS
_R = ("regression",)
METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric(
            "accuracy",
            "maximize",
            _C,
            lambda y, p, t: _skm().accuracy_score(y, _labels(p, t)),
            "fraction of correct labels",
        ),
        Metric(
            "balanced_accuracy",
            "maximize",
            _C,
            lambda y, p, t: _skm().balanced_accuracy_score(y, _labels(p, t)),
            "mean recall over classes",
        ),
        Metric(
            "f1_macro",
            "maximize",
            _C,
            lambda y, p, t: _skm().f1_score(y, _labels(p, t), average="macro", zero_division=0),
            "unweighted mean F1 over classes",
        ),
        Metric(
            "roc_auc",
            "maximize",
            _C,
            _roc_auc,
            "area under the ROC curve (one-vs-rest macro for multiclass)",
        ),
        Metric(
            "pr_auc",
            "maximize",
            _C,
            _pr_auc,
            "average precision (one-vs-rest macro for multiclass)",
        ),
        Metric(
            "log_loss", "minimize", _C, _log_loss, "cross-entropy of the predicted probabilities"
        ),
        Metric(
            "mae",
            "minimize",
            _R,
            lambda y, p, t: _skm().mean_absolute_error(y, p.reshape(-1)),
            "mean absolute error",
        ),
        Metric(
            "rmse",
            "minimize",
            _R,
            lambda y, p, t: math.sqrt(_skm().mean_squared_error(y, p.reshape(-1))),
            "root mean squared error",
        ),
        Metric(
            "r2",
            "maximize",
            _R,
            lambda y, p, t: _skm().r2_score(y, p.reshape(-1)),
            "coefficient of determination",
        ),
    )
}


def metrics_for_task(task: str) -> list[str]:
    """Names of the metrics that fit ``task``."""
    return [name for name, m in METRICS.items() if task in m.tasks]


def default_metric(task: str) -> str:
    return "rmse" if task == "regression" else "accuracy"


def compute(name: str, y_true: np.ndarray, predictions: np.ndarray, task: str) -> float:
    """One metric; NaN where it is undefined (e.g. ROC-AUC with a single class present)."""
    try:
        return float(METRICS[name].fn(np.asarray(y_true), np.asarray(predictions), task))
    except ValueError:
        return float("nan")


def compute_all(y_true: np.ndarray, predictions: np.ndarray, task: str) -> dict[str, float]:
    """Every metric that fits ``task``."""
    return {name: compute(name, y_true, predictions, task) for name in metrics_for_task(task)}


# --------------------------------------------------------------------------- decision threshold

#: Metrics of hard labels: a binary model's decision threshold changes them.
THRESHOLD_METRICS = ("accuracy", "balanced_accuracy", "f1_macro")


def threshold_scores(y_true: np.ndarray, probabilities: np.ndarray) -> dict[str, np.ndarray]:
    """Every threshold-metric at every distinct cut of binary ``probabilities``.

    ``thresholds[i]`` labels a row positive when its probability is >= it; the first cut labels
    no row positive. Computed from cumulative counts, like scikit-learn's curves.
    """
    p = np.asarray(probabilities, dtype=np.float64).reshape(-1)
    y = np.asarray(y_true).reshape(-1).astype(np.int64)
    order = np.argsort(-p, kind="mergesort")
    p_sorted, y_sorted = p[order], y[order]
    last = np.r_[np.nonzero(np.diff(p_sorted))[0], len(p) - 1]  # last row of each distinct value
    tp = np.r_[0, np.cumsum(y_sorted)[last]].astype(np.float64)
    fp = np.r_[0, np.cumsum(1 - y_sorted)[last]].astype(np.float64)
    pos, neg = float(y.sum()), float(len(y) - y.sum())
    fn, tn = pos - tp, neg - fp
    below = np.r_[p_sorted[last][1:], -np.inf]  # the next lower distinct value
    cut = p_sorted[last]
    thresholds = np.r_[
        min(1.0, (1.0 + cut[0]) / 2) if len(cut) else 0.5,
        np.where(np.isfinite(below), (cut + below) / 2, cut),
    ]
    with np.errstate(divide="ignore", invalid="ignore"):
        f1_pos = np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), 0.0)
        f1_neg = np.where(2 * tn + fp + fn > 0, 2 * tn / (2 * tn + fp + fn), 0.0)
        recall_pos = tp / pos if pos else np.zeros_like(tp)
        recall_neg = tn / neg if neg else np.zeros_like(tn)
    return {
        "thresholds": thresholds,
        "accuracy": (tp + tn) / max(len(y), 1),
        "balanced_accuracy": (recall_pos + recall_neg) / 2,
        "f1_macro": (f1_pos + f1_neg) / 2,
    }


def decision_threshold(
    metric: str, y_true: np.ndarray, predictions: np.ndarray, task: str
) -> float | None:
    """The binary decision threshold for ``metric``, chosen on the given (validation) rows.

    None for tasks other than binary. Threshold-free metrics (ROC-AUC, PR-AUC, log loss) keep
    0.5, as do data with a single class. Otherwise the cut that maximises ``metric``; among
    equally good cuts, the one nearest 0.5.
    """
    if task != "binary":
        return None
    y = np.asarray(y_true).reshape(-1)
    if metric not in THRESHOLD_METRICS or len(np.unique(y)) < 2:
        return 0.5
    scores = threshold_scores(y, predictions)
    values, thresholds = scores[metric], scores["thresholds"]
    best = np.flatnonzero(values >= values.max() - 1e-12)
    choice = best[np.argmin(np.abs(thresholds[best] - 0.5))]
    return float(thresholds[choice])


def score_at_threshold(
    metric: str, y_true: np.ndarray, predictions: np.ndarray, threshold: float
) -> float:
    """A threshold-metric of binary ``predictions`` labelled at ``threshold``."""
    labels = _labels(np.asarray(predictions), "binary", threshold)
    y = np.asarray(y_true).reshape(-1)
    if metric == "accuracy":
        return float(_skm().accuracy_score(y, labels))
    if metric == "balanced_accuracy":
        return float(_skm().balanced_accuracy_score(y, labels))
    if metric == "f1_macro":
        return float(_skm().f1_score(y, labels, average="macro", zero_division=0))
    raise ValueError(
        f"{metric} does not depend on a threshold; choose from: {', '.join(THRESHOLD_METRICS)}"
    )
