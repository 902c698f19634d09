"""Fit one MLP: per-epoch validation metric, early stopping, divergence checks.

Used by the objective (with Optuna's pruning callback added) and by anything that re-trains a
trial from its stored parameters and seed.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from tuner.errors import TrialDivergedError
from tuner.ml import fused
from tuner.ml import metrics as metrics_mod
from tuner.ml.backend import forget_traced_gradients, load_keras
from tuner.ml.model import ModelSpec, build_model
from tuner.ml.table_layers import attach_vocabularies, to_model_inputs, vocabularies

if TYPE_CHECKING:
    import keras

    from tuner.config.schema import StudyConfig
    from tuner.data.splits import Splits

#: Rows per ``predict`` call when scoring the validation split.
PREDICT_BATCH = 4096
#: ``[training] monitor``: what early stopping and the learning-rate reduction watch.
MONITORS = ("auto", "loss", "metric")
#: ``[training] fused``: train on the JAX backend with one compiled program per epoch.
FUSED_CHOICES = ("auto", "on", "off")
#: ``monitor = "auto"`` watches the validation loss below this many validation rows, the
#: study metric from it on (see :func:`watched`).
AUTO_LOSS_ROWS = 1000


def watched(config: StudyConfig, n_val: int) -> tuple[str, str]:
    """(log key, mode) that early stopping and the learning-rate reduction watch."""
    monitor = config.training.monitor
    if monitor == "loss" or (monitor == "auto" and n_val < AUTO_LOSS_ROWS):
        return "val_loss", "min"
    return (
        f"val_{config.objective.metric}",
        "max" if config.objective.direction == "maximize" else "min",
    )


@dataclass
class TrainResult:
    model: keras.Model
    best_value: float
    best_epoch: int  # 0-based
    epochs_run: int
    seconds: float
    val_metrics: dict[str, float]
    history: dict[str, list[float]] = field(default_factory=dict)
    threshold: float | None = None  # binary tasks: the decision threshold chosen on validation


def predict(model: keras.Model, x: Any) -> np.ndarray:
    """Model outputs as a NumPy array (probabilities or values).

    Calls the model eagerly in chunks: for the validation split this is cheaper than
    ``model.predict``, which traces a new function for every trial's model. ``x`` is a matrix,
    or for a CSV table a dict of column arrays (see :mod:`tuner.ml.table_layers`).
    """
    if isinstance(x, dict):
        x = to_model_inputs(x, model)
    n = len(next(iter(x.values()))) if isinstance(x, dict) else len(x)
    chunks = []
    for start in range(0, n, PREDICT_BATCH):
        part = (
            {k: v[start : start + PREDICT_BATCH] for k, v in x.items()}
            if isinstance(x, dict)
            else x[start : start + PREDICT_BATCH]
        )
        chunks.append(np.asarray(load_keras().ops.convert_to_numpy(model(part, training=False))))
    return np.concatenate(chunks) if chunks else np.empty((0,))


def build_training_state(model: keras.Model, x: Any, y: np.ndarray) -> None:
    """Create the optimizer's, the loss' and the metrics' variables now, eagerly, before ``fit``.

    With the TensorFlow backend Keras otherwise creates them while it traces the training
    function, wrapping each variable's initialisation into that trace, which makes every
    trial's first epoch slower. Two rows suffice; ``fit`` resets the metrics before its first
    epoch.
    """
    rows = {k: v[:2] for k, v in x.items()} if isinstance(x, dict) else x[:2]
    model.optimizer.build(model.trainable_variables)
    pred = model(rows, training=False)
    model.compute_loss(rows, y[:2], pred, training=False)
    model.compute_metrics(rows, y[:2], pred, sample_weight=None)


def _make_validation_callback(splits: Splits, metric: str) -> Any:
    keras = load_keras()

    class ValidationMetric(keras.callbacks.Callback):
        """Adds ``val_<metric>`` and ``val_loss`` to the epoch logs; raises on divergence."""

        def __init__(self) -> None:
            super().__init__()
            self.loss_fn = None
            # Converted once per trial, not once per epoch (a matrix; tables stay column dicts).
            self.x_val = (
                splits.x_val
                if isinstance(splits.x_val, dict)
                else keras.ops.convert_to_tensor(splits.x_val)
            )

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            logs = logs if logs is not None else {}
            check_training_loss(logs.get("loss"), epoch)
            pred = predict(self.model, self.x_val)
            add_validation_logs(logs, pred, splits, metric, self.model.loss, epoch)

    return ValidationMetric()


def check_training_loss(loss: float | None, epoch: int) -> None:
    """Raise :class:`TrialDivergedError` if the epoch's training loss is not finite."""
    if loss is not None and not math.isfinite(float(loss)):
        raise TrialDivergedError(f"training loss became {float(loss)} at epoch {epoch}")


def add_validation_logs(
    logs: dict[str, Any], pred: np.ndarray, splits: Splits, metric: str, loss_fn: Any, epoch: int
) -> None:
    """Add ``val_<metric>`` and ``val_loss`` of the predictions ``pred`` to an epoch's logs;
    raise :class:`TrialDivergedError` if they are not finite."""
    if not np.all(np.isfinite(pred)):
        raise TrialDivergedError(f"validation predictions became non-finite at epoch {epoch}")
    logs[f"val_{metric}"] = metrics_mod.compute(metric, splits.y_val, pred, splits.task)
    logs["val_loss"] = float(np.mean(np.asarray(loss_fn(splits.y_val, pred))))


def _new_model(
    params: dict[str, Any], splits: Splits, seed: int, *, epochs: int | None = None
) -> keras.Model:
    """The seeded, untrained model for ``params`` (with a table's vocabularies attached);
    ``epochs`` sizes a cosine schedule."""
    keras = load_keras()

    keras.utils.set_random_seed(seed)
    spec = ModelSpec.from_splits(splits, quantiles=params.get("numeric_encoding") == "robust")
    total_steps = None
    if params.get("schedule") == "cosine" and epochs:
        total_steps = epochs * math.ceil(len(splits.y_train) / int(params["batch_size"]))
    model = build_model(params, spec, total_steps=total_steps)
    if keras.backend.backend() != "tensorflow":
        # JAX and PyTorch unroll steps_per_execution steps into one program: its compile time
        # grows with it, and their per-step dispatch is cheap, so they run one step per call.
        model.steps_per_execution = 1
    if spec.table is not None:
        attach_vocabularies(model, vocabularies(spec.table))
    return model


def stopping_callbacks(
    config: StudyConfig, *, monitor: str, mode: str, plateau: bool = True
) -> list[Any]:
    """Early stopping (keeping the best epoch's weights) and, if the study asks for it and
    ``plateau`` (the trial has no ``schedule = "cosine"``), the learning-rate reduction, both
    watching ``monitor``."""
    keras = load_keras()
    callbacks = [
        keras.callbacks.EarlyStopping(
            monitor=monitor,
            mode=mode,
            patience=config.training.patience,
            restore_best_weights=True,
        )
    ]
    if config.training.reduce_lr_patience and plateau:
        # It also logs the rate of each epoch: the trial's history gets 'learning_rate'.
        callbacks.append(
            keras.callbacks.ReduceLROnPlateau(
                monitor=monitor,
                mode=mode,
                factor=config.training.reduce_lr_factor,
                patience=config.training.reduce_lr_patience,
            )
        )
    return callbacks


def _fit_callbacks(
    splits: Splits,
    config: StudyConfig,
    callbacks: list[Any] | None,
    *,
    monitor: str,
    mode: str,
    fixed_epochs: bool,
    cosine: bool = False,
) -> list[Any]:
    """The validation metric, the caller's callbacks, early stopping and the rate reduction
    (with a ``cosine`` schedule instead, the rate of each epoch logged)."""
    stopping = (
        []
        if fixed_epochs
        else stopping_callbacks(config, monitor=monitor, mode=mode, plateau=not cosine)
    )
    return [
        _make_validation_callback(splits, config.objective.metric),
        *(callbacks or []),
        *([_learning_rate_log()] if cosine else []),
        *stopping,
    ]


def _learning_rate_log() -> Any:
    keras = load_keras()

    class LearningRateLog(keras.callbacks.Callback):
        """Logs the optimizer's current rate as ``learning_rate`` (as ReduceLROnPlateau does)."""

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            if logs is not None:
                rate = self.model.optimizer.learning_rate
                logs["learning_rate"] = float(keras.ops.convert_to_numpy(rate))

    return LearningRateLog()


def uses_fused(config: StudyConfig) -> bool:
    """Whether this process trains ``config``'s trials with :func:`tuner.ml.fused.fit_fused`:
    on JAX, unless the study turns it off or its space uses recipe fields (which the fused
    epoch does not express; those trials train with ``model.fit``)."""
    return (
        config.training.fused != "off" and not config.space.uses_recipe_fields and fused.available()
    )


def _fit(
    model: keras.Model,
    x_train: Any,
    splits: Splits,
    config: StudyConfig,
    *,
    batch_size: int,
    epochs: int,
    callbacks: list[Any],
    verbose: bool,
    seed: int,
) -> dict[str, list[float]]:
    """``model.fit``, or on JAX its one-program-per-epoch equivalent; the history."""
    if uses_fused(config):
        return fused.fit_fused(
            model,
            x_train,
            splits.y_train,
            task=splits.task,
            batch_size=batch_size,
            epochs=epochs,
            callbacks=callbacks,
            class_weight=splits.class_weight,
            seed=seed,
        )
    with forget_traced_gradients():
        return model.fit(
            x_train,
            splits.y_train,
            batch_size=batch_size,
            epochs=epochs,
            callbacks=callbacks,
            verbose=2 if verbose else 0,
            shuffle=True,
            class_weight=splits.class_weight,
        ).history


def train(
    params: dict[str, Any],
    splits: Splits,
    config: StudyConfig,
    *,
    seed: int,
    callbacks: list[Any] | None = None,
    max_epochs: int | None = None,
    verbose: bool = False,
    fixed_epochs: bool = False,
) -> TrainResult:
    """Train the model for ``params`` on the training split; score it on the validation split.

    The returned model holds the weights of its best validation epoch. ``fixed_epochs`` trains
    exactly ``max_epochs`` epochs at the sampled learning rate, nothing watching the validation
    split (the refit of a cross-validated trial, whose validation rows are in training).
    """
    epochs = max_epochs or config.training.max_epochs
    # A cosine schedule spans the study's max_epochs whatever ``max_epochs`` says (a re-training
    # for the epochs a trial ran follows the trial's rates), or the whole of a fixed training.
    model = _new_model(
        params, splits, seed, epochs=epochs if fixed_epochs else config.training.max_epochs
    )
    monitor, mode = watched(config, len(splits.y_val))
    all_callbacks = _fit_callbacks(
        splits,
        config,
        callbacks,
        monitor=monitor,
        mode=mode,
        fixed_epochs=fixed_epochs,
        cosine=params.get("schedule") == "cosine",
    )
    started = time.perf_counter()
    x_train = splits.x_train
    if isinstance(x_train, dict):
        x_train = to_model_inputs(x_train, model)
    build_training_state(model, x_train, splits.y_train)
    history = _fit(
        model,
        x_train,
        splits,
        config,
        batch_size=int(params["batch_size"]),
        epochs=epochs,
        callbacks=all_callbacks,
        verbose=verbose,
        seed=seed,
    )
    return training_result(
        model,
        history,
        splits,
        config,
        seconds=time.perf_counter() - started,
        fixed_epochs=fixed_epochs,
    )


def training_result(
    model: keras.Model,
    history: dict[str, list[float]],
    splits: Splits,
    config: StudyConfig,
    *,
    seconds: float,
    fixed_epochs: bool = False,
) -> TrainResult:
    """The result of a finished training: ``model`` holds its best epoch's weights (its last
    epoch's with ``fixed_epochs``); ``history`` has the per-epoch logs."""
    metric = config.objective.metric
    monitor, mode = watched(config, len(splits.y_val))
    watched_values = history[monitor]
    best_epoch = int(
        np.nanargmax(watched_values) if mode == "max" else np.nanargmin(watched_values)
    )
    if fixed_epochs:
        best_epoch = len(watched_values) - 1  # the last epoch's weights are the model's
    values = history[f"val_{metric}"]  # the trial's value: the metric of the restored epoch
    val_pred = predict(model, splits.x_val)
    val_metrics = metrics_mod.compute_all(splits.y_val, val_pred, splits.task)
    threshold = metrics_mod.decision_threshold(metric, splits.y_val, val_pred, splits.task)
    return TrainResult(
        model=model,
        best_value=float(values[best_epoch]),
        best_epoch=best_epoch,
        epochs_run=len(values),
        seconds=seconds,
        val_metrics=val_metrics,
        history={k: [float(v) for v in vs] for k, vs in history.items()},
        threshold=threshold,
    )
