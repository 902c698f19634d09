"""What a study file may say: the choices and limits of its fields, as data.

Validation (:mod:`tuner.config.parse`) and the command line read them from here. Sampler and
pruner names come from the registry in :mod:`tuner.search.samplers`; datasets from
:data:`tuner.data.datasets.DATASETS`; tasks and metrics from :mod:`tuner.ml.metrics`.
"""

from __future__ import annotations

ACTIVATIONS = (
    "relu",
    "elu",
    "selu",
    "gelu",
    "tanh",
    "sigmoid",
    "leaky_relu",
    "swish",
    "mish",
    "softplus",
)
OPTIMIZERS = ("adam", "adamw", "nadam", "rmsprop", "sgd", "adagrad")
DIRECTIONS = ("maximize", "minimize")
#: ``[objective] size_objective``: a second objective, minimised (a Pareto front of metric vs size).
SIZE_OBJECTIVES = ("n_params",)

#: ``[space]`` ranges: field → (lowest, highest) value a bound may take.
SPACE_LIMITS: dict[str, tuple[float, float]] = {
    "n_layers": (1, 16),
    "units": (1, 8192),
    "dropout": (0.0, 0.95),
    "learning_rate": (1e-7, 10.0),
    "weight_decay": (0.0, 1.0),
    "label_smoothing": (0.0, 0.5),
    "heads": (1, 64),
}
#: ``[space] normalization``: none, or Batch- or LayerNormalization after each hidden layer.
NORMALIZATIONS = ("none", "batch", "layer")
#: ``[space] schedule``: ReduceLROnPlateau (as without the field) or cosine decay with a warm-up.
SCHEDULES = ("plateau", "cosine")
#: ``[space] numeric_encoding``: how numeric inputs enter the network.
NUMERIC_ENCODINGS = ("standard", "robust", "periodic")
#: ``[data] validation_fraction`` and ``test_fraction``: each in (0, MAX_FRACTION], together below
#: MAX_HELD_OUT.
MAX_FRACTION = 0.9
MAX_HELD_OUT = 0.95
#: ``[data] n_samples``: the fewest rows a study may ask for.
MIN_SAMPLES = 10
#: ``[training] max_epochs``: the most epochs a trial may train.
MAX_EPOCHS = 10_000
#: ``[search] seed`` and ``--seed``: the largest seed Optuna's samplers accept (NumPy's limit).
MAX_SEED = 2**32 - 1
#: ``tuner run --workers``: the most local worker processes on one machine.
MAX_WORKERS = 256
#: ``[training] pack`` / ``--pack``: the most trials trained at once.
MAX_PACK = 1024

__all__ = [
    "ACTIVATIONS",
    "DIRECTIONS",
    "MAX_EPOCHS",
    "MAX_FRACTION",
    "MAX_HELD_OUT",
    "MAX_SEED",
    "MAX_WORKERS",
    "MAX_PACK",
    "MIN_SAMPLES",
    "NORMALIZATIONS",
    "NUMERIC_ENCODINGS",
    "OPTIMIZERS",
    "SCHEDULES",
    "SIZE_OBJECTIVES",
    "SPACE_LIMITS",
]
