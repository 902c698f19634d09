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
    StorageError,
    StudyNotFoundError,
    TrialDivergedError,
    TrialError,
    TunerError,
)
from tuner.runner import RunResult, run_study  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "DatasetError",
    "RunResult",
    "StorageError",
    "StudyConfig",
    "StudyNotFoundError",
    "TrialDivergedError",
    "TrialError",
    "TunerError",
    "__version__",
    "load_config",
    "resolve_study",
    "run_study",
]
