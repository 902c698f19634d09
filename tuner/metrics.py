"""Validation and test metrics, computed with scikit-learn from model outputs.

``predictions`` are what the Keras model returns: class probabilities for classification
(one column for binary, one per class for multiclass) and values for regression.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sklearn import metrics as skm

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
        return skm.roc_auc_score(y, pred.reshape(-1))
    labels = np.arange(pred.shape[1])
    return skm.roc_auc_score(y, pred, multi_class="ovr", average="macro", labels=labels)


def _pr_auc(y: np.ndarray, pred: np.ndarray, task: str) -> float:
    if task == "binary":
        return skm.average_precision_score(y, pred.reshape(-1))
    onehot = np.eye(pred.shape[1], dtype=np.int64)[y]
    return skm.average_precision_score(onehot, pred, average="macro")


def _log_loss(y: np.ndarray, pred: np.ndarray, task: str) -> float:
    proba = _proba_matrix(pred, task)
    return skm.log_loss(y, proba, labels=np.arange(proba.shape[1]))


_C = CLASSIFICATION_TASKS
_R = ("regression",)
METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("accuracy", "maximize", _C, lambda y, p, t: skm.accuracy_score(y, _labels(p, t)), "fraction of correct labels"),
        Metric("balanced_accuracy", "maximize", _C, lambda y, p, t: skm.balanced_accuracy_score(y, _labels(p, t)), "mean recall over classes"),
        Metric("f1_macro", "maximize", _C, lambda y, p, t: skm.f1_score(y, _labels(p, t), average="macro", zero_division=0), "unweighted mean F1 over classes"),
        Metric("roc_auc", "maximize", _C, _roc_auc, "area under the ROC curve (one-vs-rest macro for multiclass)"),
        Metric("pr_auc", "maximize", _C, _pr_auc, "average precision (one-vs-rest macro for multiclass)"),
        Metric("log_loss", "minimize", _C, _log_loss, "cross-entropy of the predicted probabilities"),
        Metric("mae", "minimize", _R, lambda y, p, t: skm.mean_absolute_error(y, p.reshape(-1)), "mean absolute error"),
        Metric("rmse", "minimize", _R, lambda y, p, t: math.sqrt(skm.mean_squared_error(y, p.reshape(-1))), "root mean squared error"),
        Metric("r2", "maximize", _R, lambda y, p, t: skm.r2_score(y, p.reshape(-1)), "coefficient of determination"),
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
