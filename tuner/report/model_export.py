"""The report's model: the trial's saved model (else the trial re-trained from its seed), written
beside the report, loaded back in safe mode and checked against the trial's validation value."""

from __future__ import annotations

import math
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from optuna.trial import FrozenTrial

from tuner import artifacts as art
from tuner import keys
from tuner.config.schema import StudyConfig
from tuner.errors import ReportError, TrialError
from tuner.ml.metrics import compute, compute_all
from tuner.report.progress import say
from tuner.studies import OpenedStudy


@dataclass
class Export:
    """The exported model, loaded back from its file, and how it compares with the trial."""

    model: Any
    path: Path
    source: str
    provenance: str
    val_metrics: dict[str, float]
    check: dict[str, Any]


def saved_model(
    opened: OpenedStudy,
    trial: FrozenTrial,
    staging: Path,
    artifacts: str | os.PathLike[str] | None,
) -> tuple[Any, str] | None:
    """(model, where) of the model saved when ``trial`` ran, loaded in safe mode; None if none."""
    artifacts_dir = art.resolve_artifacts_dir(opened.url, artifacts)
    scratch = staging / ".download"
    try:
        fetched = art.fetch_trial_model(opened.storage, trial, artifacts_dir, scratch)
        if fetched is None:
            return None
        model = art.load_model(fetched[0], error=ReportError)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return model, f"saved when the trial ran, in {artifacts_dir}"


def _obtain_model(
    rdb: Any,
    trial: FrozenTrial,
    splits: Any,
    config: StudyConfig,
    *,
    artifacts_dir: Path | None,
    retrain: bool,
    scratch: Path,
) -> tuple[Any, str, str]:
    """(model, source, why): the trial's saved model, else the trial re-trained from its seed."""
    why = "--retrain was given"
    if not retrain:
        fetched = art.fetch_trial_model(rdb, trial, artifacts_dir, scratch)
        if fetched is not None:
            return (
                art.load_model(fetched[0], error=ReportError),
                "artifact",
                f"saved when the trial ran, in {artifacts_dir}",
            )
        why = "no saved model for this trial" + (
            f" in {artifacts_dir}"
            if artifacts_dir is not None
            else " (no artifact folder for this store; set --artifacts or TUNER_ARTIFACTS)"
        )
    if (trial.user_attrs.get(keys.PACKED) or 1) > 1:
        raise ReportError(
            f"trial {trial.number} was trained packed and {why}; a packed trial is exported from "
            "its saved weights only (the ordinary trainer does not replay packed training), so "
            "point --artifacts at the folder its model was saved to, or report another trial"
        )
    seed = trial.user_attrs.get(keys.TRIAL_SEED)
    if seed is None:
        raise ReportError(
            f"trial {trial.number} has no saved model and no stored seed, so it cannot be "
            "re-trained; point --artifacts at the folder its model was saved to"
        )
    from tuner.ml.training import train

    epochs = int(trial.user_attrs.get(keys.EPOCHS_RUN) or config.training.max_epochs)
    say(f"re-training trial {trial.number} from seed {seed} ({epochs} epochs)…")
    try:
        result = train(dict(trial.params), splits, config, seed=int(seed), max_epochs=epochs)
    except TrialError as exc:
        raise ReportError(f"re-training trial {trial.number} failed: {exc}") from None
    return result.model, "retrained", f"re-trained from seed {seed} for {epochs} epochs ({why})"


def within_tolerance(reference: float, value: float, tolerance: float) -> bool:
    """The report's reproduction rule: |value - reference| <= tolerance * max(1, |reference|),
    with a finite difference."""
    difference = abs(value - reference)
    return math.isfinite(difference) and difference <= tolerance * max(1.0, abs(reference))


def _check_reproduced(
    recorded: float, reproduced: float, tolerance: float, *, metric: str, trial: int, source: str
) -> float:
    difference = abs(reproduced - recorded)
    if within_tolerance(recorded, reproduced, tolerance):
        return difference
    if source == "retrained":
        fix = (
            "re-training did not reproduce the trial on this machine; save models while running "
            "(TUNER_ARTIFACTS=DIR, a folder every worker shares) or accept the difference with "
            "--tolerance"
        )
    else:
        fix = (
            "the saved model does not match this trial's data; check --artifacts and --data-dir, "
            "or pass --retrain"
        )
    raise ReportError(
        f"the {source} model of trial {trial} scores validation {metric} {reproduced:.6g}, but "
        f"the trial recorded {recorded:.6g} (difference {difference:.3g} exceeds the tolerance "
        f"{tolerance:g}); {fix}"
    )


def keras_summary(model: Any) -> str:
    """Keras' summary of ``model`` as text."""
    lines: list[str] = []
    model.summary(print_fn=lambda text, *args, **kwargs: lines.append(str(text)))
    return "\n".join(lines).rstrip() + "\n"


def export_checked(
    opened: OpenedStudy,
    chosen: FrozenTrial,
    splits: Any,
    config: StudyConfig,
    staging: Path,
    *,
    artifacts: str | os.PathLike[str] | None,
    retrain: bool,
    tolerance: float,
    threshold: float | None,
) -> Export:
    """Write the trial's model into ``staging``, load it back, and check it on the validation
    split."""
    from tuner.ml.training import predict

    artifacts_dir = art.resolve_artifacts_dir(opened.url, artifacts)
    scratch = staging / ".download"
    model, source, provenance = _obtain_model(
        opened.storage,
        chosen,
        splits,
        config,
        artifacts_dir=artifacts_dir,
        retrain=retrain,
        scratch=scratch,
    )
    shutil.rmtree(scratch, ignore_errors=True)
    metric = config.objective.metric
    recorded = float(chosen.values[0])
    info = art.ModelInfo.for_trial(splits, config, chosen.number, recorded, threshold)
    model_path, _ = art.write_model(model, info, staging)
    # the file handed out, as a user loads it
    exported = art.load_model(model_path, error=ReportError)

    val_outputs = predict(exported, splits.x_val)
    val_metrics = compute_all(splits.y_val, val_outputs, splits.task)
    reproduced = compute(metric, splits.y_val, val_outputs, splits.task)
    difference = _check_reproduced(
        recorded, reproduced, tolerance, metric=metric, trial=chosen.number, source=source
    )
    check = {
        "metric": metric,
        "recorded": recorded,
        "reproduced": reproduced,
        "difference": difference,
        "tolerance": tolerance,
        "tolerance_rule": "|reproduced - recorded| <= tolerance * max(1, |recorded|)",
    }
    return Export(exported, model_path, source, provenance, val_metrics, check)
