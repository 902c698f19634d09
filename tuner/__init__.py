"""tuner: hyperparameter search for Keras multilayer perceptrons, built on Optuna.

The public API is re-exported here; the command-line interface (``tuner``) is a thin shell
over these functions.
"""

from __future__ import annotations

import os as _os

# Quiet TensorFlow's start-up log and pin the Keras backend before anything imports them.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
_os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from tuner.config import StudyConfig, load_config, resolve_study  # noqa: E402
from tuner.errors import (  # noqa: E402
    ConfigError,
    DatasetError,
    DataWarning,
    PredictError,
    ReportError,
    StorageError,
    StudyNotFoundError,
    TrialDivergedError,
    TrialError,
    TunerError,
)
from tuner.importance import permutation_importance_table  # noqa: E402
from tuner.init_study import init_study  # noqa: E402
from tuner.predict import predict_file  # noqa: E402
from tuner.report import ReportResult, build_report  # noqa: E402
from tuner.runner import RunResult, join_study, run_study  # noqa: E402
from tuner.tabular import predict_table  # noqa: E402
from tuner.workers import run_workers  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "DataWarning",
    "DatasetError",
    "PredictError",
    "ReportError",
    "ReportResult",
    "RunResult",
    "StorageError",
    "StudyConfig",
    "StudyNotFoundError",
    "TrialDivergedError",
    "TrialError",
    "TunerError",
    "__version__",
    "build_report",
    "init_study",
    "join_study",
    "load_config",
    "permutation_importance_table",
    "predict_file",
    "predict_table",
    "resolve_study",
    "run_study",
    "run_workers",
]
