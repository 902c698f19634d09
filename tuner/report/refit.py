"""The exported model of a cross-validated study (``[data] validation = "kfold"``).

The model a cross-validated trial stands for (``[data] kfold_model``); where the search saved
it (a fold average), it is exported as saved, each fold model checked on its own fold's
validation rows, nothing trained. Otherwise (no saved model, or ``--retrain``) the report trains
it again:

- ``"average"``: the fold models, each trained again on its fold from its fold seed exactly
  as during the search (early stopping and learning-rate reduction on its fold's validation
  rows), averaged with equal weights into one Keras model. The check is the one a holdout
  study gets: the folds trained again reproduce the trial's recorded value (their mean), within
  the tolerance. The exported model's metrics are out-of-fold: each non-test row is predicted
  by the fold model that did not train on it.
- ``"refit"`` (and CSV tables on JAX or PyTorch, whose fold models number categories by their
  own vocabularies, or whose folds take different columns): the trial's
  parameters refit on every non-test row (train and validation together; CSV preprocessing
  fitted on them) for the folds' mean best epoch count, with the trial's seed and nothing
  watching a validation split (no early stopping, no learning-rate reduction). The trial's
  recorded value is the cross-validated mean, which a model trained on those very rows cannot
  reproduce, so no such check is claimed. The check made instead is that the refit is
  deterministic: the exported file and a first refit from the same seed score the refit's own
  rows alike (within the tolerance).

The test split is not used here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from optuna.trial import FrozenTrial

from tuner import artifacts as art
from tuner import keys
from tuner.config.schema import StudyConfig
from tuner.data.splits import Splits, all_rows, fold_splits
from tuner.errors import ReportError, TrialError
from tuner.ml.metrics import compute, compute_all
from tuner.ml.training import predict
from tuner.report.model_export import within_tolerance
from tuner.report.progress import say
from tuner.search.cv import (
    FoldInputsDiffer,
    averages_folds,
    cross_validate,
    fold_average,
    refit,
    refit_epochs,
)


def refit_statement(trial: FrozenTrial, config: StudyConfig, rows: int, epochs: int) -> str:
    """One line saying what the value is and how the exported model was made."""
    mean = trial.user_attrs.get(keys.CV_MEAN, trial.values[0])
    std = trial.user_attrs.get(keys.CV_STD, float("nan"))
    return (
        f"cross-validated {config.objective.metric} {mean:.4g} ± {std:.2g} over "
        f"{config.data.folds} folds; exported model refit on {rows:,} rows for {epochs} epochs"
    )


def export_refit(
    trial: FrozenTrial,
    splits: Splits,
    config: StudyConfig,
    staging: Path,
    *,
    tolerance: float,
    threshold: float | None,
) -> tuple[Any, Path, str, str, dict[str, float], dict[str, Any]]:
    """(model, path, source, provenance, metrics on the refit rows, check) of a k-fold trial."""
    seed = _trial_seed(trial)
    mean_best = float(
        np.mean(
            trial.user_attrs.get(keys.FOLD_BEST_EPOCHS)
            or [trial.user_attrs.get(keys.BEST_EPOCH, 0)]
        )
    )
    epochs = refit_epochs(mean_best)
    everything = all_rows(splits, config.data)
    rows = len(everything.y_train)
    outputs = []
    try:
        for run in (1, 2):  # the second refit checks that the first is reproducible
            say(f"refitting trial {trial.number} on all {rows:,} non-test rows ({run}/2)…")
            result = refit(
                dict(trial.params), splits, config, seed=int(seed), mean_best_epoch=mean_best
            )
            outputs.append(predict(result.model, everything.x_train))
    except TrialError as exc:
        raise ReportError(
            f"refitting trial {trial.number} on all {rows:,} non-test rows failed: {exc}"
        ) from None
    metric = config.objective.metric
    info = art.ModelInfo.for_trial(splits, config, trial.number, float(trial.values[0]), threshold)
    model_path, _ = art.write_model(result.model, info, staging)
    exported = art.load_model(
        model_path, error=ReportError
    )  # the file handed out, as a user loads it
    own = predict(exported, everything.x_train)
    first = compute(metric, everything.y_train, outputs[0], splits.task)
    second = compute(metric, everything.y_train, own, splits.task)
    difference = abs(second - first)
    if not within_tolerance(first, second, tolerance):
        raise ReportError(
            f"refitting trial {trial.number} is not deterministic on this machine: two refits from "
            f"seed {seed} score {first:.6g} and {second:.6g} on their training rows (difference "
            f"{difference:.3g} exceeds the tolerance {tolerance:g})"
        )
    statement = refit_statement(trial, config, rows, epochs)
    check = {
        "kind": "refit",
        "statement": statement,
        "metric": metric,
        "recorded": float(trial.values[0]),  # the trial's value: the mean over its folds
        "reproduced": second,  # the exported file on its own training rows (not a held-out value)
        "refit_first": first,  # a first refit from the same seed, on the same rows
        "difference": difference,  # |reproduced - refit_first|: the refit is deterministic
        "tolerance": tolerance,
        "tolerance_rule": (
            "two refits from the trial's seed agree: |second - first| <= tolerance * max(1, "
            "|first|), on the refit's own rows"
        ),
        "cv_mean": trial.user_attrs.get(keys.CV_MEAN, float(trial.values[0])),
        "cv_std": trial.user_attrs.get(keys.CV_STD),
        "fold_values": trial.user_attrs.get(keys.FOLD_VALUES),
        "folds": config.data.folds,
        "refit_rows": rows,
        "refit_epochs": epochs,
    }
    provenance = f"{statement} (seed {seed}, no early stopping)"
    return (
        exported,
        model_path,
        "refit",
        provenance,
        compute_all(everything.y_train, own, splits.task),
        check,
    )


def _trial_seed(trial: FrozenTrial) -> int:
    seed = trial.user_attrs.get(keys.TRIAL_SEED)
    if seed is None:
        raise ReportError(f"trial {trial.number} has no stored seed, so it cannot be trained again")
    return int(seed)


def export_fold_average(
    trial: FrozenTrial,
    splits: Splits,
    config: StudyConfig,
    staging: Path,
    *,
    tolerance: float,
    threshold: float | None,
) -> tuple[Any, Path, str, str, dict[str, float], dict[str, Any]]:
    """(model, path, source, provenance, out-of-fold metrics, check) of a k-fold trial whose
    fold models are averaged, trained again from their seeds."""
    seed = _trial_seed(trial)
    folds = fold_splits(splits, config.data)
    out_of_fold: list[np.ndarray] = []
    models: list[Any] = []

    def keep(fold: int, result: Any) -> None:
        out_of_fold.append(predict(result.model, folds[fold].x_val))
        models.append(result.model)
        if len(models) < len(folds):
            say(f"re-training trial {trial.number} (fold {len(models) + 1}/{len(folds)})…")

    say(f"re-training trial {trial.number} (fold 1/{len(folds)})…")
    try:
        result = cross_validate(
            None, dict(trial.params), splits, config, seed=seed, prune=False, on_fold=keep
        )
    except TrialError as exc:
        raise ReportError(
            f"training the {len(folds)} folds of trial {trial.number} again failed: {exc}"
        ) from None
    info = art.ModelInfo.for_trial(splits, config, trial.number, float(trial.values[0]), threshold)
    model_path, _ = art.write_model(fold_average(models), info, staging)
    exported = art.load_model(model_path, error=ReportError)  # as a user loads it
    return _checked_folds(
        trial,
        exported,
        model_path,
        result.values,
        out_of_fold,
        splits,
        config,
        tolerance=tolerance,
        how=("trained again from their seeds", f"seed {seed}"),
    )


def export_saved_fold_average(
    trial: FrozenTrial,
    model: Any,
    where: str,
    splits: Splits,
    config: StudyConfig,
    staging: Path,
    *,
    tolerance: float,
    threshold: float | None,
) -> tuple[Any, Path, str, str, dict[str, float], dict[str, Any]] | None:
    """The fold average saved when the trial ran, exported as it is (nothing trained): each
    fold model scores its own fold's validation rows. None if ``model`` is no fold average of
    this study's folds (e.g. a refit was saved)."""
    folds = fold_splits(splits, config.data)
    names = {layer.name for layer in model.layers}
    if not {f"fold_{i}" for i in range(len(folds))} <= names or f"fold_{len(folds)}" in names:
        return None
    info = art.ModelInfo.for_trial(splits, config, trial.number, float(trial.values[0]), threshold)
    model_path, _ = art.write_model(model, info, staging)
    exported = art.load_model(model_path, error=ReportError)  # as a user loads it
    metric = config.objective.metric
    out_of_fold = [
        predict(exported.get_layer(f"fold_{i}"), fold.x_val) for i, fold in enumerate(folds)
    ]
    values = [
        compute(metric, fold.y_val, pred, splits.task)
        for fold, pred in zip(folds, out_of_fold, strict=True)
    ]
    return _checked_folds(
        trial,
        exported,
        model_path,
        values,
        out_of_fold,
        splits,
        config,
        tolerance=tolerance,
        how=("saved when the trial ran", where),
    )


def _checked_folds(
    trial: FrozenTrial,
    exported: Any,
    model_path: Path,
    values: list[float],
    out_of_fold: list[np.ndarray],
    splits: Splits,
    config: StudyConfig,
    *,
    tolerance: float,
    how: tuple[str, str],
) -> tuple[Any, Path, str, str, dict[str, float], dict[str, Any]]:
    """Check a fold average's folds (``values``, one per fold) against the trial's value; the
    export's tuple. ``how``: (how the fold models were obtained, from where)."""
    made, where = how
    saved = made.startswith("saved")
    folds = fold_splits(splits, config.data)
    metric = config.objective.metric
    recorded = float(trial.values[0])
    mean, std = float(np.mean(values)), float(np.std(values))
    difference = abs(mean - recorded)
    if not within_tolerance(recorded, mean, tolerance):
        fix = (
            "pass --retrain"
            if saved
            else "run the report where the study ran, or accept the difference with --tolerance"
        )
        raise ReportError(
            f"trial {trial.number}'s fold models ({made}) score {mean:.6g}, but the trial "
            f"recorded {recorded:.6g} (difference {difference:.3g} exceeds the tolerance "
            f"{tolerance:g}); {fix}"
        )
    y_oof = np.concatenate([f.y_val for f in folds])
    statement = (
        f"cross-validated {metric} {mean:.4g} ± {std:.2g} over {len(folds)} folds; "
        f"exported model: the {len(folds)} fold models averaged"
    )
    check = {
        "kind": "folds",
        "statement": statement,
        "metric": metric,
        "recorded": recorded,  # the trial's value: the mean over its folds
        "reproduced": mean,  # the fold models', each on its own fold's validation rows
        "difference": difference,
        "tolerance": tolerance,
        "tolerance_rule": (
            f"the fold models ({made}) reproduce the trial's value: "
            "|reproduced - recorded| <= tolerance * max(1, |recorded|)"
        ),
        "cv_mean": mean,
        "cv_std": std,
        "fold_values": values,
        "folds": len(folds),
        "fold_models": made,
    }
    provenance = f"{statement} ({made}: {where}; metrics out-of-fold)"
    return (
        exported,
        model_path,
        "folds",
        provenance,
        compute_all(y_oof, np.concatenate(out_of_fold), splits.task),
        check,
    )


def export_kfold(
    trial: FrozenTrial,
    splits: Splits,
    config: StudyConfig,
    staging: Path,
    *,
    tolerance: float,
    threshold: float | None,
    saved: tuple[Any, str] | None = None,
) -> tuple[Any, Path, str, str, dict[str, float], dict[str, Any]]:
    """The model a k-fold trial stands for: its folds averaged, or a refit (see above).

    ``saved``: (model, where) saved when the trial ran; a fold average among them is exported
    as it is, checked on its folds' validation rows, without training anything."""
    if averages_folds(config, splits):
        if saved is not None:
            exported = export_saved_fold_average(
                trial, *saved, splits, config, staging, tolerance=tolerance, threshold=threshold
            )
            if exported is not None:
                return exported
        try:
            return export_fold_average(
                trial, splits, config, staging, tolerance=tolerance, threshold=threshold
            )
        except FoldInputsDiffer:
            pass  # a CSV column empty in one fold's rows: refit, as during the search
    return export_refit(trial, splits, config, staging, tolerance=tolerance, threshold=threshold)


__all__ = [
    "export_fold_average",
    "export_kfold",
    "export_refit",
    "export_saved_fold_average",
    "refit_statement",
]
