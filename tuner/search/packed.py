"""Packed trials: several Optuna trials trained at once, one per slot of a packed program.

:class:`PackedSearch` owns a :class:`~tuner.ml.packed.PackedTrainer` and the trials in its
slots. Each epoch trains every slot in one compiled program; then each trial gets what the
objective gives a trial trained alone, from the same code: its epoch logs (training loss,
validation metric and loss, the divergence check), Optuna's pruning callback, and Keras' own
``EarlyStopping`` (best epoch's weights kept) and ``ReduceLROnPlateau``, which act on the slot
through a small stand-in for a model. A trial that ends frees its slot for the next one; a
trial that completes is sliced out into the ordinary Keras MLP its parameters describe, and
recorded (figures, history, saved model) exactly as :class:`~tuner.search.objective.Objective`
records it.

The run loop (budget, lock, heartbeats, signals) is :mod:`tuner.run.trial_loop`, the same for
trials trained one at a time.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import optuna
from optuna.trial import TrialState

from tuner.data.splits import row_weights
from tuner.errors import ConfigError, TrialDivergedError
from tuner.keys import EPOCHS_RUN, FAIL_REASON, PACKED, TRAIN_SECONDS
from tuner.ml.backend import active_backend, gpu_count, load_keras
from tuner.ml.model import ModelSpec, loss_and_metrics
from tuner.ml.packed import PackedTrainer, PackShape
from tuner.ml.training import (
    add_validation_logs,
    check_training_loss,
    stopping_callbacks,
    training_result,
    watched,
)
from tuner.search.cv import is_kfold
from tuner.search.objective import (
    AfterTrain,
    Ended,
    Interruptible,
    OnEpoch,
    TrialPack,
    pruning_callback,
    record_result,
    start_trial,
)

if TYPE_CHECKING:
    from tuner.config.schema import StudyConfig
    from tuner.data.splits import Splits


#: ``[training] pack = "auto"`` on an accelerator: trials trained at once.
AUTO_PACK = 32


def pack_slots(config: StudyConfig, splits: Splits | None = None) -> int:
    """How many trials this process trains at once: ``[training] pack``, or for "auto"
    :data:`AUTO_PACK` when Keras runs on JAX with a GPU and the study can be packed
    (:func:`check_packable`), else 1 (one at a time)."""
    if config.training.pack is not None:
        return config.training.pack
    if active_backend() != "jax" or gpu_count() == 0:
        return 1
    try:
        check_packable(config, splits)
    except ConfigError:
        return 1
    return AUTO_PACK


def check_packable(config: StudyConfig, splits: Splits | None = None) -> None:
    """Raise a one-line :class:`ConfigError` if the study's trials cannot be packed."""
    fix = "set [training] pack = 1 (or --pack 1)"
    if is_kfold(config):
        raise ConfigError(f'packed trials need [data] validation = "holdout"; {fix}')
    if config.objective.size_objective is not None:
        raise ConfigError(f"packed trials need a single objective (no size_objective); {fix}")
    if config.data.dataset == "csv" or (splits is not None and splits.table is not None):
        raise ConfigError(f"packed trials need a matrix dataset, not a CSV table; {fix}")
    if config.space.uses_recipe_fields:
        raise ConfigError(
            "packed trials train the plain network, and [space] sets recipe fields "
            f"(weight_decay, normalization, schedule, …); {fix}"
        )


class _SlotOptimizer:
    """The learning rate of one slot, where ``ReduceLROnPlateau`` reads and sets it."""

    def __init__(self, trainer: PackedTrainer, slot: int):
        self._trainer, self._slot = trainer, slot

    @property
    def learning_rate(self) -> float:
        return self._trainer.learning_rate(self._slot)

    @learning_rate.setter
    def learning_rate(self, value: float) -> None:
        self._trainer.set_learning_rate(self._slot, float(value))


class _SlotModel:
    """What Keras' callbacks use of a model, for one slot: weights, optimizer, stop flag."""

    def __init__(self, trainer: PackedTrainer, slot: int):
        self._trainer, self._slot = trainer, slot
        self.optimizer = _SlotOptimizer(trainer, slot)
        self.stop_training = False

    def get_weights(self) -> Any:
        return self._trainer.snapshot(self._slot)

    def set_weights(self, weights: Any) -> None:
        self._trainer.restore(self._slot, weights)


@dataclass
class _Running:
    slot: int
    trial: optuna.Trial
    params: dict[str, Any]
    model: _SlotModel
    callbacks: Any  # keras.callbacks.CallbackList, its History last
    started: float
    epoch: int = 0


class PackedSearch(TrialPack):
    """Up to ``slots`` trials of one study training at once (see the module doc)."""

    def __init__(
        self,
        config: StudyConfig,
        splits: Splits,
        *,
        slots: int,
        base_seed: int,
        after_train: Sequence[AfterTrain] = (),
        on_epoch: OnEpoch | None = None,
    ):
        check_packable(config, splits)
        self.config, self.splits, self.base_seed = config, splits, base_seed
        self.after_train, self.on_epoch = list(after_train), on_epoch
        self.monitor, self.mode = watched(config, len(splits.y_val))
        self.loss_fn = loss_and_metrics(splits.task)[0]
        weights = row_weights(splits.y_train, splits.class_weight) if splits.class_weight else None
        self.trainer = PackedTrainer(
            PackShape.for_space(config.space, slots),
            ModelSpec.from_splits(splits),
            splits.x_train,
            splits.y_train,
            splits.x_val,
            sample_weight=weights,
            seed=base_seed,
        )
        self.slots = slots
        self.running: dict[int, _Running] = {}

    def free_slots(self) -> list[int]:
        return [slot for slot in range(self.slots) if slot not in self.running]

    def start(self, slot: int, trial: optuna.Trial) -> None:
        """Put ``trial`` into the free ``slot``, with fresh weights and optimizer state."""
        keras = load_keras()
        params, seed = start_trial(trial, self.config, self.splits, self.base_seed)
        trial.set_user_attr(PACKED, self.slots)
        self.trainer.assign(slot, params, seed)
        model = _SlotModel(self.trainer, slot)
        pruning = pruning_callback(
            trial,
            f"val_{self.config.objective.metric}",
            on_epoch=self.on_epoch,
            max_epochs=self.config.training.max_epochs,
        )
        callbacks = keras.callbacks.CallbackList(
            [pruning, *stopping_callbacks(self.config, monitor=self.monitor, mode=self.mode)],
            add_history=True,
            model=model,
        )
        callbacks.on_train_begin()
        self.running[slot] = _Running(slot, trial, params, model, callbacks, time.perf_counter())

    def advance(self, interruptible: Interruptible) -> list[Ended]:
        """Train every running trial one epoch; the trials that ended, their slots freed.

        Only the training may be interrupted: a trial that ended is recorded whole."""
        with interruptible():
            losses = self.trainer.run_epoch()
            predictions = self.trainer.predict_val()
        ended = []
        for slot, run in list(self.running.items()):
            try:
                outcome = self._after_epoch(run, float(losses[slot]), predictions[slot])
            except Exception as exc:  # this trial's error (a refused write, a failed export)
                outcome = Ended(run.trial, TrialState.FAIL, error=exc)
            if outcome is not None:
                ended.append(outcome)
                del self.running[slot]
                self.trainer.release(slot)
        return ended

    def _after_epoch(self, run: _Running, loss: float, pred: np.ndarray) -> Ended | None:
        epoch, trial = run.epoch, run.trial
        run.epoch += 1
        logs: dict[str, Any] = {"loss": loss}
        try:
            check_training_loss(loss, epoch)
            add_validation_logs(
                logs, pred, self.splits, self.config.objective.metric, self.loss_fn, epoch
            )
            run.callbacks.on_epoch_end(epoch, logs)
        except optuna.TrialPruned:
            self._record_stop(run)
            return Ended(trial, TrialState.PRUNED)
        except TrialDivergedError as exc:
            self._record_stop(run)
            trial.set_user_attr(FAIL_REASON, str(exc))
            return Ended(trial, TrialState.FAIL)
        if not run.model.stop_training and run.epoch < self.config.training.max_epochs:
            return None
        run.callbacks.on_train_end()  # early stopping puts the best epoch's weights back
        seconds = time.perf_counter() - run.started
        model = self.trainer.to_keras(run.slot, run.params)
        result = training_result(model, _history(run), self.splits, self.config, seconds=seconds)
        record_result(trial, result, self.after_train)
        # The value is the exported model's (what a report reproduces), not the packed
        # program's, which may differ in the last float bits and so flip a close prediction.
        value = result.val_metrics.get(self.config.objective.metric, result.best_value)
        return Ended(trial, TrialState.COMPLETE, float(value))

    def _record_stop(self, run: _Running) -> None:
        run.trial.set_user_attr(EPOCHS_RUN, run.epoch)
        run.trial.set_user_attr(TRAIN_SECONDS, round(time.perf_counter() - run.started, 3))

    def trials(self) -> list[optuna.Trial]:
        """The trials in the slots now."""
        return [run.trial for run in list(self.running.values())]  # read by another thread


def _history(run: _Running) -> dict[str, list[float]]:
    """The per-epoch logs that Keras' ``History`` (last in the callback list) collected."""
    return run.callbacks.callbacks[-1].history
