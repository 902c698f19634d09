"""Search space → ``trial.suggest_*`` calls. Pure: no Keras here.

Parameter names are stable (they are what the store, the dashboard and the reports show):
``n_layers``, ``units_0`` … ``units_{n-1}`` (one width per hidden layer), ``dropout``,
``activation``, ``learning_rate``, ``batch_size`` and ``optimizer``; then the recipe fields the
space names (``weight_decay``, ``label_smoothing``, ``normalization``, ``schedule``,
``numeric_encoding``, ``heads``), each under its own name. A field the space leaves out is not
drawn, and the model is built as without it.
"""

from __future__ import annotations

from typing import Any

import optuna

from tuner.config.schema import RECIPE_FIELDS, FloatRange, IntRange, SearchSpace
from tuner.ml.model import layer_widths  # decodes what suggest_params draws


def _suggest_range(trial: optuna.Trial, name: str, rng: IntRange | FloatRange) -> Any:
    if isinstance(rng, IntRange):
        return trial.suggest_int(name, rng.low, rng.high, log=rng.log)
    return trial.suggest_float(name, rng.low, rng.high, log=rng.log)


def suggest_params(trial: optuna.Trial, space: SearchSpace) -> dict[str, Any]:
    """Suggest one MLP configuration; returns the parameters in the order they were drawn."""
    n_layers = _suggest_range(trial, "n_layers", space.n_layers)
    params: dict[str, Any] = {"n_layers": n_layers}
    for i in range(n_layers):
        params[f"units_{i}"] = _suggest_range(trial, f"units_{i}", space.units)
    params["dropout"] = _suggest_range(trial, "dropout", space.dropout)
    params["activation"] = trial.suggest_categorical("activation", list(space.activation))
    params["learning_rate"] = _suggest_range(trial, "learning_rate", space.learning_rate)
    params["batch_size"] = trial.suggest_categorical("batch_size", list(space.batch_size))
    params["optimizer"] = trial.suggest_categorical("optimizer", list(space.optimizer))
    for name in RECIPE_FIELDS:
        allowed = getattr(space, name)
        if isinstance(allowed, (IntRange, FloatRange)):
            params[name] = _suggest_range(trial, name, allowed)
        elif allowed is not None:
            params[name] = trial.suggest_categorical(name, list(allowed))
    return params


__all__ = ["layer_widths", "suggest_params"]
