"""The objective factory: suggest → build → fit with pruning → validation metric.

Each trial records on itself (as user attributes, visible in optuna-dashboard): ``seed``,
``n_params``, ``epochs_run``, ``train_seconds``, ``best_epoch``, ``val_metrics`` and the
per-epoch ``history``; binary tasks also ``threshold`` (chosen on validation). A trial whose
training diverges fails (value NaN) with a ``fail_reason``; the study goes on. With
``[objective] size_objective`` a trial returns (metric, n_params) and is never pruned.
"""

from __future__ import annotations

import abc
import contextlib
import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import optuna
from optuna.trial import TrialState

from tuner.errors import TrialError
from tuner.keys import (
    BEST_EPOCH,
    EPOCHS_RUN,
    FAIL_REASON,
    HISTORY,
    N_PARAMS,
    THRESHOLD,
    TRAIN_SECONDS,
    TRIAL_SEED,
    VAL_METRICS,
)
from tuner.ml.backend import load_keras
from tuner.ml.model import count_params, n_outputs
from tuner.ml.training import TrainResult, train
from tuner.search.cv import FoldsPruned, is_kfold, run_kfold_trial
from tuner.search.space import suggest_params

if TYPE_CHECKING:
    from tuner.config.schema import StudyConfig
    from tuner.data.splits import Splits

AfterTrain = Callable[[optuna.Trial, TrainResult], None]
#: Called after each epoch of a trial: ``(trial_number, epoch, max_epochs, value)``, the epoch
#: counted from 1 and the value the study metric on the validation split; in a k-fold trial
#: also ``fold=(fold, folds)``, the fold counted from 1 (each fold counts its own epochs).
OnEpoch = Callable[..., None]
#: Called after each fold of a k-fold trial: ``(trial_number, fold, folds, value, epochs)``,
#: the fold counted from 1, its best validation value and the epochs it trained.
OnFold = Callable[[int, int, int, float, int], None]


def trial_seed(base_seed: int, trial_number: int) -> int:
    """The per-trial seed: derived from the study's seed and the trial number, stored on the
    trial."""
    return (base_seed * 1_000_003 + trial_number * 7_919 + 12_345) % (2**31 - 1)


def pruning_callback(
    trial: optuna.Trial,
    monitor: str,
    *,
    prune: bool = True,
    on_epoch: OnEpoch | None = None,
    max_epochs: int = 0,
) -> Any:
    load_keras()
    from optuna_integration.keras import KerasPruningCallback

    class CountingPruningCallback(KerasPruningCallback):
        """Optuna's Keras pruning callback, also counting the epochs run (for pruned trials)."""

        epochs_run = 0

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            self.epochs_run = epoch + 1
            value = (logs or {}).get(monitor)
            if on_epoch is not None and value is not None:
                on_epoch(trial.number, epoch + 1, max_epochs, float(value))
            if prune:  # Optuna cannot prune two-objective trials (trial.report is unsupported)
                super().on_epoch_end(epoch, logs)

    return CountingPruningCallback(trial, monitor)


def record_result(
    trial: optuna.Trial, result: TrainResult, after_train: list[AfterTrain] = ()
) -> None:
    """Record a trained trial's figures on it, then run the ``after_train`` hooks."""
    trial.set_user_attr(EPOCHS_RUN, result.epochs_run)
    trial.set_user_attr(BEST_EPOCH, result.best_epoch)
    trial.set_user_attr(TRAIN_SECONDS, round(result.seconds, 3))
    trial.set_user_attr(VAL_METRICS, result.val_metrics)
    trial.set_user_attr(HISTORY, result.history)
    if result.threshold is not None:
        trial.set_user_attr(THRESHOLD, result.threshold)
    for hook in after_train:
        hook(trial, result)


def start_trial(
    trial: optuna.Trial, config: StudyConfig, splits: Splits, base_seed: int
) -> tuple[dict[str, Any], int]:
    """The trial's parameters and seed, recorded on it with its weight count."""
    params = suggest_params(trial, config.space)
    # A trial queued again after its worker died carries its seed over: a faithful re-run.
    seed = int(trial.user_attrs.get(TRIAL_SEED, trial_seed(base_seed, trial.number)))
    trial.set_user_attr(TRIAL_SEED, seed)
    n_params = count_params(params, splits.n_features, n_outputs(splits.task, splits.n_classes))
    trial.set_user_attr(N_PARAMS, n_params)
    return params, seed


class Objective:
    """Callable objective for ``study.optimize``; data is loaded once, outside the trials."""

    def __init__(
        self,
        config: StudyConfig,
        splits: Splits,
        *,
        base_seed: int,
        verbose: bool = False,
        after_train: list[AfterTrain] | None = None,
        on_epoch: OnEpoch | None = None,
        on_fold: OnFold | None = None,
    ):
        self.config = config
        self.splits = splits
        self.base_seed = base_seed
        self.verbose = verbose
        self.after_train = list(after_train or [])
        self.on_epoch = on_epoch
        self.on_fold = on_fold  # k-fold trials: after each fold

    def __call__(self, trial: optuna.Trial) -> float | tuple[float, float]:
        params, seed = start_trial(trial, self.config, self.splits, self.base_seed)
        n_params = int(trial.user_attrs[N_PARAMS])
        two_objectives = self.config.objective.size_objective is not None  # metric, then n_params
        pruning = pruning_callback(
            trial,
            f"val_{self.config.objective.metric}",
            prune=not two_objectives,
            on_epoch=self.on_epoch,
            max_epochs=self.config.training.max_epochs,
        )
        started = time.perf_counter()
        try:
            if is_kfold(
                self.config
            ):  # one model per fold; the after_train hooks get a refit on all rows
                value = run_kfold_trial(
                    trial,
                    params,
                    self.splits,
                    self.config,
                    seed=seed,
                    prune=not two_objectives,
                    verbose=self.verbose,
                    after_train=self.after_train,
                    on_fold=self._fold_done(trial),
                    fold_callbacks=self._fold_callbacks(trial),
                )
                return (value, float(n_params)) if two_objectives else value
            result = train(
                params,
                self.splits,
                self.config,
                seed=seed,
                callbacks=[pruning],
                verbose=self.verbose,
            )
            record_result(trial, result, self.after_train)
            return (result.best_value, float(n_params)) if two_objectives else result.best_value
        except FoldsPruned:  # it recorded its folds' numbers itself
            raise
        except optuna.TrialPruned:
            trial.set_user_attr(EPOCHS_RUN, pruning.epochs_run)
            trial.set_user_attr(TRAIN_SECONDS, round(time.perf_counter() - started, 3))
            raise
        except TrialError as exc:
            trial.set_user_attr(FAIL_REASON, str(exc))
            trial.set_user_attr(EPOCHS_RUN, pruning.epochs_run)
            nan = float("nan")  # Optuna records the trial as FAIL and the study goes on
            return (nan, nan) if two_objectives else nan
        finally:
            _release_keras_state()

    def _fold_done(self, trial: optuna.Trial) -> Callable[[int, TrainResult], None] | None:
        on_fold, folds = self.on_fold, self.config.data.folds
        if on_fold is None:
            return None
        return lambda fold, r: on_fold(trial.number, fold + 1, folds, r.best_value, r.epochs_run)

    def _fold_callbacks(self, trial: optuna.Trial) -> Callable[[int], list[Any]] | None:
        """Each fold's epoch lines (``on_epoch`` with ``fold=``); pruning acts between folds."""
        on_epoch, folds = self.on_epoch, self.config.data.folds
        if on_epoch is None:
            return None

        def callbacks(fold: int) -> list[Any]:
            report = functools.partial(on_epoch, fold=(fold + 1, folds))
            return [
                pruning_callback(
                    trial,
                    f"val_{self.config.objective.metric}",
                    prune=False,
                    on_epoch=report,
                    max_epochs=self.config.training.max_epochs,
                )
            ]

        return callbacks


def _release_keras_state() -> None:
    """Free the graph and weights of the finished trial so memory stays flat across trials."""
    keras = load_keras()

    keras.backend.clear_session()  # also runs the garbage collector (a second pass costs ~0.3 s)


#: A block that SIGINT/SIGTERM may interrupt (``SignalGuard.raising``): training, not recording.
Interruptible = Callable[[], contextlib.AbstractContextManager[None]]


@dataclass(frozen=True)
class Ended:
    """A trial that left its slot: how Optuna should record it, and the error that ended it."""

    trial: optuna.Trial
    state: TrialState
    values: float | Sequence[float] | None = None
    error: Exception | None = None


class TrialPack(abc.ABC):
    """The trials one worker trains at once, one per slot (see :mod:`tuner.run.trial_loop`)."""

    slots: int

    @abc.abstractmethod
    def trials(self) -> list[optuna.Trial]:
        """The trials in the slots now."""

    @abc.abstractmethod
    def start(self, slot: int, trial: optuna.Trial) -> None:
        """Put ``trial`` into the free ``slot``."""

    @abc.abstractmethod
    def advance(self, interruptible: Interruptible) -> list[Ended]:
        """Train until some trials end; those trials, their slots freed. An error of one trial
        ends that trial (``Ended.error``); an error raised here is every running trial's."""

    @abc.abstractmethod
    def free_slots(self) -> list[int]:
        """The slots without a trial."""


class OneTrial(TrialPack):
    """A pack of one: each trial alone, on the ordinary trainer (``objective(trial)``)."""

    slots = 1

    def __init__(self, objective: Callable[[optuna.Trial], float | Sequence[float]]):
        self.objective = objective
        self._trial: optuna.Trial | None = None

    def trials(self) -> list[optuna.Trial]:
        return [] if self._trial is None else [self._trial]

    def free_slots(self) -> list[int]:
        return [0] if self._trial is None else []

    def start(self, slot: int, trial: optuna.Trial) -> None:
        self._trial = trial

    def advance(self, interruptible: Interruptible) -> list[Ended]:
        trial = self._trial
        assert trial is not None
        try:
            with interruptible():
                values = self.objective(trial)
        except optuna.TrialPruned:
            ended = Ended(trial, TrialState.PRUNED)
        except Exception as exc:
            ended = Ended(trial, TrialState.FAIL, error=exc)
        else:
            ended = Ended(trial, TrialState.COMPLETE, values)
        self._trial = None  # an interrupt leaves it here, unfinished
        return [ended]
