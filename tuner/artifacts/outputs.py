"""A model's outputs read as predictions: class labels, probabilities, a predictions table."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def labels_from_outputs(
    outputs: np.ndarray, task: str, threshold: float | None = None
) -> np.ndarray:
    """Predicted class indices from model outputs (probabilities); binary cuts at ``threshold``
    (0.5)."""
    if task == "binary":
        return (outputs.reshape(-1) >= (0.5 if threshold is None else threshold)).astype(np.int64)
    return outputs.argmax(axis=1).astype(np.int64)


def probabilities(outputs: np.ndarray, task: str) -> np.ndarray:
    """One column per class (binary outputs hold P(class 1) only)."""
    if task == "binary":
        p = outputs.reshape(-1)
        return np.stack([1.0 - p, p], axis=1)
    return outputs


def predictions_frame(
    outputs: np.ndarray,
    *,
    task: str,
    class_names: Sequence[str] = (),
    threshold: float | None = None,
    index: Any = None,
) -> Any:
    """Predictions as a table: ``prediction`` (the class name, or the value for regression),
    then one ``probability_<class>`` column per class. Binary labels cut at ``threshold``."""
    import pandas as pd

    if task == "regression":
        return pd.DataFrame({"prediction": outputs.reshape(-1)}, index=index)
    proba = probabilities(outputs, task)
    names = [str(n) for n in class_names] or [str(i) for i in range(proba.shape[1])]
    labels = labels_from_outputs(outputs, task, threshold)
    frame = pd.DataFrame({"prediction": np.asarray(names, dtype=object)[labels]}, index=index)
    for j, name in enumerate(names):
        frame[f"probability_{name}"] = proba[:, j]
    return frame
