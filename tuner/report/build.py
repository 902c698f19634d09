"""The report: the best trial's model exported, scored once on the test split, with plots.

``build_report`` writes a folder (default ``reports/<study>/``)::

    index.html            the numbers, the Keras model summary, every plot
    summary.json          the same, machine-readable
    model.keras           the model, preprocessing inside: raw rows in, predictions out
    model.json            what the model takes and returns (task, classes, feature names)
    model_summary.txt     Keras' summary of the model
    ensemble.keras, .json with ``ensemble=N``: a greedy ensemble of the best saved trials
    plots/*.html, *.png   each plot interactive and as an image

The model comes from the trial's saved artifact, or is re-trained from the trial's stored seed
and parameters. Either way the exported file is loaded back (safe mode) and must reproduce the
trial's recorded validation value within ``tolerance`` before the test split is touched; the
test split is then scored exactly once. Everything is written to a hidden folder beside the
target and renamed into place at the end, so a failed report leaves nothing behind.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

from tuner import artifacts as art
from tuner import keys
from tuner.config.schema import StudyConfig
from tuner.config.stored import config_at_trial
from tuner.errors import ConfigError, ReportError, TrialError
from tuner.keys import CONFIG_ATTR
from tuner.ml.metrics import CLASSIFICATION_TASKS, compute, compute_all
from tuner.report.comparisons import add_comparisons
from tuner.report.leaderboard import study_extras
from tuner.report.page import render_index
from tuner.report.refit import export_refit
from tuner.report.staging import publish, staging_dir
from tuner.storage import mask_url
from tuner.studies import OpenedStudy, count_states, open_study

#: The exported model's validation value must lie within this of the recorded one
#: (absolute, or relative for values above 1).
DEFAULT_TOLERANCE = 1e-4
REPORTS_DIR = "reports"
SUMMARY_FILE = "summary.json"
INDEX_FILE = "index.html"
MODEL_SUMMARY_FILE = "model_summary.txt"


@dataclass
class ReportResult:
    """What :func:`build_report` wrote, and the headline numbers."""

    out: Path
    study_name: str
    trial: int
    metric: str
    recorded_value: float
    reproduced_value: float
    model_source: str  # "artifact" or "retrained"
    test_metrics: dict[str, float]
    files: list[str]
    seconds: float
    summary: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- choosing


def stored_config(study: optuna.Study, trial: int | None = None) -> StudyConfig:
    """The study's config as recorded in the store: the settings trial ``trial`` ran under
    (settings changed on resume undone for earlier trials), else those it was created with."""
    try:
        config = config_at_trial(study.user_attrs, study.study_name, 0 if trial is None else trial)
    except ConfigError as exc:
        raise ReportError(f"study '{study.study_name}' has a stored config this version cannot read: {exc}") from None
    if config is None:
        raise ReportError(f"study '{study.study_name}' was not created by tuner (it has no stored '{CONFIG_ATTR}'), so its data split cannot be rebuilt")
    return config


def select_trial(study: optuna.Study, number: int | None = None) -> FrozenTrial:
    """Trial ``number`` (which must be complete), else the best trial.

    For a multi-objective study, "best" is the Pareto-optimal trial best in the first objective.
    """
    name = study.study_name
    trials = study.get_trials(deepcopy=False)
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    if not complete:
        raise ReportError(f"study '{name}' has no completed trial yet, so there is no model to report; run: tuner run --study {name} --trials N")
    if number is not None:
        match = [t for t in trials if t.number == number]
        if not match:
            raise ReportError(f"study '{name}' has no trial {number}; its trials are numbered 0 to {len(trials) - 1}")
        if match[0].state != TrialState.COMPLETE:
            listed = ", ".join(str(t.number) for t in complete)
            raise ReportError(f"trial {number} of study '{name}' is {match[0].state.name.lower()}, not complete; choose a completed trial: {listed}")
        return match[0]
    if len(study.directions) == 1:
        return study.best_trial
    first = study.directions[0]
    pareto = study.best_trials or complete
    return (max if first == optuna.study.StudyDirection.MAXIMIZE else min)(pareto, key=lambda t: t.values[0])


def default_out(study_name: str) -> Path:
    return Path(REPORTS_DIR) / study_name.replace(os.sep, "_").replace("/", "_")


# --------------------------------------------------------------------------- model


def _obtain_model(rdb: Any, trial: FrozenTrial, splits: Any, config: StudyConfig, *, artifacts_dir: Path | None, retrain: bool, scratch: Path) -> tuple[Any, str, str]:
    """(model, source, why): the trial's saved model, else the trial re-trained from its seed."""
    why = "--retrain was given"
    if not retrain:
        fetched = art.fetch_trial_model(rdb, trial, artifacts_dir, scratch)
        if fetched is not None:
            return art.load_model(fetched[0], error=ReportError), "artifact", f"saved when the trial ran, in {artifacts_dir}"
        why = "no saved model for this trial" + (f" in {artifacts_dir}" if artifacts_dir is not None else " (no artifact folder for this store; set --artifacts or TUNER_ARTIFACTS)")
    seed = trial.user_attrs.get(keys.TRIAL_SEED)
    if seed is None:
        raise ReportError(f"trial {trial.number} has no saved model and no stored seed, so it cannot be re-trained; point --artifacts at the folder its model was saved to")
    from tuner.ml.training import train

    epochs = int(trial.user_attrs.get(keys.EPOCHS_RUN) or config.training.max_epochs)
    try:
        result = train(dict(trial.params), splits, config, seed=int(seed), max_epochs=epochs)
    except TrialError as exc:
        raise ReportError(f"re-training trial {trial.number} failed: {exc}") from None
    return result.model, "retrained", f"re-trained from seed {seed} for {epochs} epochs ({why})"


def _check_reproduced(recorded: float, reproduced: float, tolerance: float, *, metric: str, trial: int, source: str) -> float:
    difference = abs(reproduced - recorded)
    if math.isfinite(difference) and difference <= tolerance * max(1.0, abs(recorded)):
        return difference
    if source == "retrained":
        fix = "re-training did not reproduce the trial on this machine; save models while running (TUNER_ARTIFACTS=DIR, a folder every worker shares) or accept the difference with --tolerance"
    else:
        fix = "the saved model does not match this trial's data; check --artifacts and --data-dir, or pass --retrain"
    raise ReportError(f"the {source} model of trial {trial} scores validation {metric} {reproduced:.6g}, but the trial recorded {recorded:.6g} (difference {difference:.3g} exceeds the tolerance {tolerance:g}); {fix}")


def _model_summary(model: Any) -> str:
    lines: list[str] = []
    model.summary(print_fn=lambda text, *args, **kwargs: lines.append(str(text)))
    return "\n".join(lines).rstrip() + "\n"


# --------------------------------------------------------------------------- evaluation


def evaluate(y_true: np.ndarray, outputs: np.ndarray, task: str, class_names: tuple[str, ...], threshold: float | None = None) -> dict[str, Any]:
    """Test metrics from one set of model outputs (scikit-learn).

    A binary model's labels use ``threshold`` (chosen on validation; default 0.5), and so do the
    metrics of labels: accuracy, balanced accuracy, macro F1, the per-class table.
    """
    result: dict[str, Any] = {"n_rows": int(len(y_true)), "metrics": compute_all(y_true, outputs, task)}
    if task in CLASSIFICATION_TASKS:
        from sklearn import metrics as skm
        from sklearn.metrics import classification_report, confusion_matrix

        labels = art.labels_from_outputs(outputs, task, threshold)
        if task == "binary":
            result["threshold"] = 0.5 if threshold is None else float(threshold)
            result["metrics"].update(
                accuracy=float(skm.accuracy_score(y_true, labels)),
                balanced_accuracy=float(skm.balanced_accuracy_score(y_true, labels)),
                f1_macro=float(skm.f1_score(y_true, labels, average="macro", zero_division=0)),
            )
        index = list(range(len(class_names)))
        table = classification_report(y_true, labels, labels=index, target_names=list(class_names), output_dict=True, zero_division=0)
        result["per_class"] = {n: {"precision": table[n]["precision"], "recall": table[n]["recall"], "f1": table[n]["f1-score"], "support": int(table[n]["support"])} for n in class_names}
        result["confusion_matrix"] = {"labels": list(class_names), "rows_true_columns_predicted": confusion_matrix(y_true, labels, labels=index).tolist()}
    return result


def _evaluation_plots(y_true: np.ndarray, outputs: np.ndarray, task: str, class_names: tuple[str, ...], out: Path, threshold: float | None) -> list[Any]:
    from tuner.report import plots

    if task == "regression":
        return [plots.regression_scatter(y_true, outputs.reshape(-1), out)]
    result = [plots.confusion_matrix_plot(y_true, art.labels_from_outputs(outputs, task, threshold), list(class_names), out)]
    if task == "binary":
        result += plots.roc_pr_plots(y_true, outputs.reshape(-1), out, positive=class_names[1], threshold=threshold)
    return result


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if not math.isfinite(float(value)) else float(value)
    return value


def _summary(study: optuna.Study, storage_url: str, config: StudyConfig, splits: Any, chosen: FrozenTrial, model: Any, model_path: Path, *, source: str, provenance: str, check: dict[str, Any], val_metrics: dict[str, float], test: dict[str, Any], plots: list[Any]) -> dict[str, Any]:
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
        "best_trial_attrs": {k: chosen.user_attrs.get(k) for k in (keys.TRIAL_SEED, keys.N_PARAMS, keys.EPOCHS_RUN, keys.BEST_EPOCH, keys.TRAIN_SECONDS)},
        "counts": counts,
        "n_trials": sum(counts.values()),
        "splits": {"train": len(splits.y_train), "validation": len(splits.y_val), "test": len(splits.y_test)},
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
        "plots": [{"name": p.name, "title": p.title, "files": p.files, "skipped": p.skipped} for p in plots],
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


# --------------------------------------------------------------------------- the report


@dataclass
class _Export:
    """The exported model, loaded back from its file, and how it compares with the trial."""

    model: Any
    path: Path
    source: str
    provenance: str
    val_metrics: dict[str, float]
    check: dict[str, Any]


def _export_checked(opened: OpenedStudy, chosen: FrozenTrial, splits: Any, config: StudyConfig, staging: Path, *, artifacts: str | os.PathLike[str] | None, retrain: bool, tolerance: float, threshold: float | None) -> _Export:
    """Write the trial's model into ``staging``, load it back, and check it on the validation split."""
    from tuner.ml.training import predict

    artifacts_dir = art.resolve_artifacts_dir(opened.url, artifacts)
    scratch = staging / ".download"
    model, source, provenance = _obtain_model(opened.storage, chosen, splits, config, artifacts_dir=artifacts_dir, retrain=retrain, scratch=scratch)
    shutil.rmtree(scratch, ignore_errors=True)
    metric = config.objective.metric
    recorded = float(chosen.values[0])
    info = art.ModelInfo.for_trial(splits, config, chosen.number, recorded, threshold)
    model_path, _ = art.write_model(model, info, staging)
    exported = art.load_model(model_path, error=ReportError)  # the file handed out, as a user loads it

    val_outputs = predict(exported, splits.x_val)
    val_metrics = compute_all(splits.y_val, val_outputs, splits.task)
    reproduced = compute(metric, splits.y_val, val_outputs, splits.task)
    difference = _check_reproduced(recorded, reproduced, tolerance, metric=metric, trial=chosen.number, source=source)
    check = {"metric": metric, "recorded": recorded, "reproduced": reproduced, "difference": difference, "tolerance": tolerance, "tolerance_rule": "|reproduced - recorded| <= tolerance * max(1, |recorded|)"}
    return _Export(exported, model_path, source, provenance, val_metrics, check)


def _add_extras(summary: dict[str, Any], study: optuna.Study, chosen: FrozenTrial, exported: Any, splits: Any, metric: str, *, chosen_by_hand: bool) -> None:
    """Column importances (CSV tables), the Pareto front (two objectives), a note on --trial."""
    if getattr(splits, "table", None) is not None:  # a CSV table: which columns the model relies on
        from tuner.report.importance import importance_rows

        summary["permutation_importance"] = importance_rows(exported, splits, metric)  # validation split
    if len(study.directions) > 1:  # [objective] size_objective: the trials no other trial beats on both
        front = sorted(study.best_trials, key=lambda t: t.values[1])
        summary["pareto_front"] = [{"trial": t.number, "values": list(t.values), "n_params": t.user_attrs.get(keys.N_PARAMS)} for t in front]
    if chosen_by_hand:
        summary["note"] = f"trial {chosen.number} was chosen with --trial; it need not be the study's best"


def build_report(
    study: str | os.PathLike[str] | optuna.Study,
    *,
    storage: str | None = None,
    out: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
    data_dir: str | os.PathLike[str] | None = None,
    trial: int | None = None,
    artifacts: str | os.PathLike[str] | None = None,
    retrain: bool = False,
    tolerance: float = DEFAULT_TOLERANCE,
    baselines: bool = True,
    ensemble: int | None = None,
) -> ReportResult:
    """Export the best (or the given) trial's model, score it on the test split, write the report.

    ``baselines``: fit scikit-learn baselines on train + validation and score them on test;
    ``ensemble``: also export a greedy ensemble of the best saved trials (at most that many
    additions), see :mod:`tuner.report.comparisons`. ``study`` is a study name, a study file,
    or an ``optuna.Study``. Raises
    :class:`~tuner.errors.ReportError` (nothing written) when the report cannot be built.
    """
    from tuner.data.datasets import load_splits
    from tuner.ml.training import predict
    from tuner.report import plots

    started = time.monotonic()
    opened = open_study(study, storage)
    study_obj = opened.study
    chosen = select_trial(study_obj, trial)
    config = stored_config(study_obj, chosen.number)
    out_path = Path(out) if out is not None else default_out(study_obj.study_name)
    staging = staging_dir(out_path, overwrite)
    try:
        splits = load_splits(config.data, data_dir)
        metric = config.objective.metric
        threshold = chosen.user_attrs.get(keys.THRESHOLD) if splits.task == "binary" else None
        if config.data.validation == "kfold":  # refit on every non-test row (tuner.report.refit)
            export = _Export(*export_refit(chosen, splits, config, staging, tolerance=tolerance, threshold=threshold))
        else:
            export = _export_checked(opened, chosen, splits, config, staging, artifacts=artifacts, retrain=retrain, tolerance=tolerance, threshold=threshold)

        test_outputs = predict(export.model, splits.x_test)  # the one and only use of the test split
        test = evaluate(splits.y_test, test_outputs, splits.task, splits.class_names, threshold)

        all_plots = [*plots.study_plots(study_obj, staging, metric=metric, size_objective=getattr(config.objective, "size_objective", None)), plots.training_curves(chosen, staging, metric=metric)]
        all_plots += _evaluation_plots(splits.y_test, test_outputs, splits.task, splits.class_names, staging, threshold)
        model_summary = _model_summary(export.model)
        (staging / MODEL_SUMMARY_FILE).write_text(model_summary, encoding="utf-8")

        summary = _summary(study_obj, opened.url, config, splits, chosen, export.model, export.path, source=export.source, provenance=export.provenance, check=export.check, val_metrics=export.val_metrics, test=test, plots=all_plots)
        _add_extras(summary, study_obj, chosen, export.model, splits, metric, chosen_by_hand=trial is not None)
        summary.update(study_extras(study_obj, getattr(config.search, "keep_models", 0)))
        add_comparisons(summary, opened, config, splits, staging, chosen=chosen, test_outputs=test_outputs, baselines=baselines, ensemble=ensemble, artifacts=artifacts, tolerance=tolerance)
        (staging / INDEX_FILE).write_text(render_index(_json_safe(summary), all_plots, model_summary), encoding="utf-8")
        files = sorted({p.relative_to(staging).as_posix() for p in staging.rglob("*") if p.is_file()} | {SUMMARY_FILE})
        summary["files"] = files
        summary = _json_safe(summary)
        (staging / SUMMARY_FILE).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        publish(staging, out_path, overwrite)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return ReportResult(
        out=out_path,
        study_name=study_obj.study_name,
        trial=chosen.number,
        metric=metric,
        recorded_value=export.check["recorded"],
        reproduced_value=export.check["reproduced"],
        model_source=export.source,
        test_metrics=dict(test["metrics"]),
        files=files,
        seconds=time.monotonic() - started,
        summary=summary,
    )
