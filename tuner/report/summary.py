"""What a report's ``summary.json`` holds: the study, the chosen trial, its model and scores."""

from __future__ import annotations

import math
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.trial import FrozenTrial

from tuner import artifacts as art
from tuner import keys
from tuner.config.schema import StudyConfig
from tuner.storage import mask_url
from tuner.studies import count_states


def json_safe(value: Any) -> Any:
    """``value`` with string keys, plain ints and floats, and ``None`` for a non-finite float."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if not math.isfinite(float(value)) else float(value)
    return value


def report_summary(
    study: optuna.Study,
    storage_url: str,
    config: StudyConfig,
    splits: Any,
    chosen: FrozenTrial,
    model: Any,
    model_path: Path,
    *,
    source: str,
    provenance: str,
    check: dict[str, Any],
    val_metrics: dict[str, float],
    test: dict[str, Any],
    plots: list[Any],
) -> dict[str, Any]:
    """What ``summary.json`` holds (without the file list)."""
    counts = count_states(study)
    return {
        "study": study.study_name,
        "storage": mask_url(storage_url),
        "dataset": config.data.dataset,
        "task": splits.task,
        "metric": config.objective.metric,
        "direction": study.directions[0].name.lower(),
        "directions": [d.name.lower() for d in study.directions],
        "best_trial": chosen.number,
        "best_value": chosen.values[0] if len(study.directions) == 1 else list(chosen.values),
        "best_params": dict(chosen.params),
        "best_trial_attrs": {
            k: chosen.user_attrs.get(k)
            for k in (
                keys.TRIAL_SEED,
                keys.N_PARAMS,
                keys.EPOCHS_RUN,
                keys.BEST_EPOCH,
                keys.TRAIN_SECONDS,
            )
        },
        "counts": counts,
        "n_trials": sum(counts.values()),
        "splits": {
            "train": len(splits.y_train),
            "validation": len(splits.y_val),
            "test": len(splits.y_test),
        },
        "validation_metrics": val_metrics,
        "test": test,
        "model": {
            "file": art.MODEL_FILE,
            "description": art.INFO_FILE,
            "trial": chosen.number,
            "source": source,
            "provenance": provenance,
            "n_params": int(model.count_params()),
            "bytes": model_path.stat().st_size,
            "safe_mode_load": True,
            "validation_check": check,
        },
        "plots": [
            {"name": p.name, "title": p.title, "files": p.files, "skipped": p.skipped}
            for p in plots
        ],
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def add_extras(
    summary: dict[str, Any],
    study: optuna.Study,
    chosen: FrozenTrial,
    exported: Any,
    splits: Any,
    metric: str,
    *,
    chosen_by_hand: bool,
    folds: list[Any] | None = None,
) -> None:
    """Column importances (CSV tables), the Pareto front (two objectives), a note on --trial.

    ``folds``: a cross-validated study's folds; the importances are then out of fold when the
    exported model averages the fold models (on the rows it trained on otherwise, and said so).
    """
    if getattr(splits, "table", None) is not None:  # a CSV table: which columns the model relies on
        from tuner.report.importance import has_fold_models, importance_rows

        out_of_fold = folds is not None and has_fold_models(exported, len(folds))
        summary["permutation_importance"] = importance_rows(
            exported, splits, metric, folds=folds if out_of_fold else None
        )
        summary["permutation_importance_rows"] = (
            "out of fold"
            if out_of_fold
            else "validation split"
            if folds is None
            else "validation split (rows the refit model trained on)"
        )
    if len(study.directions) > 1:
        # [objective] size_objective: the trials no other trial beats on both
        front = sorted(study.best_trials, key=lambda t: t.values[1])
        summary["pareto_front"] = [
            {
                "trial": t.number,
                "values": list(t.values),
                "n_params": t.user_attrs.get(keys.N_PARAMS),
            }
            for t in front
        ]
    if chosen_by_hand:
        summary["note"] = (
            f"trial {chosen.number} was chosen with --trial; it need not be the study's best"
        )
