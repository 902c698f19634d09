"""Model files: a trained model as a ``.keras`` file with its ``model.json``, loaded safely."""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tuner.errors import TunerError, first_line
from tuner.ml.backend import load_keras
from tuner.ml.table_layers import attach_vocabularies, vocabularies

if TYPE_CHECKING:
    import keras

    from tuner.config.schema import StudyConfig
    from tuner.data.splits import Splits


MODEL_FILE = "model.keras"
INFO_FILE = "model.json"


@dataclass(frozen=True)
class ModelInfo:
    """What a saved model takes and returns: written beside it as ``model.json``."""

    task: str
    n_features: int
    class_names: tuple[str, ...] = ()
    feature_names: tuple[str, ...] = ()
    study: str | None = None
    trial: int | None = None
    metric: str | None = None
    value: float | None = None
    threshold: float | None = None  # binary: P(positive) at or above it is the positive class
    extra: dict[str, Any] = field(default_factory=dict)
    #: CSV tables: column → training vocabulary; category ``vocabulary[i]`` has id ``i + 1``
    #: (0: unknown or missing), which a model built on JAX or PyTorch takes instead of strings.
    vocabularies: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def for_trial(
        cls,
        splits: Splits,
        config: StudyConfig,
        trial_number: int | None,
        value: float | None,
        threshold: float | None = None,
    ) -> ModelInfo:
        return cls(
            task=splits.task,
            n_features=splits.n_features,
            class_names=tuple(splits.class_names),
            feature_names=tuple(splits.feature_names),
            study=config.name,
            trial=trial_number,
            metric=config.objective.metric,
            value=value,
            threshold=threshold if splits.task == "binary" else None,
            vocabularies=vocabularies(splits.table) if splits.table is not None else {},
        )

    @classmethod
    def infer(cls, model: keras.Model) -> ModelInfo:
        """Best guess from the model alone (no ``model.json``): task from the output layer."""
        n_features = int(model.inputs[0].shape[-1])
        out = model.layers[-1]
        width = int(model.outputs[0].shape[-1])
        activation = getattr(getattr(out, "activation", None), "__name__", "")
        if activation == "sigmoid" and width == 1:
            return cls("binary", n_features, ("0", "1"))
        if activation == "softmax":
            return cls("multiclass", n_features, tuple(str(i) for i in range(width)))
        return cls("regression", n_features)

    def to_json(self) -> str:
        data = asdict(self)
        if not data["vocabularies"]:
            data.pop("vocabularies")
        return json.dumps(data, indent=2)

    @classmethod
    def from_json(cls, text: str) -> ModelInfo:
        data = json.loads(text)
        known = {f for f in cls.__dataclass_fields__}
        data = {k: v for k, v in data.items() if k in known}
        for key in ("class_names", "feature_names"):
            data[key] = tuple(data.get(key) or ())
        return cls(**data)


def info_path(model_path: str | os.PathLike[str]) -> Path:
    """Where a model's ``model.json`` lives: beside it, same stem (``best.keras`` →
    ``best.json``)."""
    return Path(model_path).with_suffix(".json")


def save_model(model: keras.Model, path: str | os.PathLike[str]) -> None:
    """Save ``model`` as a Keras 3 ``.keras`` file, without optimizer state (inference only)."""
    keras = load_keras()

    export = keras.models.clone_model(model)
    export.set_weights(model.get_weights())
    export.save(os.fspath(path))


def load_model(
    path: str | os.PathLike[str], *, error: type[TunerError] = TunerError
) -> keras.Model:
    """Load a ``.keras`` file in Keras' safe mode (no arbitrary code); a clear error if it fails."""
    path = Path(path)
    if not path.is_file():
        raise error(
            f"model file {path} does not exist; export one with: tuner report --study NAME (it "
            f"writes reports/NAME/{MODEL_FILE})"
        )
    if path.suffix != ".keras":
        raise error(
            f"model file {path} is not a Keras 3 .keras file; pass the {MODEL_FILE} written by "
            "tuner report"
        )
    if not zipfile.is_zipfile(path):
        raise error(
            f"model file {path} is not a Keras 3 .keras file (not a zip archive); pass the "
            f"{MODEL_FILE} written by tuner report"
        )
    keras = load_keras()
    try:
        model = keras.saving.load_model(os.fspath(path), compile=False, safe_mode=True)
    except (
        Exception
    ) as exc:  # zip, JSON, HDF5 or deserialization errors all mean "not a usable model"
        raise error(
            f"model file {path} cannot be loaded in Keras' safe mode: {first_line(exc)}"
        ) from None
    _attach_saved_vocabularies(model, path)
    return model


def _attach_saved_vocabularies(model: keras.Model, path: Path) -> None:
    """A table model's category vocabularies, from the ``model.json`` beside it (if any)."""
    sidecar = info_path(path)
    try:
        saved = (
            json.loads(sidecar.read_text(encoding="utf-8")).get("vocabularies")
            if sidecar.is_file()
            else None
        )
    except (ValueError, OSError, AttributeError):
        saved = None
    if isinstance(saved, dict):
        attach_vocabularies(model, saved)


def load_info(model_path: str | os.PathLike[str], model: keras.Model) -> ModelInfo:
    """The model's ``model.json`` if present, else what can be inferred from the model."""
    sidecar = info_path(model_path)
    if sidecar.is_file():
        try:
            return ModelInfo.from_json(sidecar.read_text(encoding="utf-8"))
        except (ValueError, TypeError):
            pass  # a damaged description: fall back to the model itself
    return ModelInfo.infer(model)


def write_model(model: keras.Model, info: ModelInfo, folder: Path) -> tuple[Path, Path]:
    """Write ``model.keras`` and ``model.json`` into ``folder``."""
    model_path = folder / MODEL_FILE
    save_model(model, model_path)
    sidecar = info_path(model_path)
    sidecar.write_text(info.to_json() + "\n", encoding="utf-8")
    return model_path, sidecar
