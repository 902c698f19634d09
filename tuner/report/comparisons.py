"""What a report sets beside the tuned MLP: scikit-learn baselines and a greedy ensemble.

:func:`add_comparisons` adds to a report's summary

- ``baselines``: a linear model and gradient boosting fitted on the study's train + validation
  rows and scored once on its test rows (:mod:`tuner.report.baselines`), with a one-line
  ``baselines_verdict``;
- ``ensemble`` (when asked for): Caruana's greedy selection over the best trials' saved models,
  on their validation predictions only (:mod:`tuner.report.ensemble`), exported as
  ``ensemble.keras`` + ``ensemble.json``, loaded back in safe mode and checked against the
  selection's validation value, then scored once on the test split beside the single best.
"""

from __future__ import annotations

import dataclasses
import math
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

from tuner import artifacts as art
from tuner import keys
from tuner.errors import ReportError
from tuner.ml import metrics as metrics_mod
from tuner.ml.table_layers import renamed_inputs_allowed
from tuner.report.baselines import add_baselines
from tuner.report.ensemble import Selection, average_model, select_ensemble
from tuner.report.model_export import within_tolerance

ENSEMBLE_FILE = "ensemble.keras"
#: Candidates considered: the best saved trials, at most this many times the ensemble size.
CANDIDATES_PER_MEMBER = 2


# --------------------------------------------------------------------------- candidates


@dataclass
class _Candidate:
    trial: FrozenTrial
    model: Any
    val_outputs: np.ndarray


def ranked_trials(study: optuna.Study) -> list[FrozenTrial]:
    """Complete trials, best first in the (first) objective; ties by trial number."""
    sign = -1.0 if study.directions[0] == optuna.study.StudyDirection.MAXIMIZE else 1.0
    complete = [
        t
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        if t.values and math.isfinite(t.values[0])
    ]
    return sorted(complete, key=lambda t: (sign * t.values[0], t.number))


def _candidates(
    opened: Any,
    splits: Any,
    metric: str,
    *,
    limit: int,
    folder: Path | None,
    scratch: Path,
    tolerance: float,
) -> tuple[list[_Candidate], list[dict[str, Any]]]:
    """The best ``limit`` trials whose saved model reproduces their validation value; the skipped
    ones."""
    from tuner.ml.training import predict

    found: list[_Candidate] = []
    skipped: list[dict[str, Any]] = []
    for trial in ranked_trials(opened.study):
        if len(found) >= limit:
            break
        fetched = art.fetch_trial_model(
            opened.storage, trial, folder, scratch / f"trial_{trial.number}"
        )
        if fetched is None:
            skipped.append({"trial": trial.number, "reason": "no saved model"})
            continue
        with renamed_inputs_allowed():
            model = art.load_model(fetched[0], error=ReportError)
        outputs = predict(model, splits.x_val)
        value = metrics_mod.compute(metric, splits.y_val, outputs, splits.task)
        if not within_tolerance(float(trial.values[0]), value, tolerance):
            skipped.append(
                {
                    "trial": trial.number,
                    "reason": (
                        f"saved model scores validation {metric} {value:.6g}, the trial recorded "
                        f"{trial.values[0]:.6g}"
                    ),
                }
            )
            continue
        found.append(_Candidate(trial, model, outputs))
    return found, skipped


# --------------------------------------------------------------------------- scoring


def scored_metrics(
    y_true: np.ndarray, outputs: np.ndarray, task: str, threshold: float | None
) -> dict[str, float]:
    """Every metric of the task; a binary model's label metrics at its ``threshold``."""
    result = metrics_mod.compute_all(y_true, outputs, task)
    if task == "binary" and threshold is not None:
        for name in metrics_mod.THRESHOLD_METRICS:
            result[name] = metrics_mod.score_at_threshold(name, y_true, outputs, threshold)
    return result


def _export(model: Any, info: art.ModelInfo, staging: Path) -> tuple[Path, Any]:
    """Write ``ensemble.keras`` and ``ensemble.json``; return the path and the model loaded back in
    safe mode."""
    path = staging / ENSEMBLE_FILE
    with renamed_inputs_allowed():
        art.save_model(model, path)
        art.info_path(path).write_text(info.to_json() + "\n", encoding="utf-8")
        return path, art.load_model(path, error=ReportError)


def _checked(selection: Selection, value: float, tolerance: float, metric: str) -> dict[str, Any]:
    difference = abs(value - selection.value)
    if not within_tolerance(selection.value, value, tolerance):
        raise ReportError(
            f"the exported ensemble scores validation {metric} {value:.6g}, but its selection "
            f"scored {selection.value:.6g} (difference {difference:.3g} exceeds the tolerance "
            f"{tolerance:g}); report without --ensemble, or accept the difference with --tolerance"
        )
    return {
        "metric": metric,
        "selected": selection.value,
        "reproduced": value,
        "difference": difference,
        "tolerance": tolerance,
    }


def _usable_candidates(
    opened: Any,
    splits: Any,
    metric: str,
    *,
    size: int,
    folder: Path | None,
    staging: Path,
    tolerance: float,
) -> tuple[list[_Candidate], list[dict[str, Any]]]:
    """The candidates of an ensemble of at most ``size`` additions, and the trials skipped;
    refuses when there is none."""
    scratch = staging / ".ensemble-download"
    try:
        found, skipped = _candidates(
            opened,
            splits,
            metric,
            limit=CANDIDATES_PER_MEMBER * size,
            folder=folder,
            scratch=scratch,
            tolerance=tolerance,
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if not found:
        where = (
            f"in {folder}"
            if folder is not None
            else "(no artifact folder for this store; set --artifacts or TUNER_ARTIFACTS)"
        )
        raise ReportError(
            f"no trial of study '{opened.study.study_name}' has a usable saved model {where}, so "
            "there is nothing to ensemble; save models while running (TUNER_ARTIFACTS=DIR) or "
            "report without --ensemble"
        )
    return found, skipped


@dataclass
class _Exported:
    """The selection's averaged model, written and loaded back, and its check on validation."""

    path: Path
    loaded: Any
    numbers: list[int]
    threshold: float | None
    check: dict[str, Any]


def _export_selection(
    found: list[_Candidate],
    selection: Selection,
    config: Any,
    splits: Any,
    staging: Path,
    *,
    tolerance: float,
) -> _Exported:
    """Average the selected members into one model, export it and check it on validation."""
    from tuner.ml.training import predict

    metric, task = config.objective.metric, splits.task
    members = [found[i] for i in selection.members]
    numbers = [c.trial.number for c in members]
    with renamed_inputs_allowed():
        model = average_model(
            [c.model for c in members], selection.member_weights, trial_numbers=numbers
        )
    averaged = sum(
        w * found[i].val_outputs.astype(np.float64)
        for i, w in zip(selection.members, selection.member_weights, strict=True)
    )
    threshold = metrics_mod.decision_threshold(metric, splits.y_val, averaged, task)
    info = art.ModelInfo.for_trial(splits, config, None, selection.value, threshold)
    info = dataclasses.replace(
        info, extra={"ensemble": {"members": numbers, "weights": list(selection.member_weights)}}
    )
    path, loaded = _export(model, info, staging)
    check = _checked(
        selection,
        metrics_mod.compute(metric, splits.y_val, predict(loaded, splits.x_val), task),
        tolerance,
        metric,
    )
    return _Exported(path, loaded, numbers, threshold, check)


def build_ensemble(
    opened: Any,
    config: Any,
    splits: Any,
    staging: Path,
    *,
    size: int,
    artifacts: Any,
    tolerance: float,
    chosen: FrozenTrial,
    chosen_test_outputs: np.ndarray,
) -> dict[str, Any]:
    """Select, export, check and score a greedy ensemble of at most ``size`` additions.

    The single best candidate's test outputs are ``chosen_test_outputs`` when it is the report's
    own trial (the test split is not scored again for it).
    """
    from tuner.ml.training import predict

    metric, task = config.objective.metric, splits.task
    if getattr(config.data, "validation", "holdout") == "kfold":
        raise ReportError(
            'a cross-validated study ([data] validation = "kfold") saves no trial models (each '
            "trial trains one per fold), so there is nothing to ensemble; report without "
            "--ensemble"
        )
    direction = opened.study.directions[0].name.lower()
    folder = art.resolve_artifacts_dir(opened.url, artifacts)
    found, skipped = _usable_candidates(
        opened, splits, metric, size=size, folder=folder, staging=staging, tolerance=tolerance
    )
    selection = select_ensemble(
        [c.val_outputs for c in found],
        splits.y_val,
        metric=metric,
        task=task,
        size=size,
        direction=direction,
    )
    exported = _export_selection(found, selection, config, splits, staging, tolerance=tolerance)
    loaded, threshold = exported.loaded, exported.threshold

    single = found[selection.best_single]
    single_threshold = single.trial.user_attrs.get(keys.THRESHOLD) if task == "binary" else None
    single_test = (
        chosen_test_outputs
        if single.trial.number == chosen.number
        else predict(single.model, splits.x_test)
    )
    ensemble_test = predict(loaded, splits.x_test)  # the ensemble's one use of the test split
    return {
        "file": ENSEMBLE_FILE,
        "description": art.info_path(ENSEMBLE_FILE).name,
        "size": size,
        "candidates": [c.trial.number for c in found],
        "skipped": skipped,
        "members": exported.numbers,
        "weights": list(selection.member_weights),
        "additions": [found[i].trial.number for i in selection.order[: selection.n_kept]],
        "stopped_early": selection.stopped_early,
        "single_best": single.trial.number,
        "threshold": threshold,
        "n_params": int(loaded.count_params()),
        "bytes": exported.path.stat().st_size,
        "validation": {
            "metric": metric,
            "single": selection.single_value,
            "ensemble": selection.value,
            "check": exported.check,
        },
        "test": {
            "single": scored_metrics(splits.y_test, single_test, task, single_threshold),
            "ensemble": scored_metrics(splits.y_test, ensemble_test, task, threshold),
        },
    }


def add_comparisons(
    summary: dict[str, Any],
    opened: Any,
    config: Any,
    splits: Any,
    staging: Path,
    *,
    chosen: FrozenTrial,
    test_outputs: np.ndarray,
    baselines: bool,
    ensemble: int | None,
    artifacts: Any,
    tolerance: float,
) -> None:
    """The baselines (unless ``baselines`` is False) and the ensemble (when ``ensemble`` is set)."""
    metric = config.objective.metric
    direction = opened.study.directions[0].name.lower()
    add_baselines(
        summary,
        splits,
        metric,
        direction,
        test_outputs=test_outputs,
        fit=baselines,
        seed=int(config.data.split_seed),
    )
    if ensemble:
        summary["ensemble"] = build_ensemble(
            opened,
            config,
            splits,
            staging,
            size=ensemble,
            artifacts=artifacts,
            tolerance=tolerance,
            chosen=chosen,
            chosen_test_outputs=test_outputs,
        )


__all__ = [
    "CANDIDATES_PER_MEMBER",
    "ENSEMBLE_FILE",
    "add_baselines",
    "add_comparisons",
    "build_ensemble",
    "ranked_trials",
    "scored_metrics",
]
