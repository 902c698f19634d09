"""Names under which tuner stores things on Optuna studies and trials.

Every study or trial user attribute that tuner writes or reads is named here once, so that a
reader (the CLI, the report, the dashboard, a worker on another machine) and the writer agree.
"""

from __future__ import annotations

# --------------------------------------------------------------------------- study attributes

#: The study's effective settings (data, objective, space, training, search), compact; see
#: :mod:`tuner.config.stored`. Studies stored without :data:`RUN_ATTR` hold their creation
#: settings here.
CONFIG_ATTR = "tuner_config"
#: The base seed every trial's own seed derives from.
SEED_ATTR = "tuner_seed"
#: Studies stored without :data:`RUN_ATTR` only: the settings of the latest ``tuner run``.
RUN_CONFIG_ATTR = "tuner_run_config"
#: The run-level settings of the latest ``tuner run``: ``{trials, timeout}``.
RUN_ATTR = "tuner_run"
#: Settings changed on resume (``--accept-changes``), each with the first trial they apply to.
CHANGES_ATTR = "tuner_changes"
#: A CSV study's data file: its path relative to the study file's folder, that folder (relative
#: to the working directory where it is inside it), its content hash, rows and columns; a resume
#: on a file whose content changed is refused (see :mod:`tuner.config.stored`).
DATA_ATTR = "tuner_data"
#: The budget: the total of finished trials the study should hold.
BUDGET_ATTR = "tuner_trials"

# --------------------------------------------------------------------------- trial attributes

#: Why a trial failed (diverged, interrupted, ...).
FAIL_REASON = "fail_reason"
#: The trial's own seed (re-training from it reproduces the model).
TRIAL_SEED = "seed"
#: The worker (host:pid) that ran the trial.
WORKER = "worker"
#: Binary tasks: the decision threshold chosen on the validation split.
THRESHOLD = "threshold"
N_PARAMS = "n_params"
EPOCHS_RUN = "epochs_run"
BEST_EPOCH = "best_epoch"
TRAIN_SECONDS = "train_seconds"
#: Trials trained packed: how many slots their pack had.
PACKED = "packed"
#: Every validation metric of the task, for the restored (best-epoch) weights.
VAL_METRICS = "val_metrics"
#: Per-epoch training history (loss, metrics, learning rate).
HISTORY = "history"
#: ``[data] validation = "kfold"``: each fold's best validation value, their mean and standard
#: deviation (the trial's value is the mean), and each fold's best epoch (0-based).
FOLD_VALUES = "fold_values"
CV_MEAN = "cv_mean"
CV_STD = "cv_std"
FOLD_BEST_EPOCHS = "fold_best_epochs"
#: k-fold: the epochs each fold trained (``epochs_run`` is then the longest fold's, never a sum).
FOLD_EPOCHS = "fold_epochs_run"
