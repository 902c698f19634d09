"""Parameters → compiled ``keras.Model``. No Optuna here.

Preprocessing lives inside the model: a ``Normalization`` layer holding the training split's
per-feature mean and variance, and for regression a ``Rescaling`` layer that maps the output
back to the target's units. Raw inputs go in, predictions come out.

The recipe parameters (``weight_decay``, ``label_smoothing``, ``normalization``, ``schedule``,
``numeric_encoding``, ``heads``; see docs/recipe.md) change the network only when present: a
parameter dict without them builds the plain Dense + Dropout network. Every layer is one of
Keras' own, so the saved model loads in safe mode without this package.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from tuner.data.table_schema import TableSchema
from tuner.ml.backend import load_keras
from tuner.ml.table_layers import (
    PERIODIC_FREQUENCIES,
    PERIODIC_WIDTH,
    encode_numeric,
    renamed_inputs_allowed,
    table_inputs,
)

if TYPE_CHECKING:
    import keras

    from tuner.data.splits import Splits


#: Training batches run per call into TensorFlow. Small MLPs on a CPU spend more time starting
#: each step than computing it; running 32 steps per call (in a graph loop) removes most of that
#: per-step cost. Same batches, same order, same updates: only the dispatch changes.
STEPS_PER_EXECUTION = 32
#: ``schedule = "cosine"``: the share of the training steps spent warming the rate up (linearly
#: from a tenth of it), before it decays along a cosine to 0 at ``max_epochs``.
WARMUP_FRACTION = 0.05


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
    # numeric_encoding = "robust": each numeric column's quartiles (rows 25 %, 50 %, 75 %)
    quantiles: np.ndarray | None = None

    @classmethod
    def from_splits(cls, splits: Splits, *, quantiles: bool = False) -> ModelSpec:
        """The spec of ``splits``' training split; with ``quantiles`` also its numeric columns'
        quartiles (what robust scaling needs)."""
        spec = cls._from_splits(splits)
        if not quantiles:
            return spec
        if spec.table is not None:
            x = np.column_stack(
                [
                    np.asarray(splits.x_train[c.name], np.float64).reshape(-1)
                    for c in spec.table.numeric
                ]
            )
        else:
            x = np.asarray(splits.x_train, np.float64)
        found = np.nanpercentile(x, [25, 50, 75], axis=0) if x.size else np.zeros((3, 0))
        return dataclasses.replace(spec, quantiles=np.nan_to_num(found))

    @classmethod
    def _from_splits(cls, splits: Splits) -> ModelSpec:
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


def make_optimizer(
    name: str, learning_rate: Any, weight_decay: float | None = None
) -> keras.optimizers.Optimizer:
    """The optimizer ``name``; ``weight_decay`` (decoupled: each step shrinks a weight by
    ``learning_rate * weight_decay`` of itself) replaces the optimizer's own default when given."""
    keras = load_keras()

    extra = {} if weight_decay is None else {"weight_decay": float(weight_decay)}
    factories = {
        "adam": lambda: keras.optimizers.Adam(learning_rate, **extra),
        "adamw": lambda: keras.optimizers.AdamW(learning_rate, **extra),
        "nadam": lambda: keras.optimizers.Nadam(learning_rate, **extra),
        "rmsprop": lambda: keras.optimizers.RMSprop(learning_rate, **extra),
        "sgd": lambda: keras.optimizers.SGD(learning_rate, momentum=0.9, nesterov=True, **extra),
        "adagrad": lambda: keras.optimizers.Adagrad(learning_rate, **extra),
    }
    return factories[name]()


def loss_and_metrics(
    task: str, label_smoothing: float = 0.0, n_classes: int = 0
) -> tuple[Any, list[str]]:
    """The training loss and metrics of ``task``; classification losses smooth their labels by
    ``label_smoothing`` (``n_classes`` is then needed for a multiclass task)."""
    keras = load_keras()

    if task == "binary":
        if label_smoothing:
            return keras.losses.BinaryCrossentropy(label_smoothing=label_smoothing), ["accuracy"]
        return keras.losses.BinaryCrossentropy(), ["accuracy"]
    if task == "multiclass":
        if label_smoothing:
            loss = smoothed_sparse_crossentropy()(n_classes, label_smoothing)
            return loss, ["accuracy"]
        return keras.losses.SparseCategoricalCrossentropy(), ["accuracy"]
    return keras.losses.MeanSquaredError(), ["mae"]


@functools.cache
def smoothed_sparse_crossentropy() -> type:
    """The class of the multiclass loss with label smoothing (Keras' sparse crossentropy has
    none): integer labels, one-hot encoded, then Keras' categorical crossentropy with
    ``label_smoothing``. Registered as ``tuner>SmoothedSparseCrossentropy``; saved models carry
    no loss, so loading one never needs it."""
    keras = load_keras()

    @keras.saving.register_keras_serializable(package="tuner")
    class SmoothedSparseCrossentropy(keras.losses.Loss):
        def __init__(
            self,
            n_classes: int,
            label_smoothing: float,
            name: str = "smoothed_sparse_crossentropy",
            **kwargs: Any,
        ):
            super().__init__(name=name, **kwargs)
            self.n_classes, self.label_smoothing = int(n_classes), float(label_smoothing)

        def call(self, y_true: Any, y_pred: Any) -> Any:
            ops = keras.ops
            labels = ops.reshape(ops.cast(y_true, "int32"), (-1,))
            return keras.losses.categorical_crossentropy(
                ops.one_hot(labels, self.n_classes),
                y_pred,
                label_smoothing=self.label_smoothing,
            )

        def get_config(self) -> dict[str, Any]:
            return {
                **super().get_config(),
                "n_classes": self.n_classes,
                "label_smoothing": self.label_smoothing,
            }

    return SmoothedSparseCrossentropy


def learning_rate(params: Mapping[str, Any], total_steps: int | None) -> Any:
    """The sampled rate, or for ``schedule = "cosine"`` Keras' ``CosineDecay`` over
    ``total_steps`` steps with a short linear warm-up (:data:`WARMUP_FRACTION`)."""
    rate = float(params["learning_rate"])
    if params.get("schedule", "plateau") != "cosine":
        return rate
    if not total_steps:
        raise ValueError('schedule = "cosine" needs the number of training steps (total_steps)')
    warmup = max(1, math.ceil(WARMUP_FRACTION * total_steps))
    return load_keras().optimizers.schedules.CosineDecay(
        initial_learning_rate=rate / 10,
        decay_steps=max(1, total_steps - warmup),
        alpha=0.0,
        warmup_target=rate,
        warmup_steps=warmup,
    )


def build_model(
    params: dict[str, Any],
    spec: ModelSpec,
    *,
    compile: bool = True,
    total_steps: int | None = None,
) -> keras.Model:
    """Build (and compile) the MLP described by ``params`` for the data described by ``spec``.

    ``total_steps`` (training batches in all) is needed to compile a cosine schedule.
    """
    keras = load_keras()

    activation = params["activation"]
    initializer = "lecun_normal" if activation == "selu" else "glorot_uniform"
    encoding = params.get("numeric_encoding", "standard")
    if spec.table is not None:
        inputs, x = table_inputs(spec.table, encoding=encoding, quantiles=spec.quantiles)
    elif encoding == "standard":
        inputs = keras.Input(shape=(spec.n_features,), name="features")
        x = keras.layers.Normalization(mean=spec.mean, variance=spec.variance, name="normalize")(
            inputs
        )
    else:
        inputs = keras.Input(shape=(spec.n_features,), name="features")
        x = encode_numeric(inputs, encoding, spec.mean, spec.variance, spec.quantiles)
    heads = int(params.get("heads", 1))
    if heads > 1:
        x = keras.layers.RepeatVector(heads, name="members_in")(x)
    for i, width in enumerate(layer_widths(params)):
        if heads > 1:
            x = _adapter(x, heads, i)
        x = _hidden_layer(x, width, i, params, initializer)
        if params["dropout"] > 0:
            x = keras.layers.Dropout(params["dropout"], name=f"dropout_{i}")(x)
    outputs = _output_layer(x, spec, heads)
    with renamed_inputs_allowed():
        model = keras.Model(inputs, outputs, name="mlp")
    if compile:
        loss, metrics = loss_and_metrics(
            spec.task, float(params.get("label_smoothing", 0.0)), spec.n_classes
        )
        optimizer = make_optimizer(
            params["optimizer"], learning_rate(params, total_steps), params.get("weight_decay")
        )
        if "weight_decay" in params:
            # Decay the weights of the Dense layers only: not biases, normalisation scales and
            # shifts, frequencies or per-member adapters.
            optimizer.exclude_from_weight_decay(
                var_list=[v for v in model.trainable_variables if not _decays(v)]
            )
        model.compile(
            optimizer=optimizer,
            loss=loss,
            metrics=metrics,
            steps_per_execution=STEPS_PER_EXECUTION,
        )
    return model


def _decays(variable: Any) -> bool:
    """Whether weight decay shrinks ``variable``: the kernels of the hidden and output layers."""
    layer = variable.path.split("/")[-2] if "/" in variable.path else ""
    return variable.name == "kernel" and (
        layer.startswith("dense_") or layer in _OUTPUT_NAMES or layer == "members"
    )


#: The output layer's name for each task (what packed trials and reports look up).
_OUTPUT_NAMES = {
    "binary": "probability",
    "multiclass": "probabilities",
    "regression": "standardized",
}


def _hidden_layer(x: Any, width: int, i: int, params: Mapping[str, Any], initializer: str) -> Any:
    """``Dense(width)`` with the activation, or with ``normalization`` Dense, the normalisation
    layer, then the activation."""
    keras = load_keras()
    activation = params["activation"]
    normalization = params.get("normalization", "none")
    if normalization == "none":
        return keras.layers.Dense(
            width, activation=activation, kernel_initializer=initializer, name=f"dense_{i}"
        )(x)
    x = keras.layers.Dense(width, kernel_initializer=initializer, name=f"dense_{i}")(x)
    if normalization == "batch":
        x = keras.layers.BatchNormalization(name=f"norm_{i}")(x)
    else:
        x = keras.layers.LayerNormalization(name=f"norm_{i}")(x)
    return keras.layers.Activation(activation, name=f"activation_{i}")(x)


def _adapter(x: Any, heads: int, i: int) -> Any:
    """Per-member scaling of a shared layer's input (BatchEnsemble's ``r``): ``x[:, k, :] * r_k``.

    The first layer's scales start spread around 1 so that the members differ from the start
    (TabM-mini's random-sign initialisation, in spirit), the later ones at 1.
    """
    keras = load_keras()
    init = keras.initializers.RandomNormal(mean=1.0, stddev=0.5) if i == 0 else "ones"
    return keras.layers.EinsumDense(
        "bkd,kd->bkd",
        output_shape=(heads, x.shape[-1]),
        kernel_initializer=init,
        name=f"adapter_{i}",
    )(x)


def _output_layer(x: Any, spec: ModelSpec, heads: int) -> Any:
    """The task's output; with ``heads`` > 1, one output per member (layer ``members``,
    rows × heads × outputs, each its own weights), averaged."""
    keras = load_keras()
    name = _OUTPUT_NAMES[spec.task]
    activation = {"binary": "sigmoid", "multiclass": "softmax"}.get(spec.task)
    width = n_outputs(spec.task, spec.n_classes)
    if heads > 1:
        members = keras.layers.EinsumDense(
            "bkd,kdo->bko",
            output_shape=(heads, width),
            bias_axes="ko",
            activation=activation,
            name="members",
        )(x)
        x = keras.layers.GlobalAveragePooling1D(name=name)(members)
    else:
        x = keras.layers.Dense(width, activation=activation, name=name)(x)
    if spec.task != "regression":
        return x
    return keras.layers.Rescaling(
        scale=spec.target_std, offset=spec.target_mean, name="prediction"
    )(x)


def layer_widths(params: Mapping[str, Any]) -> list[int]:
    """The hidden-layer widths encoded in ``params`` (``n_layers``, ``units_0`` …), e.g.
    [64, 32]."""
    return [int(params[f"units_{i}"]) for i in range(int(params["n_layers"]))]


def count_params(params: dict[str, Any], n_features: int, n_outputs: int) -> int:
    """Trainable weights of the MLP for ``params`` (without building it). With
    ``numeric_encoding = "periodic"`` every feature counts as numeric (a table's one-hot
    columns are in fact not embedded)."""
    total, fan_in = 0, n_features
    heads = int(params.get("heads", 1))
    if params.get("numeric_encoding") == "periodic":
        k, d = PERIODIC_FREQUENCIES, PERIODIC_WIDTH
        total += n_features * (k + 2 * k * d + d)
        fan_in = n_features * d
    norm = 2 if params.get("normalization", "none") != "none" else 0
    for width in layer_widths(params):
        total += fan_in * width + width + norm * width + (heads * fan_in if heads > 1 else 0)
        fan_in = width
    members = heads if heads > 1 else 1
    return total + members * (fan_in * n_outputs + n_outputs)


def n_outputs(task: str, n_classes: int) -> int:
    return n_classes if task == "multiclass" else 1
