"""Greedy ensembles of trial models, chosen on the validation split, exported as one Keras model.

:func:`select_ensemble` is Caruana et al.'s (2004) forward selection with replacement, as
auto-sklearn uses it: start from the single best model, then at each step add (again, if it
helps) the model whose addition gives the best validation value of the averaged predictions.
Weights are how often each model was added, over the number of additions.

:func:`average_model` turns the chosen models into one functional Keras model: raw rows in,
each member's own preprocessing inside it, the weighted average of their outputs out. It is
built from built-in layers only, so it saves as ``.keras`` and loads in Keras' safe mode
without any code of this package.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from tuner.errors import ReportError
from tuner.ml import averaging
from tuner.ml import metrics as metrics_mod

if TYPE_CHECKING:
    import keras

#: Additions at most (a model added twice counts twice).
DEFAULT_SIZE = 20
#: Selection stops once this many additions in a row fail to beat the best value so far.
DEFAULT_PATIENCE = 5
DIRECTIONS = ("maximize", "minimize")


@dataclass(frozen=True)
class Selection:
    """A greedy ensemble: which candidates, with which weights, and how it got there.

    ``order`` is every addition made (the first is the single best model) and ``values`` the
    validation value after each one. The ensemble kept is the shortest prefix of ``order`` with
    the best value, ``order[:n_kept]``, so it is never worse on validation than the single best.
    ``stopped_early`` says that selection stopped before ``size`` additions because
    ``patience`` additions in a row brought no improvement.
    """

    metric: str
    direction: str
    weights: tuple[float, ...]  # one per candidate, summing to 1; 0 for those not chosen
    order: tuple[int, ...]
    values: tuple[float, ...]
    n_kept: int
    best_single: int
    single_value: float
    stopped_early: bool

    @property
    def value(self) -> float:
        """The validation value of the kept ensemble."""
        return self.values[self.n_kept - 1]

    @property
    def members(self) -> tuple[int, ...]:
        """Indices of the candidates with a weight above 0, in increasing order."""
        return tuple(i for i, w in enumerate(self.weights) if w > 0)

    @property
    def member_weights(self) -> tuple[float, ...]:
        """The weights of :attr:`members`, in the same order."""
        return tuple(self.weights[i] for i in self.members)


def _score(value: float, direction: str) -> float:
    """Higher is better; an undefined (NaN) value is the worst."""
    if math.isnan(value):
        return -math.inf
    return value if direction == "maximize" else -value


def _check_outputs(val_outputs: Sequence[np.ndarray], y_val: np.ndarray) -> list[np.ndarray]:
    if len(val_outputs) == 0:
        raise ReportError(
            "an ensemble needs at least one model's validation predictions; none were given"
        )
    outputs = [np.asarray(o, dtype=np.float64) for o in val_outputs]
    shape = outputs[0].shape
    for i, out in enumerate(outputs):
        if out.shape != shape:
            raise ReportError(
                f"validation predictions of model {i} have shape {out.shape}, those of model 0 "
                f"have {shape}; every model must predict the same validation rows"
            )
    if shape[0] != len(y_val):
        raise ReportError(
            f"validation predictions have {shape[0]} rows but the validation targets have "
            f"{len(y_val)}; pass the predictions of the validation split"
        )
    return outputs


def _check_choices(metric: str, task: str, direction: str | None, size: int, patience: int) -> str:
    if metric not in metrics_mod.METRICS:
        raise ReportError(
            f"unknown metric {metric!r}; choose from: {', '.join(metrics_mod.METRICS)}"
        )
    if task not in metrics_mod.METRICS[metric].tasks:
        raise ReportError(
            f"metric {metric!r} does not apply to task {task!r}; choose from: "
            f"{', '.join(metrics_mod.metrics_for_task(task))}"
        )
    direction = direction or metrics_mod.METRICS[metric].direction
    if direction not in DIRECTIONS:
        raise ReportError(f"direction must be one of {', '.join(DIRECTIONS)}, got {direction!r}")
    if size < 1 or patience < 1:
        raise ReportError(
            f"ensemble size and patience must be at least 1, got size={size}, patience={patience}"
        )
    return direction


def select_ensemble(
    val_outputs: Sequence[np.ndarray],
    y_val: np.ndarray,
    *,
    metric: str,
    task: str,
    size: int = DEFAULT_SIZE,
    direction: str | None = None,
    patience: int = DEFAULT_PATIENCE,
) -> Selection:
    """Caruana forward selection with replacement, on validation predictions only.

    ``val_outputs[i]`` are candidate ``i``'s outputs on the validation rows (binary: P(positive),
    multiclass: one probability column per class, regression: values); ``direction`` defaults
    to the metric's own. Ties go to the lowest index. At most ``size`` additions; selection
    stops early once ``patience`` additions in a row do not improve the best value.
    """
    y = np.asarray(y_val)
    outputs = _check_outputs(val_outputs, y)
    direction = _check_choices(metric, task, direction, size, patience)

    # Sums in float64, scored in the models' own precision: what the averaged model returns
    # (float32 probabilities also stay within scikit-learn's "sum to one" tolerance).
    dtype = np.result_type(*(np.asarray(o) for o in val_outputs))
    dtype = dtype if np.issubdtype(dtype, np.floating) else np.float64

    def value_of(pred: np.ndarray) -> float:
        return metrics_mod.compute(metric, y, pred.astype(dtype), task)

    singles = [value_of(out) for out in outputs]
    best_single = max(range(len(outputs)), key=lambda i: (_score(singles[i], direction), -i))
    order, values = [best_single], [singles[best_single]]
    total = outputs[best_single].copy()
    n_kept, since_best = 1, 0
    while len(order) < size and since_best < patience:
        k = len(order) + 1
        trial_values = [value_of((total + out) / k) for out in outputs]
        pick = max(range(len(outputs)), key=lambda i: (_score(trial_values[i], direction), -i))
        order.append(pick)
        values.append(trial_values[pick])
        total += outputs[pick]
        if _score(values[-1], direction) > _score(values[n_kept - 1], direction):
            n_kept, since_best = len(order), 0
        else:
            since_best += 1
    counts = np.bincount(order[:n_kept], minlength=len(outputs))
    return Selection(
        metric=metric,
        direction=direction,
        weights=tuple(float(c) / n_kept for c in counts),
        order=tuple(order),
        values=tuple(values),
        n_kept=n_kept,
        best_single=best_single,
        single_value=singles[best_single],
        stopped_early=len(order) < size,
    )


# --------------------------------------------------------------------------- one Keras model


def average_model(
    models: Sequence[keras.Model],
    weights: Sequence[float],
    *,
    trial_numbers: Sequence[int] | None = None,
    name: str = "ensemble",
) -> keras.Model:
    """One functional model whose output is the weighted average of the members' outputs
    (:func:`tuner.ml.averaging.average_model`), members nested as ``trial_<number>``.

    Its inputs copy the first member's (one matrix input, or one named input per CSV column);
    every member must take the same. Weights are scaled to sum to 1. Members are named by
    ``trial_numbers``, else by their position. The members themselves are not changed; the
    result shares their weights.
    """
    numbers = list(trial_numbers) if trial_numbers is not None else list(range(len(models)))
    return averaging.average_model(
        models, weights, [f"trial_{n}" for n in numbers], name=name, error=ReportError
    )
