"""tuner: hyperparameter search for Keras multilayer perceptrons, built on Optuna.

The public API is re-exported here, imported on first use so that ``import tuner`` (and
``tuner --help``) stays fast; the command-line interface (``tuner``) is a thin shell over
these functions.
"""

from __future__ import annotations

import importlib
import os as _os
from typing import TYPE_CHECKING, Any

# Quiet TensorFlow's start-up log; the Keras backend defaults to TensorFlow, and a KERAS_BACKEND
# set by the user is kept (tuner.ml.backend chooses it before Keras is imported).
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
_os.environ.setdefault("KERAS_BACKEND", "tensorflow")

__version__ = "0.1.0"

#: Public name -> the module that defines it.
_EXPORTS = {
    "ConfigError": "tuner.errors",
    "DataWarning": "tuner.errors",
    "DatasetError": "tuner.errors",
    "PredictError": "tuner.errors",
    "ReportError": "tuner.errors",
    "StorageError": "tuner.errors",
    "StudyNotFoundError": "tuner.errors",
    "TrialDivergedError": "tuner.errors",
    "TrialError": "tuner.errors",
    "TunerError": "tuner.errors",
    "StudyConfig": "tuner.config.schema",
    "load_config": "tuner.config.parse",
    "resolve_study": "tuner.config.parse",
    "permutation_importance_table": "tuner.report.importance",
    "init_study": "tuner.init_study",
    "predict_file": "tuner.predict",
    "predict_table": "tuner.predict",
    "ReportResult": "tuner.report.build",
    "build_report": "tuner.report.build",
    "RunResult": "tuner.studies",
    "join_study": "tuner.run.runner",
    "run_study": "tuner.run.runner",
    "run_workers": "tuner.run.runner",
}

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


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'tuner' has no attribute '{name}'")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:
    from tuner.config.parse import load_config, resolve_study
    from tuner.config.schema import StudyConfig
    from tuner.errors import (
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
    from tuner.init_study import init_study
    from tuner.predict import predict_file, predict_table
    from tuner.report.build import ReportResult, build_report
    from tuner.report.importance import permutation_importance_table
    from tuner.run.runner import join_study, run_study, run_workers
    from tuner.studies import RunResult
