"""Parameters → compiled ``keras.Model``. No Optuna here.

Preprocessing lives inside the model: a ``Normalization`` layer holding the training split's
per-feature mean and variance, and for regression a ``Rescaling`` layer that maps the output
back to the target's units. Raw inputs go in, predictions come out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from tuner.data.table_schema import TableSchema
from tuner.ml.backend import load_keras
from tuner.ml.table_layers import renamed_inputs_allowed, table_inputs

if TYPE_CHECKING:
    import keras

    from tuner.data.splits import Splits


#: Training batches run per call into TensorFlow. Small MLPs on a CPU spend more time starting
#: each step than computing it; running 32 steps per call (in a graph loop) removes most of that
#: per-step cost. Same batches, same order, same updates: only the dispatch changes.
STEPS_PER_EXECUTION = 32


@dataclass(frozen=True, eq=False)
class ModelSpec:
    """What the model needs to know about the data (fitted on the training split only)."""

    n_features: int
    task: str
    n_classes: int
    mean: np.ndarray
    variance: np.ndarray
    target_mean: float = 0.0
    target_std: float = 1.0
    table: TableSchema | None = None  # CSV tables: named column inputs (tuner.ml.table_layers)

    @classmethod
    def from_splits(cls, splits: Splits) -> ModelSpec:
        target_mean, target_std = 0.0, 1.0
        if splits.task == "regression":
            target_mean = float(splits.y_train.mean())
            target_std = float(splits.y_train.std()) or 1.0
        if splits.table is not None:
            empty = np.zeros(0)
            return cls(
                splits.n_features,
                splits.task,
                splits.n_classes,
                empty,
                empty,
                target_mean,
                target_std,
                splits.table,
            )
        x = splits.x_train.astype(np.float64)
        variance = x.var(axis=0)
        # A constant feature would divide by ~0 at predict time; leave such features unscaled.
        variance = np.where(variance < 1e-12, 1.0, variance)
        return cls(
            splits.n_features,
            splits.task,
            splits.n_classes,
            x.mean(axis=0),
            variance,
            target_mean,
            target_std,
        )


def make_optimizer(name: str, learning_rate: float) -> keras.optimizers.Optimizer:
    keras = load_keras()

    factories = {
        "adam": lambda: keras.optimizers.Adam(learning_rate),
        "adamw": lambda: keras.optimizers.AdamW(learning_rate),
        "nadam": lambda: keras.optimizers.Nadam(learning_rate),
        "rmsprop": lambda: keras.optimizers.RMSprop(learning_rate),
        "sgd": lambda: keras.optimizers.SGD(learning_rate, momentum=0.9, nesterov=True),
        "adagrad": lambda: keras.optimizers.Adagrad(learning_rate),
    }
    return factories[name]()


def loss_and_metrics(task: str) -> tuple[Any, list[str]]:
    keras = load_keras()

    if task == "binary":
        return keras.losses.BinaryCrossentropy(), ["accuracy"]
    if task == "multiclass":
        return keras.losses.SparseCategoricalCrossentropy(), ["accuracy"]
    return keras.losses.MeanSquaredError(), ["mae"]


def build_model(params: dict[str, Any], spec: ModelSpec, *, compile: bool = True) -> keras.Model:
    """Build (and compile) the MLP described by ``params`` for the data described by ``spec``."""
    keras = load_keras()

    activation = params["activation"]
    initializer = "lecun_normal" if activation == "selu" else "glorot_uniform"
    if spec.table is not None:
        inputs, x = table_inputs(spec.table)
    else:
        inputs = keras.Input(shape=(spec.n_features,), name="features")
        x = keras.layers.Normalization(mean=spec.mean, variance=spec.variance, name="normalize")(
            inputs
        )
    for i, width in enumerate(layer_widths(params)):
        x = keras.layers.Dense(
            width, activation=activation, kernel_initializer=initializer, name=f"dense_{i}"
        )(x)
        if params["dropout"] > 0:
            x = keras.layers.Dropout(params["dropout"], name=f"dropout_{i}")(x)
    if spec.task == "binary":
        outputs = keras.layers.Dense(1, activation="sigmoid", name="probability")(x)
    elif spec.task == "multiclass":
        outputs = keras.layers.Dense(spec.n_classes, activation="softmax", name="probabilities")(x)
    else:
        x = keras.layers.Dense(1, name="standardized")(x)
        outputs = keras.layers.Rescaling(
            scale=spec.target_std, offset=spec.target_mean, name="prediction"
        )(x)
    with renamed_inputs_allowed():
        model = keras.Model(inputs, outputs, name="mlp")
    if compile:
        loss, metrics = loss_and_metrics(spec.task)
        model.compile(
            optimizer=make_optimizer(params["optimizer"], params["learning_rate"]),
            loss=loss,
            metrics=metrics,
            steps_per_execution=STEPS_PER_EXECUTION,
        )
    return model


def layer_widths(params: Mapping[str, Any]) -> list[int]:
    """The hidden-layer widths encoded in ``params`` (``n_layers``, ``units_0`` …), e.g.
    [64, 32]."""
    return [int(params[f"units_{i}"]) for i in range(int(params["n_layers"]))]


def count_params(params: dict[str, Any], n_features: int, n_outputs: int) -> int:
    """Trainable weights of the MLP for ``params`` (without building it)."""
    total, fan_in = 0, n_features
    for width in [*layer_widths(params), n_outputs]:
        total += fan_in * width + width
        fan_in = width
    return total


def n_outputs(task: str, n_classes: int) -> int:
    return n_classes if task == "multiclass" else 1
