"""What a study file declares, as frozen dataclasses: the shape every layer reads.

Imports nothing of tuner. Parsing and validation (TOML -> these classes) live in
:mod:`tuner.config.parse`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class IntRange:
    low: int
    high: int
    log: bool = False


@dataclass(frozen=True)
class FloatRange:
    low: float
    high: float
    log: bool = False


@dataclass(frozen=True)
class SearchSpace:
    n_layers: IntRange = IntRange(1, 3)
    units: IntRange = IntRange(16, 256, log=True)
    dropout: FloatRange = FloatRange(0.0, 0.5)
    activation: tuple[str, ...] = ("relu", "elu", "gelu", "tanh")
    learning_rate: FloatRange = FloatRange(1e-4, 1e-2, log=True)
    batch_size: tuple[int, ...] = (32, 64, 128)
    optimizer: tuple[str, ...] = ("adam", "rmsprop")
    # The training recipe (docs/recipe.md): each None (left out) keeps the plain network and
    # training as they were before these fields; a value is searched (or fixed) like the others.
    weight_decay: FloatRange | None = None  # decoupled (AdamW-style), 0 allowed
    label_smoothing: FloatRange | None = None  # classification only
    normalization: tuple[str, ...] | None = None  # "none", "batch", "layer"
    schedule: tuple[str, ...] | None = None  # "plateau" (ReduceLROnPlateau), "cosine"
    numeric_encoding: tuple[str, ...] | None = None  # "standard", "robust", "periodic"
    heads: IntRange | None = None  # k members sharing the hidden weights (BatchEnsemble-style)

    @property
    def uses_recipe_fields(self) -> bool:
        """Whether the space names any recipe field: then trials train with ``model.fit`` (not
        the fused JAX epoch) and cannot be packed."""
        return any(getattr(self, name) is not None for name in RECIPE_FIELDS)


#: The ``[space]`` fields of the training recipe, in the order trials draw them.
RECIPE_FIELDS = (
    "weight_decay",
    "label_smoothing",
    "normalization",
    "schedule",
    "numeric_encoding",
    "heads",
)


@dataclass(frozen=True)
class DataConfig:
    dataset: str
    validation_fraction: float = 0.2
    test_fraction: float = 0.2
    split_seed: int = 0
    n_samples: int | None = None
    # dataset = "csv" only (see tuner.data.tables): the file, the target and optional column lists.
    path: str | None = None  # absolute once parsed (a relative path is relative to the study file)
    target: str | None = None
    numeric: tuple[str, ...] = ()
    categorical: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    missing_indicator: bool = True
    positive_class: str | None = None
    # any classification dataset: "balanced" or (class label, weight) pairs
    class_weight: str | tuple[tuple[str, float], ...] | None = None
    # a CSV study's task, copied from [objective] task (declared or inferred); not a [data] field
    task: str | None = None
    # "holdout": one validation split; "kfold": the train and validation rows together, split
    # into ``folds`` stratified folds (the test split stays held out)
    validation: str = "holdout"
    folds: int = 5
    # with "kfold": the model a trial stands for (saved while running, exported by the report):
    # "average" of its fold models, or "refit" on every non-test row
    kfold_model: str = "average"


@dataclass(frozen=True)
class ObjectiveConfig:
    task: str
    metric: str
    direction: str
    size_objective: str | None = None

    @property
    def directions(self) -> tuple[str, ...]:
        """The study's directions: the metric's, then "minimize" for a size objective."""
        return (self.direction, "minimize") if self.size_objective else (self.direction,)


@dataclass(frozen=True)
class TrainingConfig:
    max_epochs: int = 20
    patience: int = 5
    # Keras' ReduceLROnPlateau on the validation metric: the learning rate is multiplied by
    # reduce_lr_factor after reduce_lr_patience epochs without improvement (0 turns it off).
    reduce_lr_patience: int = 2
    reduce_lr_factor: float = 0.3
    # What early stopping and the learning-rate reduction watch: "loss" (the validation loss),
    # "metric" (the study metric), or "auto" (the loss below AUTO_LOSS_ROWS validation rows).
    # Pruning and the trial's value always use the study metric. The default stays "metric",
    # what studies stored before this field trained with, so that they re-train alike.
    monitor: str = "metric"
    # The Keras backend: "tensorflow", "jax" or "torch"; None in a study file means "not chosen"
    # ($KERAS_BACKEND, else TensorFlow), and in a stored study TensorFlow.
    backend: str | None = None
    # The JAX training path (tuner.ml.fused): "auto" uses it on the JAX backend, "on" insists on
    # it (the study must run on JAX), "off" trains with model.fit on every backend.
    fused: str = "auto"
    # Trials trained at once in one compiled program (tuner.search.packed; JAX only). None is
    # "auto": packed on an accelerator, one at a time on a CPU.
    pack: int | None = None


@dataclass(frozen=True)
class SearchConfig:
    trials: int = 20
    timeout: float | None = None
    sampler: str = "tpe"
    pruner: str = "hyperband"
    seed: int | None = None
    # Known-good configurations tried first: each a tuple of (space field, value) pairs; a
    # per-layer width is one int (every layer) or a tuple of ints.
    start: tuple[tuple[tuple[str, Any], ...], ...] = ()
    # Saved trial models kept: those of the best ``keep_models`` completed trials (0: all).
    keep_models: int = 10
    # ``tuner report`` also exports a greedy ensemble of at most this many additions of the
    # best saved trials (``--ensemble N`` by default; 0: none).
    ensemble: int = 0


@dataclass(frozen=True)
class StudyConfig:
    name: str
    data: DataConfig
    objective: ObjectiveConfig
    space: SearchSpace = SearchSpace()
    training: TrainingConfig = TrainingConfig()
    search: SearchConfig = SearchConfig()
    description: str = ""
    source: str | None = field(default=None, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly dict (stored on the study so reports can rebuild the splits)."""
        out = dataclasses.asdict(self)
        out.pop("source")
        _compact(out)
        return out


#: Fields added after the first release: left out of :meth:`StudyConfig.to_dict` while at their
#: defaults, so studies stored before them still compare equal on resume.
_OPTIONAL_FIELDS = {
    "data": {
        f.name: f.default
        for f in dataclasses.fields(DataConfig)
        if f.name
        not in ("dataset", "validation_fraction", "test_fraction", "split_seed", "n_samples")
    },
    "objective": {"size_objective": None},
    "space": {name: None for name in RECIPE_FIELDS},
    "training": {"monitor": TrainingConfig.monitor, "backend": None, "fused": "auto", "pack": None},
    "search": {"start": (), "keep_models": SearchConfig.keep_models, "ensemble": 0},
}


def _compact(out: dict[str, Any]) -> None:
    """Drop unused optional fields and make the rest JSON-shaped (lists and tables)."""
    for section, defaults in _OPTIONAL_FIELDS.items():
        for key, default in defaults.items():
            value = out[section].get(key)
            if value == default:
                out[section].pop(key, None)
            elif key == "class_weight" and not isinstance(value, str):
                out[section][key] = dict(value)
            elif key == "start":
                out[section][key] = [
                    {k: list(v) if isinstance(v, tuple) else v for k, v in entry} for entry in value
                ]
            elif isinstance(value, tuple):
                out[section][key] = list(value)
