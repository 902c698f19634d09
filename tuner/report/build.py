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
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import FrozenTrial

from tuner import keys
from tuner.config.schema import StudyConfig
from tuner.config.stored import data_record
from tuner.errors import ConfigError
from tuner.ml.backend import DEFAULT_BACKEND, imported_backend, use_backend
from tuner.report.chosen_trial import REPORTS_DIR, default_out, select_trial, stored_config
from tuner.report.comparisons import add_comparisons
from tuner.report.evaluation import evaluate, evaluation_plots
from tuner.report.leaderboard import study_extras
from tuner.report.model_export import Export, export_checked, keras_summary, saved_model
from tuner.report.page import render_index
from tuner.report.progress import reporting_to
from tuner.report.refit import export_kfold
from tuner.report.staging import discard, publish, staging_dir
from tuner.report.summary import add_extras, json_safe, report_summary
from tuner.studies import OpenedStudy, open_study

#: The exported model's validation value must lie within this of the recorded one
#: (absolute, or relative for values above 1).
DEFAULT_TOLERANCE = 1e-4
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


def _export(
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
    """The exported model: for a cross-validated study its fold models averaged or a refit on
    every non-test row (:mod:`tuner.report.refit`), else the trial's own model, checked on
    validation."""
    if config.data.validation == "kfold":
        saved = None if retrain else saved_model(opened, chosen, staging, artifacts)
        return Export(
            *export_kfold(
                chosen,
                splits,
                config,
                staging,
                tolerance=tolerance,
                threshold=threshold,
                saved=saved,
            )
        )
    return export_checked(
        opened,
        chosen,
        splits,
        config,
        staging,
        artifacts=artifacts,
        retrain=retrain,
        tolerance=tolerance,
        threshold=threshold,
    )


def _plots(
    study: optuna.Study,
    chosen: FrozenTrial,
    config: StudyConfig,
    splits: Any,
    staging: Path,
    test_outputs: Any,
    threshold: float | None,
) -> list[Any]:
    """The study's plots, the chosen trial's training curves and the test split's plots."""
    from tuner.report import plots

    metric = config.objective.metric
    folds = config.data.folds if config.data.validation == "kfold" else None
    all_plots = [
        *plots.study_plots(
            study,
            staging,
            metric=metric,
            size_objective=getattr(config.objective, "size_objective", None),
            folds=folds,
        ),
        plots.training_curves(chosen, staging, metric=metric, folds=folds),
    ]
    all_plots += evaluation_plots(
        splits.y_test, test_outputs, splits.task, splits.class_names, staging, threshold
    )
    return all_plots


def _summary(
    opened: OpenedStudy,
    config: StudyConfig,
    splits: Any,
    chosen: FrozenTrial,
    export: Export,
    staging: Path,
    *,
    test: dict[str, Any],
    test_outputs: Any,
    plots: list[Any],
    chosen_by_hand: bool,
    baselines: bool,
    ensemble: int | None,
    artifacts: str | os.PathLike[str] | None,
    tolerance: float,
) -> dict[str, Any]:
    """What ``summary.json`` holds (without the file list): the numbers, the extras, the
    comparisons."""
    metric = config.objective.metric
    summary = report_summary(
        opened.study,
        opened.url,
        config,
        splits,
        chosen,
        export.model,
        export.path,
        source=export.source,
        provenance=export.provenance,
        check=export.check,
        val_metrics=export.val_metrics,
        test=test,
        plots=plots,
    )
    folds = None
    if config.data.validation == "kfold":
        from tuner.data.splits import fold_splits

        folds = fold_splits(splits, config.data)
        summary["cross_validation"] = {
            "folds": len(folds),
            "rows": sum(len(f.y_val) for f in folds),
            "rows_per_fold": [len(f.y_val) for f in folds],
            "fold_values": chosen.user_attrs.get(keys.FOLD_VALUES),
            "validation_scores": "out of fold",
        }
    add_extras(
        summary,
        opened.study,
        chosen,
        export.model,
        splits,
        metric,
        chosen_by_hand=chosen_by_hand,
        folds=folds,
    )
    summary.update(study_extras(opened.study, getattr(config.search, "keep_models", 0)))
    add_comparisons(
        summary,
        opened,
        config,
        splits,
        staging,
        chosen=chosen,
        test_outputs=test_outputs,
        baselines=baselines,
        ensemble=ensemble,
        artifacts=artifacts,
        tolerance=tolerance,
    )
    return summary


def _write_pages(
    staging: Path, summary: dict[str, Any], all_plots: list[Any], model_summary: str
) -> tuple[dict[str, Any], list[str]]:
    """Write ``index.html`` and ``summary.json`` (with the list of every file written)."""
    (staging / INDEX_FILE).write_text(
        render_index(json_safe(summary), all_plots, model_summary), encoding="utf-8"
    )
    files = sorted(
        {p.relative_to(staging).as_posix() for p in staging.rglob("*") if p.is_file()}
        | {SUMMARY_FILE}
    )
    summary["files"] = files
    summary = json_safe(summary)
    (staging / SUMMARY_FILE).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary, files


def _write_report(
    opened: OpenedStudy,
    chosen: FrozenTrial,
    config: StudyConfig,
    staging: Path,
    *,
    data_dir: str | os.PathLike[str] | None,
    chosen_by_hand: bool,
    artifacts: str | os.PathLike[str] | None,
    retrain: bool,
    tolerance: float,
    baselines: bool,
    ensemble: int | None,
) -> tuple[Export, dict[str, Any], dict[str, Any], list[str]]:
    """Write every file of the report into ``staging``: (the export, the test scores, the summary,
    the file list)."""
    from tuner.data.datasets import load_splits
    from tuner.ml.training import predict

    splits = load_splits(config.data, data_dir)
    threshold = chosen.user_attrs.get(keys.THRESHOLD) if splits.task == "binary" else None
    export = _export(
        opened,
        chosen,
        splits,
        config,
        staging,
        artifacts=artifacts,
        retrain=retrain,
        tolerance=tolerance,
        threshold=threshold,
    )
    test_outputs = predict(export.model, splits.x_test)  # the one and only use of the test split
    test = evaluate(splits.y_test, test_outputs, splits.task, splits.class_names, threshold)
    all_plots = _plots(opened.study, chosen, config, splits, staging, test_outputs, threshold)
    model_summary = keras_summary(export.model)
    (staging / MODEL_SUMMARY_FILE).write_text(model_summary, encoding="utf-8")

    summary = _summary(
        opened,
        config,
        splits,
        chosen,
        export,
        staging,
        test=test,
        test_outputs=test_outputs,
        plots=all_plots,
        chosen_by_hand=chosen_by_hand,
        baselines=baselines,
        ensemble=ensemble,
        artifacts=artifacts,
        tolerance=tolerance,
    )
    summary, files = _write_pages(staging, summary, all_plots, model_summary)
    return export, test, summary, files


def _use_study_backend(config: StudyConfig) -> None:
    """Work on the Keras backend the study trained on, where this process can still choose it
    (Keras not imported yet, the backend installed), so that a re-trained trial reproduces its
    value; otherwise this process's backend serves (a saved model loads on any backend)."""
    wanted = config.training.backend or DEFAULT_BACKEND
    if imported_backend() is not None:
        return
    try:
        use_backend(wanted)
    except ConfigError:  # not installed here
        return


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
    progress: Callable[[str], None] | None = None,
) -> ReportResult:
    """Export the best (or the given) trial's model, score it on the test split, write the report.

    ``baselines``: fit scikit-learn baselines on train + validation and score them on test;
    ``ensemble``: also export a greedy ensemble of the best saved trials (at most that many
    additions; default: the study's ``[search] ensemble``, 0 for none), see
    :mod:`tuner.report.comparisons`. ``study`` is a study name, a study file,
    or an ``optuna.Study``. ``progress`` receives a line before each model the report trains
    again (e.g. ``re-training trial 12 (fold 2/5)…``). Raises
    :class:`~tuner.errors.ReportError` (nothing written) when the report cannot be built.
    """
    started = time.monotonic()
    opened = open_study(study, storage)
    study_obj = opened.study
    chosen = select_trial(study_obj, trial)
    config = stored_config(study_obj, chosen.number)
    data_record(study_obj.user_attrs, config, name=study_obj.study_name)  # a CSV that changed
    if ensemble is None:  # the study file's default ([search] ensemble; 0: none)
        ensemble = config.search.ensemble or None
    _use_study_backend(config)
    out_path = Path(out) if out is not None else default_out(study_obj.study_name)
    staging = staging_dir(out_path, overwrite)
    try:
        with reporting_to(progress):
            export, test, summary, files = _write_report(
                opened,
                chosen,
                config,
                staging,
                data_dir=data_dir,
                chosen_by_hand=trial is not None,
                artifacts=artifacts,
                retrain=retrain,
                tolerance=tolerance,
                baselines=baselines,
                ensemble=ensemble,
            )
        publish(staging, out_path, overwrite)
    except BaseException:
        discard(staging)
        raise
    return ReportResult(
        out=out_path,
        study_name=study_obj.study_name,
        trial=chosen.number,
        metric=config.objective.metric,
        recorded_value=export.check["recorded"],
        reproduced_value=export.check["reproduced"],
        model_source=export.source,
        test_metrics=dict(test["metrics"]),
        files=files,
        seconds=time.monotonic() - started,
        summary=summary,
    )


__all__ = [
    "DEFAULT_TOLERANCE",
    "INDEX_FILE",
    "MODEL_SUMMARY_FILE",
    "REPORTS_DIR",
    "SUMMARY_FILE",
    "ReportResult",
    "build_report",
    "default_out",
    "evaluate",
    "select_trial",
    "stored_config",
]
