"""Trained models as files: export, safe loading, and Optuna's artifact store.

Each completed trial's model (best-epoch weights, preprocessing inside) is saved as an Optuna
artifact when the trial finishes, with a small ``model.json`` describing its inputs and
outputs. Reports and ``tuner predict`` take the model from there; where a trial has no saved
model (artifacts off, or workers without a shared folder) the report re-trains it from its
stored seed and parameters.

Where artifacts live: ``--artifacts DIR`` / ``$TUNER_ARTIFACTS``; otherwise, for a SQLite
store, an ``artifacts/`` folder beside the database file. ``TUNER_ARTIFACTS=off`` saves none.
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
import zipfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import optuna
from optuna.artifacts import (
    FileSystemArtifactStore,
    download_artifact,
    get_all_artifact_meta,
    upload_artifact,
)
from optuna.artifacts.exceptions import ArtifactNotFound

from tuner.errors import TunerError, first_line
from tuner.ml.backend import load_keras
from tuner.ml.table_layers import attach_vocabularies, vocabularies

if TYPE_CHECKING:
    import keras

    from tuner.config.schema import StudyConfig
    from tuner.data.splits import Splits
    from tuner.ml.training import TrainResult

ARTIFACTS_ENV = "TUNER_ARTIFACTS"
#: ``TUNER_ARTIFACTS=off`` (or ``--artifacts off``): save no models while running.
ARTIFACTS_OFF = "off"
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
    def for_trial(cls, splits: Splits, config: StudyConfig, trial_number: int | None, value: float | None, threshold: float | None = None) -> ModelInfo:
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
    """Where a model's ``model.json`` lives: beside it, same stem (``best.keras`` → ``best.json``)."""
    return Path(model_path).with_suffix(".json")


# --------------------------------------------------------------------------- model files


def save_model(model: keras.Model, path: str | os.PathLike[str]) -> None:
    """Save ``model`` as a Keras 3 ``.keras`` file, without optimizer state (inference only)."""
    keras = load_keras()

    export = keras.models.clone_model(model)
    export.set_weights(model.get_weights())
    export.save(os.fspath(path))


def load_model(path: str | os.PathLike[str], *, error: type[TunerError] = TunerError) -> keras.Model:
    """Load a ``.keras`` file in Keras' safe mode (no arbitrary code); a clear error if it fails."""
    path = Path(path)
    if not path.is_file():
        raise error(f"model file {path} does not exist; export one with: tuner report --study NAME (it writes reports/NAME/{MODEL_FILE})")
    if path.suffix != ".keras":
        raise error(f"model file {path} is not a Keras 3 .keras file; pass the {MODEL_FILE} written by tuner report")
    if not zipfile.is_zipfile(path):
        raise error(f"model file {path} is not a Keras 3 .keras file (not a zip archive); pass the {MODEL_FILE} written by tuner report")
    keras = load_keras()
    try:
        model = keras.saving.load_model(os.fspath(path), compile=False, safe_mode=True)
    except Exception as exc:  # zip, JSON, HDF5 or deserialization errors all mean "not a usable model"
        raise error(f"model file {path} cannot be loaded in Keras' safe mode: {first_line(exc)}") from None
    _attach_saved_vocabularies(model, path)
    return model


def _attach_saved_vocabularies(model: keras.Model, path: Path) -> None:
    """A table model's category vocabularies, from the ``model.json`` beside it (if any)."""
    sidecar = info_path(path)
    try:
        saved = json.loads(sidecar.read_text(encoding="utf-8")).get("vocabularies") if sidecar.is_file() else None
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


# --------------------------------------------------------------------------- artifact store


def resolve_artifacts_dir(storage_url: str, artifacts: str | os.PathLike[str] | None = None) -> Path | None:
    """The artifact folder for a store: ``artifacts``, ``$TUNER_ARTIFACTS``, or beside a SQLite file.

    None when artifacts are off, or when the store is a database server and no folder is given.
    """
    value = os.fspath(artifacts) if artifacts is not None else os.environ.get(ARTIFACTS_ENV)
    if value:
        return None if value.strip().lower() == ARTIFACTS_OFF else Path(value).expanduser()
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(storage_url)
    except (ArgumentError, ValueError):
        return None
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        return Path(url.database).expanduser().parent / "artifacts"
    return None


def artifact_store(folder: Path) -> FileSystemArtifactStore:
    return FileSystemArtifactStore(folder)


class SaveTrialModel:
    """An ``after_train`` hook: uploads each completed trial's model and ``model.json``.

    Only the models of the best ``keep`` completed trials are kept (``[search] keep_models``;
    0 keeps all): a trial outside them saves none, and one that enters them deletes the model
    of the trial it displaces. A model that cannot be written (disk full, folder removed) only
    warns: the trial stands, and a report re-trains it from its seed.
    """

    def __init__(self, folder: Path, splits: Splits, config: StudyConfig):
        self.folder = folder
        self.store = artifact_store(folder)
        self.splits = splits
        self.config = config
        self.keep = getattr(config.search, "keep_models", 0)

    def __call__(self, trial: optuna.Trial, result: TrainResult) -> None:
        kept = kept_trials(trial.study, self.keep, (trial.number, result.best_value)) if self.keep else None
        if kept is not None and trial.number not in kept:
            return  # not among the best: a report re-trains it from its seed if asked
        info = ModelInfo.for_trial(self.splits, self.config, trial.number, result.best_value, getattr(result, "threshold", None))
        try:
            with tempfile.TemporaryDirectory(prefix="tuner-model-") as tmp:
                model_path, sidecar = write_model(result.model, info, Path(tmp))
                for path in (model_path, sidecar):
                    upload_artifact(artifact_store=self.store, file_path=os.fspath(path), study_or_trial=trial)
        except OSError as exc:
            warnings.warn(f"could not save the model of trial {trial.number} to {self.folder} ({exc}); a report will re-train it", RuntimeWarning, stacklevel=2)
        if kept is not None:
            drop_models(trial.study, self.store, keep=kept | {trial.number})


def kept_trials(study: optuna.Study, keep: int, current: tuple[int, float] | None = None) -> set[int]:
    """The trials whose models are kept: the ``keep`` best completed ones by the first objective
    (``current``: a trial about to complete, as (number, value)), and a Pareto front's trials."""
    ranked = [(t.number, t.values[0]) for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))]
    if current is not None:
        ranked.append(current)
    sign = -1.0 if study.directions[0] == optuna.study.StudyDirection.MAXIMIZE else 1.0
    ranked.sort(key=lambda nv: (sign * nv[1] if np.isfinite(nv[1]) else np.inf, nv[0]))
    kept = {n for n, _ in ranked[:keep]}
    if len(study.directions) > 1:  # [objective] size_objective: the front's smaller models too
        kept |= {t.number for t in study.best_trials}
    return kept


def drop_models(study: optuna.Study, store: FileSystemArtifactStore, *, keep: set[int]) -> int:
    """Delete the saved files of finished trials not in ``keep``; how many files were deleted.

    Optuna keeps each artifact's record on its trial; a report finds the file gone and
    re-trains the trial from its seed.
    """
    removed = 0
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED, optuna.trial.TrialState.FAIL)):
        if trial.number in keep:
            continue
        for meta in get_all_artifact_meta(trial):
            try:
                store.remove(meta.artifact_id)
                removed += 1
            except (ArtifactNotFound, OSError):
                pass  # deleted before (here or by another worker)
    return removed


def model_artifact_hook(storage_url: str, splits: Splits, config: StudyConfig, artifacts: str | os.PathLike[str] | None = None) -> SaveTrialModel | None:
    """The hook that saves each completed trial's model, or None when artifacts are off."""
    folder = resolve_artifacts_dir(storage_url, artifacts)
    if folder is None:
        return None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".probe-"):
            pass
    except OSError as exc:
        raise TunerError(f"cannot write trial models to {folder} ({exc.strerror or exc}); set {ARTIFACTS_ENV} to a writable folder, or {ARTIFACTS_ENV}=off to save none (reports then re-train the best trial)") from None
    return SaveTrialModel(folder, splits, config)


def with_model_artifacts(after_train: list[Any] | None, storage_url: str, splits: Splits, config: StudyConfig) -> list[Any]:
    """``after_train`` plus the hook saving each completed trial's model (when artifacts are on)."""
    hook = model_artifact_hook(storage_url, splits, config)
    return [*(after_train or []), *([hook] if hook is not None else [])]


def fetch_trial_model(storage: optuna.storages.BaseStorage, trial: optuna.trial.FrozenTrial, folder: Path | None, dest: Path) -> tuple[Path, Path | None] | None:
    """Download a trial's saved ``model.keras`` (and ``model.json``) into ``dest``.

    None if the trial has no saved model, or its file is gone from ``folder``.
    """
    if folder is None or not folder.is_dir():
        return None
    metas = {m.filename: m for m in get_all_artifact_meta(trial, storage=storage)}
    if MODEL_FILE not in metas:
        return None
    store = artifact_store(folder)
    dest.mkdir(parents=True, exist_ok=True)
    paths: list[Path | None] = []
    for name in (MODEL_FILE, INFO_FILE):
        target = dest / name
        if name not in metas:
            paths.append(None)
            continue
        if target.exists():
            target.unlink()
        try:
            download_artifact(artifact_store=store, file_path=os.fspath(target), artifact_id=metas[name].artifact_id)
        except (ArtifactNotFound, OSError):
            if name == MODEL_FILE:
                return None
            paths.append(None)
            continue
        paths.append(target)
    return paths[0], paths[1]  # type: ignore[return-value]


def labels_from_outputs(outputs: np.ndarray, task: str, threshold: float | None = None) -> np.ndarray:
    """Predicted class indices from model outputs (probabilities); binary cuts at ``threshold`` (0.5)."""
    if task == "binary":
        return (outputs.reshape(-1) >= (0.5 if threshold is None else threshold)).astype(np.int64)
    return outputs.argmax(axis=1).astype(np.int64)


def probabilities(outputs: np.ndarray, task: str) -> np.ndarray:
    """One column per class (binary outputs hold P(class 1) only)."""
    if task == "binary":
        p = outputs.reshape(-1)
        return np.stack([1.0 - p, p], axis=1)
    return outputs


def predictions_frame(outputs: np.ndarray, *, task: str, class_names: Sequence[str] = (), threshold: float | None = None, index: Any = None) -> Any:
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

