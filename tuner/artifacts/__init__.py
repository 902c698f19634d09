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

from tuner.artifacts.model_files import (
    INFO_FILE,
    MODEL_FILE,
    ModelInfo,
    info_path,
    load_info,
    load_model,
    save_model,
    write_model,
)
from tuner.artifacts.outputs import labels_from_outputs, predictions_frame, probabilities
from tuner.artifacts.trial_models import (
    ARTIFACTS_ENV,
    ARTIFACTS_OFF,
    SaveTrialModel,
    artifact_store,
    drop_models,
    fetch_trial_model,
    kept_trials,
    model_artifact_hook,
    ranked_trials,
    resolve_artifacts_dir,
    with_model_artifacts,
    writable_artifacts_dir,
)

__all__ = [
    "ARTIFACTS_ENV",
    "ARTIFACTS_OFF",
    "INFO_FILE",
    "MODEL_FILE",
    "ModelInfo",
    "SaveTrialModel",
    "artifact_store",
    "drop_models",
    "fetch_trial_model",
    "info_path",
    "kept_trials",
    "labels_from_outputs",
    "load_info",
    "load_model",
    "model_artifact_hook",
    "writable_artifacts_dir",
    "predictions_frame",
    "probabilities",
    "ranked_trials",
    "resolve_artifacts_dir",
    "save_model",
    "with_model_artifacts",
    "write_model",
]
