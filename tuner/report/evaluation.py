"""The report's one use of the test split: its metrics, per-class table and evaluation plots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from tuner import artifacts as art
from tuner.ml.metrics import CLASSIFICATION_TASKS, compute_all


def evaluate(
    y_true: np.ndarray,
    outputs: np.ndarray,
    task: str,
    class_names: tuple[str, ...],
    threshold: float | None = None,
) -> dict[str, Any]:
    """Test metrics from one set of model outputs (scikit-learn).

    A binary model's labels use ``threshold`` (chosen on validation; default 0.5), and so do the
    metrics of labels: accuracy, balanced accuracy, macro F1, the per-class table.
    """
    result: dict[str, Any] = {
        "n_rows": int(len(y_true)),
        "metrics": compute_all(y_true, outputs, task),
    }
    if task in CLASSIFICATION_TASKS:
        from sklearn import metrics as skm
        from sklearn.metrics import classification_report, confusion_matrix

        labels = art.labels_from_outputs(outputs, task, threshold)
        if task == "binary":
            result["threshold"] = 0.5 if threshold is None else float(threshold)
            result["metrics"].update(
                accuracy=float(skm.accuracy_score(y_true, labels)),
                balanced_accuracy=float(skm.balanced_accuracy_score(y_true, labels)),
                f1_macro=float(skm.f1_score(y_true, labels, average="macro", zero_division=0)),
            )
        index = list(range(len(class_names)))
        table = classification_report(
            y_true,
            labels,
            labels=index,
            target_names=list(class_names),
            output_dict=True,
            zero_division=0,
        )
        result["per_class"] = {
            n: {
                "precision": table[n]["precision"],
                "recall": table[n]["recall"],
                "f1": table[n]["f1-score"],
                "support": int(table[n]["support"]),
            }
            for n in class_names
        }
        result["confusion_matrix"] = {
            "labels": list(class_names),
            "rows_true_columns_predicted": confusion_matrix(y_true, labels, labels=index).tolist(),
        }
    return result


def evaluation_plots(
    y_true: np.ndarray,
    outputs: np.ndarray,
    task: str,
    class_names: tuple[str, ...],
    out: Path,
    threshold: float | None,
) -> list[Any]:
    """The test split's plots: a scatter (regression), else the confusion matrix (and, for a
    binary task, the ROC and precision-recall curves)."""
    from tuner.report import plots

    if task == "regression":
        return [plots.regression_scatter(y_true, outputs.reshape(-1), out)]
    result = [
        plots.confusion_matrix_plot(
            y_true, art.labels_from_outputs(outputs, task, threshold), list(class_names), out
        )
    ]
    if task == "binary":
        result += plots.roc_pr_plots(
            y_true, outputs.reshape(-1), out, positive=class_names[1], threshold=threshold
        )
    return result
