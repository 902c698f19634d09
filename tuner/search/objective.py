"""The objective factory: suggest → build → fit with pruning → validation metric.

Each trial records on itself (as user attributes, visible in optuna-dashboard): ``seed``,
``n_params``, ``epochs_run``, ``train_seconds``, ``best_epoch``, ``val_metrics`` and the
per-epoch ``history``; binary tasks also ``threshold`` (chosen on validation). A trial whose
training diverges fails (value NaN) with a ``fail_reason``; the study goes on. With
``[objective] size_objective`` a trial returns (metric, n_params) and is never pruned.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import optuna

from tuner.errors import TrialError
from tuner.ml.backend import load_keras
from tuner.ml.model import count_params, n_outputs
from tuner.ml.training import TrainResult, train
from tuner.search.space import suggest_params

if TYPE_CHECKING:
    from tuner.config.schema import StudyConfig
    from tuner.data.datasets import Splits

AfterTrain = Callable[[optuna.Trial, TrainResult], None]


def trial_seed(base_seed: int, trial_number: int) -> int:
    """The per-trial seed: derived from the study's seed and the trial number, stored on the trial."""
    return (base_seed * 1_000_003 + trial_number * 7_919 + 12_345) % (2**31 - 1)


def _pruning_callback(trial: optuna.Trial, monitor: str, *, prune: bool = True) -> Any:
    load_keras()
    from optuna_integration.keras import KerasPruningCallback

    class CountingPruningCallback(KerasPruningCallback):
        """Optuna's Keras pruning callback, also counting the epochs run (for pruned trials)."""

        epochs_run = 0

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            self.epochs_run = epoch + 1
            if prune:  # Optuna cannot prune two-objective trials (trial.report is unsupported)
                super().on_epoch_end(epoch, logs)

    return CountingPruningCallback(trial, monitor)


class Objective:
    """Callable objective for ``study.optimize``; data is loaded once, outside the trials."""

    def __init__(self, config: StudyConfig, splits: Splits, *, base_seed: int, verbose: bool = False, after_train: list[AfterTrain] | None = None):
        self.config = config
        self.splits = splits
        self.base_seed = base_seed
        self.verbose = verbose
        self.after_train = list(after_train or [])

    def __call__(self, trial: optuna.Trial) -> float | tuple[float, float]:
        params = suggest_params(trial, self.config.space)
        # A trial queued again after its worker died carries its seed over: a faithful re-run.
        seed = int(trial.user_attrs.get("seed", trial_seed(self.base_seed, trial.number)))
        trial.set_user_attr("seed", seed)
        n_params = count_params(params, self.splits.n_features, n_outputs(self.splits.task, self.splits.n_classes))
        trial.set_user_attr("n_params", n_params)
        two_objectives = self.config.objective.size_objective is not None  # metric, then n_params
        pruning = _pruning_callback(trial, f"val_{self.config.objective.metric}", prune=not two_objectives)
        started = time.perf_counter()
        try:
            result = train(params, self.splits, self.config, seed=seed, callbacks=[pruning], verbose=self.verbose)
            trial.set_user_attr("epochs_run", result.epochs_run)
            trial.set_user_attr("best_epoch", result.best_epoch)
            trial.set_user_attr("train_seconds", round(result.seconds, 3))
            trial.set_user_attr("val_metrics", result.val_metrics)
            trial.set_user_attr("history", result.history)
            if result.threshold is not None:
                trial.set_user_attr("threshold", result.threshold)
            for hook in self.after_train:
                hook(trial, result)
            return (result.best_value, float(n_params)) if two_objectives else result.best_value
        except optuna.TrialPruned:
            trial.set_user_attr("epochs_run", pruning.epochs_run)
            trial.set_user_attr("train_seconds", round(time.perf_counter() - started, 3))
            raise
        except TrialError as exc:
            trial.set_user_attr("fail_reason", str(exc))
            trial.set_user_attr("epochs_run", pruning.epochs_run)
            nan = float("nan")  # Optuna records the trial as FAIL and the study goes on
            return (nan, nan) if two_objectives else nan
        finally:
            _release_keras_state()


def _release_keras_state() -> None:
    """Free the graph and weights of the finished trial so memory stays flat across trials."""
    keras = load_keras()

    keras.backend.clear_session()  # also runs the garbage collector (a second pass costs ~0.3 s)
