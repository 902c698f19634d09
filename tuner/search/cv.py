"""Cross-validated trials (``[data] validation = "kfold"``): one model per fold, the mean value.

A trial trains the same parameters once per fold (each fold with its own seed, derived from
the trial's), and its value is the mean over folds of each fold's best validation value. After
each fold the running mean is reported to Optuna at step = the number of folds done (1..k), so
a pruner compares trials at equal numbers of folds; the pruner's resource is the number of
folds (:func:`pruner_resource`).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import optuna

from tuner import keys
from tuner.data.splits import all_rows, fold_splits
from tuner.errors import TunerError
from tuner.ml.averaging import average_model
from tuner.ml.backend import active_backend
from tuner.ml.training import TrainResult, train

if TYPE_CHECKING:
    from tuner.config.schema import StudyConfig
    from tuner.data.splits import Splits


def is_kfold(config: StudyConfig) -> bool:
    return config.data.validation == "kfold"


def pruner_resource(config: StudyConfig) -> int:
    """The most steps a trial reports: its folds with k-fold, else its epochs."""
    return config.data.folds if is_kfold(config) else config.training.max_epochs


def fold_seed(trial_seed: int, fold: int) -> int:
    """Fold ``fold``'s seed (fold 0 keeps the trial's seed)."""
    return (trial_seed + fold * 1_000_033) % (2**31 - 1)


def refit_epochs(mean_best_epoch: float) -> int:
    """Epochs of the refit on all rows: the folds' mean best epoch, as a count (>= 1)."""
    return max(1, int(round(mean_best_epoch)) + 1)


@dataclass
class CVResult:
    """A cross-validated trial: each fold's result and the summary the trial records."""

    folds: list[TrainResult]

    @property
    def values(self) -> list[float]:
        return [f.best_value for f in self.folds]

    @property
    def mean(self) -> float:
        return float(np.mean(self.values))

    @property
    def std(self) -> float:
        return float(np.std(self.values))

    @property
    def mean_best_epoch(self) -> float:
        return float(np.mean([f.best_epoch for f in self.folds]))

    @property
    def fold_epochs(self) -> list[int]:
        return [int(f.epochs_run) for f in self.folds]

    @property
    def epochs_run(self) -> int:
        """The longest fold's epochs: epochs count per fold, never summed over folds."""
        return max(self.fold_epochs)

    @property
    def seconds(self) -> float:
        return float(sum(f.seconds for f in self.folds))

    def val_metrics(self) -> dict[str, float]:
        """Each validation metric's mean over the folds."""
        names = self.folds[0].val_metrics
        return {k: float(np.mean([f.val_metrics[k] for f in self.folds])) for k in names}

    def history(self) -> dict[str, list[float]]:
        """Each curve's per-epoch mean over the folds that trained that epoch.

        Folds stop at different epochs (early stopping), so the curve runs as long as the
        longest fold, and its later epochs average fewer folds. Only curves every fold has
        are kept.
        """
        histories = [f.history for f in self.folds]
        names = [k for k in histories[0] if all(k in h for h in histories[1:])]
        merged = {}
        for name in names:
            curves = [h[name] for h in histories]
            length = max(len(c) for c in curves)
            merged[name] = [
                float(np.mean([c[e] for c in curves if e < len(c)])) for e in range(length)
            ]
        return merged

    def threshold(self) -> float | None:
        found = [f.threshold for f in self.folds if f.threshold is not None]
        return float(np.mean(found)) if found else None


def cross_validate(
    trial: optuna.Trial | None,
    params: dict[str, Any],
    splits: Splits,
    config: StudyConfig,
    *,
    seed: int,
    prune: bool = True,
    verbose: bool = False,
    on_fold: Callable[[int, TrainResult], None] | None = None,
    fold_callbacks: Callable[[int], list[Any]] | None = None,
) -> CVResult:
    """Train ``params`` on every fold; report the running mean after each (may raise TrialPruned).

    ``on_fold(fold, result)`` is called after each fold (0-based; e.g. to keep the fold's
    model); ``fold_callbacks(fold)`` gives the Keras callbacks of a fold's training.
    """
    results: list[TrainResult] = []
    for i, fold in enumerate(fold_splits(splits, config.data)):
        callbacks = fold_callbacks(i) if fold_callbacks is not None else None
        result = train(
            params, fold, config, seed=fold_seed(seed, i), verbose=verbose, callbacks=callbacks
        )
        results.append(result)
        if on_fold is not None:
            on_fold(i, result)
        result.model = None  # only the fold's numbers are kept
        if trial is not None and prune:
            trial.report(float(np.mean([r.best_value for r in results])), step=i + 1)
            if trial.should_prune():
                raise FoldsPruned(CVResult(results))
    return CVResult(results)


def record(trial: optuna.Trial, result: CVResult) -> None:
    """Store a cross-validated trial's numbers on it (see :mod:`tuner.keys`)."""
    trial.set_user_attr(keys.FOLD_VALUES, result.values)
    trial.set_user_attr(keys.CV_MEAN, result.mean)
    trial.set_user_attr(keys.CV_STD, result.std)
    trial.set_user_attr(keys.FOLD_BEST_EPOCHS, [f.best_epoch for f in result.folds])
    trial.set_user_attr(keys.BEST_EPOCH, int(round(result.mean_best_epoch)))
    trial.set_user_attr(keys.EPOCHS_RUN, result.epochs_run)
    trial.set_user_attr(keys.FOLD_EPOCHS, result.fold_epochs)
    trial.set_user_attr(keys.TRAIN_SECONDS, round(result.seconds, 3))


def refit(
    params: dict[str, Any],
    splits: Splits,
    config: StudyConfig,
    *,
    seed: int,
    mean_best_epoch: float,
) -> TrainResult:
    """The model of a cross-validated trial: trained on every non-test row (train and
    validation together) for :func:`refit_epochs` epochs from the trial's seed, nothing
    watching the validation rows (they are in training)."""
    return train(
        params,
        all_rows(splits, config.data),
        config,
        seed=seed,
        max_epochs=refit_epochs(mean_best_epoch),
        fixed_epochs=True,
    )


class FoldInputsDiffer(TunerError):
    """A trial's fold models take different inputs (a CSV column empty in one fold's rows)."""


def averages_folds(config: StudyConfig, splits: Splits) -> bool:
    """Whether a cross-validated trial stands for its fold models averaged (``[data]
    kfold_model = "average"``).

    A CSV table's folds fit their own column preprocessing. On TensorFlow its models take the
    raw columns (vocabularies inside), so they average; on JAX and PyTorch they take category
    ids numbered by each fold's own vocabulary, so those trials are refit. So are trials whose
    fold models take different inputs (:class:`FoldInputsDiffer`).
    """
    return config.data.kfold_model == "average" and (
        splits.table is None or active_backend() == "tensorflow"
    )


def fold_average(models: Sequence[Any]) -> Any:
    """One Keras model averaging a trial's fold models with equal weights; raises
    :class:`FoldInputsDiffer` when they take different inputs."""
    return average_model(
        models,
        [1.0] * len(models),
        [f"fold_{i}" for i in range(len(models))],
        name="folds",
        error=FoldInputsDiffer,
    )


def run_kfold_trial(
    trial: optuna.Trial,
    params: dict[str, Any],
    splits: Splits,
    config: StudyConfig,
    *,
    seed: int,
    prune: bool,
    verbose: bool = False,
    after_train: Sequence[Callable[[optuna.Trial, TrainResult], None]] = (),
    on_fold: Callable[[int, TrainResult], None] | None = None,
    fold_callbacks: Callable[[int], list[Any]] | None = None,
) -> float:
    """One cross-validated trial: its value (the mean over folds), its numbers on the trial.

    A pruned trial records the folds it finished, then raises :class:`optuna.TrialPruned`.
    With ``after_train`` hooks (saving the model), the hooks get the model the trial stands for
    (its fold models averaged, :func:`fold_average`, or :func:`refit`), with its value and
    threshold. ``on_fold`` and ``fold_callbacks`` are those of :func:`cross_validate`.
    """
    models: list[Any] = []
    keep = bool(after_train) and averages_folds(config, splits)

    def fold_done(fold: int, result: TrainResult) -> None:
        if keep:
            models.append(result.model)
        if on_fold is not None:
            on_fold(fold, result)

    try:
        result = cross_validate(
            trial,
            params,
            splits,
            config,
            seed=seed,
            prune=prune,
            verbose=verbose,
            on_fold=fold_done,
            fold_callbacks=fold_callbacks,
        )
    except FoldsPruned as pruned:
        record(trial, pruned.partial)
        raise
    record(trial, result)
    trial.set_user_attr(keys.VAL_METRICS, result.val_metrics())
    history = result.history()
    trial.set_user_attr(keys.HISTORY, history)
    threshold = result.threshold()
    if threshold is not None:
        trial.set_user_attr(keys.THRESHOLD, threshold)
    if after_train:
        model = None
        if keep:
            with contextlib.suppress(FoldInputsDiffer):  # then refit, as the report does
                model = dataclasses.replace(result.folds[0], model=fold_average(models))
        if model is None:
            model = refit(params, splits, config, seed=seed, mean_best_epoch=result.mean_best_epoch)
        summary = dataclasses.replace(
            model,
            best_value=result.mean,
            val_metrics=result.val_metrics(),
            threshold=threshold,
            history=history,
        )
        for hook in after_train:
            hook(trial, summary)
    return result.mean


class FoldsPruned(optuna.TrialPruned):
    """A pruned cross-validated trial; carries the folds it finished."""

    def __init__(self, partial: CVResult):
        super().__init__(f"pruned after {len(partial.folds)} folds")
        self.partial = partial


__all__ = [
    "CVResult",
    "FoldInputsDiffer",
    "FoldsPruned",
    "averages_folds",
    "cross_validate",
    "fold_average",
    "fold_seed",
    "is_kfold",
    "pruner_resource",
    "record",
    "refit",
    "refit_epochs",
    "run_kfold_trial",
]
