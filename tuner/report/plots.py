"""Report plots: one renderer (matplotlib on Agg) for every PNG, and each plot's interactive HTML.

The study plots come from Optuna where its plots fit: importances, learning curves and the
Pareto front from ``optuna.visualization.matplotlib``; the optimization history, slice grid and
parallel coordinates from :mod:`tuner.report.study_figures`, which shows pruned trials and absent
parameters. Their HTML is Optuna's plotly figure (``optuna.visualization``; the history's is
its PNG's twin, which shows the pruned trials Optuna's leaves out). The plots Optuna
lacks (a trial's training curves; the test split's confusion matrix, ROC and precision-recall
curves, predicted against true values, from scikit-learn's displays) are drawn once, in
matplotlib, and their HTML is converted from that figure. Files and style:
:mod:`tuner.report.render`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from matplotlib.ticker import FuncFormatter, MaxNLocator
from optuna.trial import FrozenTrial, TrialState

from tuner.keys import BEST_EPOCH, HISTORY
from tuner.report import study_figures
from tuner.report.param_axes import pyplot, tick_label
from tuner.report.render import PLOTS_DIR, PNG_DPI, STYLE, Plot, as_plotly, restyle, save_plot

# --------------------------------------------------------------------------- study plots


def _objective_names(study: optuna.Study, metric: str, size_objective: str | None) -> list[str]:
    if study.metric_names:
        return list(study.metric_names)
    names = [f"validation {metric}", *([size_objective] if size_objective else [])]
    return names + [f"objective {i}" for i in range(len(names), len(study.directions))]


def _mark_pruned(ax: Any, study: optuna.Study) -> None:
    """Draw pruned trials' learning curves dotted, ending in an x, so they read as cut short."""
    from matplotlib.lines import Line2D

    pruned = {
        f"Trial{t.number}" for t in study.get_trials(deepcopy=False, states=(TrialState.PRUNED,))
    }
    for line in list(ax.get_lines()):
        if line.get_label() in pruned:
            line.set_linestyle(":")
            x, y = line.get_data()
            if len(x):
                ax.plot(
                    x[-1], y[-1], marker="x", markersize=9, color=line.get_color(), linestyle="none"
                )
    legend = ax.get_legend()
    if legend is not None:
        legend.remove()
    ax.legend(
        handles=[
            Line2D([], [], color="grey", label="completed or failed"),
            Line2D([], [], color="grey", linestyle=":", marker="x", label="pruned (cut short)"),
        ],
        loc="best",
    )


def _learning_curves(study: optuna.Study, step: str, reported: str) -> Any:
    """Optuna's intermediate-values plot, pruned trials dotted, axes named."""
    import optuna.visualization.matplotlib as vis_mpl

    ax = vis_mpl.plot_intermediate_values(study)
    _mark_pruned(ax, study)
    ax.set_xlabel(step)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(reported)
    return restyle(ax.figure)


class _EvaluatedOnce(optuna.importance.BaseImportanceEvaluator):
    """Optuna's default importance evaluator (fANOVA), run once for the same question: the
    importances' PNG and HTML ask it alike, and it is the slowest part of the study plots."""

    def __init__(self) -> None:
        self._evaluator = optuna.importance.FanovaImportanceEvaluator()
        self._answers: dict[tuple[Any, ...], dict[str, float]] = {}

    def evaluate(
        self,
        study: optuna.Study,
        params: list[str] | None = None,
        *,
        target: Callable[[FrozenTrial], float] | None = None,
    ) -> dict[str, float]:
        # The target itself in the key (not its id): held here, its id is never reused.
        key = (study.study_name, tuple(params) if params is not None else None, target)
        if key not in self._answers:
            self._answers[key] = self._evaluator.evaluate(study, params, target=target)
        return dict(self._answers[key])


def _first_objective(study: optuna.Study, name: str) -> dict[str, Any]:
    """Optuna plot arguments that plot the first objective, named ``name``."""
    single: dict[str, Any] = {"target_name": name}
    if len(study.directions) > 1:
        single["target"] = lambda t: t.values[0]
    return single


def study_plots(
    study: optuna.Study,
    out: Path,
    *,
    metric: str,
    size_objective: str | None = None,
    folds: int | None = None,
) -> list[Plot]:
    """Optimization history, parallel coordinate, importances, intermediate values, slice; Pareto
    front if multi-objective.

    The first objective is the validation metric; ``size_objective`` names a second one. A
    cross-validated study (``folds``) reports once per fold, so its learning curves step by fold.
    Each plot's PNG: ours or Optuna's matplotlib plot; its HTML: Optuna's plotly plot (the
    history's: its PNG's twin, which keeps the pruned trials Optuna's leaves out).
    """
    import optuna.visualization as vis
    import optuna.visualization.matplotlib as vis_mpl

    names = _objective_names(study, metric, size_objective)
    single = _first_objective(study, names[0])
    importance = {**single, "evaluator": _EvaluatedOnce()}  # the PNG's and the HTML's fANOVA
    step = "folds finished" if folds else "epoch (0-based)"
    reported = f"mean over the folds so far, {names[0]}" if folds else names[0]

    def html(fn: str, **kwargs: Any) -> Callable[[], Any]:
        return lambda: getattr(vis, fn)(study, **kwargs)

    def png(fn: str, **kwargs: Any) -> Callable[[], Any]:
        return lambda: restyle(getattr(vis_mpl, fn)(study, **kwargs))

    def ours(build: Callable[[optuna.Study, str], Any]) -> Callable[[], Any]:
        return lambda: build(study, names[0])

    specs: list[tuple[str, str, Callable[[], Any], Callable[[], Any] | None]] = [
        (
            "optimization_history",
            f"Optimization history ({names[0]})",
            ours(study_figures.history_figures),
            None,
        ),
        (
            "parallel_coordinate",
            "Parallel coordinate of the parameters",
            ours(study_figures.parallel_figures),
            html("plot_parallel_coordinate", **single),
        ),
        (
            "param_importances",
            "Parameter importances (fANOVA)",
            png("plot_param_importances", **importance),
            html("plot_param_importances", **importance),
        ),
        (
            "intermediate_values",
            f"Learning curves of all trials, {'by fold' if folds else 'by epoch'} (dotted: pruned)",
            lambda: _learning_curves(study, step, reported),
            lambda: vis.plot_intermediate_values(study).update_layout(
                xaxis_title=step, yaxis_title=reported
            ),
        ),
        (
            "slice",
            "Slice plot: objective against each parameter",
            ours(study_figures.slice_figures),
            html("plot_slice", **single),
        ),
    ]
    if len(study.directions) > 1:
        pareto = {"target_names": names}
        specs.append(
            (
                "pareto_front",
                "Pareto front",
                png("plot_pareto_front", **pareto),
                html("plot_pareto_front", **pareto),
            )
        )
    return [save_plot(out, *spec) for spec in specs]


# --------------------------------------------------------------------------- training curves


def _curve_panels(history: dict[str, list[float]], metric: str) -> list[tuple[str, list[str]]]:
    """(panel name, history keys) per panel: loss, then each metric on its own (the objective's
    first).

    A metric's train and validation curves share a panel; different metrics never do, nor the
    loss and a metric. The learning rate gets a panel when it changed during training.
    """
    bases = [k.removeprefix("val_") for k in history if k != "learning_rate"]
    order = ["loss", *([metric] if metric in bases else []), *bases]
    panels = [
        (base, [k for k in (base, f"val_{base}") if k in history]) for base in dict.fromkeys(order)
    ]
    rates = history.get("learning_rate") or []
    if len(set(rates)) > 1:
        panels.append(("learning rate", ["learning_rate"]))
    return [(name, keys) for name, keys in panels if keys]


def _curve_label(key: str) -> str:
    if key == "learning_rate":
        return "learning rate"
    return f"validation {key.removeprefix('val_')}" if key.startswith("val_") else f"train {key}"


def training_figures(trial: FrozenTrial, *, metric: str) -> Any:
    """A matplotlib figure of one trial's ``history``: one panel per quantity, three a row."""
    history: dict[str, list[float]] = trial.user_attrs.get(HISTORY) or {}
    if not history:
        raise ValueError(f"trial {trial.number} has no recorded history")
    panels = _curve_panels(history, metric)
    best_epoch = trial.user_attrs.get(BEST_EPOCH)
    cols = 2 if len(panels) == 4 else min(3, len(panels))
    rows = -(-len(panels) // cols)
    plt = pyplot()
    fig, grid = plt.subplots(
        rows, cols, figsize=(4.8 * cols, 3.7 * rows), squeeze=False, layout="constrained"
    )
    for ax, (name, keys) in zip(grid.flat, panels, strict=False):
        title = f"{name} (objective)" if name == metric else name
        for key in keys:
            train = not key.startswith("val_") and key != "learning_rate"  # dashed: training rows
            ax.plot(
                range(len(history[key])),
                history[key],
                marker="o",
                markersize=3,
                linestyle="--" if train else "-",
                color="tab:blue"
                if train
                else "tab:green"
                if key == "learning_rate"
                else "tab:orange",
                label=_curve_label(key),
            )
        if best_epoch is not None:
            ax.axvline(best_epoch, color="grey", linestyle=":", label=f"best epoch ({best_epoch})")
        if name == "learning rate":
            ax.set_yscale("log")
            ax.yaxis.set_major_formatter(FuncFormatter(tick_label))
        ax.set_xlabel("epoch (0-based)")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(title)
        ax.legend(loc="best", fontsize=8)
    for ax in grid.flat[len(panels) :]:
        ax.set_visible(False)
    return fig


def training_curves(
    trial: FrozenTrial, out: Path, *, metric: str, folds: int | None = None
) -> Plot:
    """Loss and each metric per epoch of one trial, train against validation, from its
    ``history`` (of a cross-validated trial: each epoch's mean over the ``folds`` that ran it)."""
    over = f" (each epoch: the mean over its {folds} folds)" if folds else ""
    return save_plot(
        out,
        "training_curves",
        f"Training curves of trial {trial.number}{over}",
        lambda: training_figures(trial, metric=metric),
    )


# --------------------------------------------------------------------------- test split


def confusion_matrix_plot(
    y_true: np.ndarray, y_pred: np.ndarray, class_names: list[str], out: Path
) -> Plot:
    def draw() -> Any:
        from sklearn.metrics import ConfusionMatrixDisplay, confusion_matrix

        cm = confusion_matrix(y_true, y_pred, labels=list(range(len(class_names))))
        size = max(4.5, 0.55 * len(class_names) + 2)
        fig, ax = pyplot().subplots(figsize=(size, size))
        ConfusionMatrixDisplay(cm, display_labels=class_names).plot(
            ax=ax,
            cmap="Blues",
            colorbar=False,
            xticks_rotation=45 if len(class_names) > 4 else "horizontal",
        )
        ax.grid(False)
        return fig

    return save_plot(out, "confusion_matrix", "Confusion matrix (test split)", draw)


def _roc_figure(y_true: np.ndarray, p_positive: np.ndarray, positive: str) -> Any:
    from sklearn import metrics as skm

    fpr, tpr, _ = skm.roc_curve(y_true, p_positive)
    auc = skm.roc_auc_score(y_true, p_positive)
    fig, ax = pyplot().subplots(figsize=(5, 5))
    skm.RocCurveDisplay(fpr=fpr, tpr=tpr, roc_auc=auc, name="ROC").plot(
        ax=ax, plot_chance_level=True
    )
    ax.lines[0].set_label(f"ROC (AUC = {auc:.4f}), positive class '{positive}'")
    ax.legend(loc="lower right")
    return fig


def _pr_figure(
    y_true: np.ndarray, p_positive: np.ndarray, positive: str, threshold: float | None
) -> Any:
    """The precision-recall curve; an x where the model's labels sit (P(positive) >=
    ``threshold``)."""
    from sklearn import metrics as skm

    precision, recall, _ = skm.precision_recall_curve(y_true, p_positive)
    ap = skm.average_precision_score(y_true, p_positive)
    fig, ax = pyplot().subplots(figsize=(5, 5))
    skm.PrecisionRecallDisplay(
        precision=precision,
        recall=recall,
        average_precision=ap,
        name=f"positive class '{positive}'",
        prevalence_pos_label=float(np.mean(y_true)),
    ).plot(ax=ax, plot_chance_level=True)
    if threshold is not None:
        chosen = np.asarray(p_positive) >= threshold
        at_p = skm.precision_score(y_true, chosen, zero_division=0)
        at_r = skm.recall_score(y_true, chosen, zero_division=0)
        label = f"threshold {threshold:.3g}: precision {at_p:.3f}, recall {at_r:.3f}"
        ax.plot([at_r], [at_p], "x", markersize=10, color="black", label=label)
    ax.legend(loc="best")
    return fig


def roc_pr_plots(
    y_true: np.ndarray,
    p_positive: np.ndarray,
    out: Path,
    *,
    positive: str,
    threshold: float | None = None,
) -> list[Plot]:
    """ROC and precision-recall curves; the PR curve marks the decision ``threshold`` (if given)."""
    return [
        save_plot(
            out,
            "roc_curve",
            "ROC curve (test split)",
            lambda: _roc_figure(y_true, p_positive, positive),
        ),
        save_plot(
            out,
            "precision_recall_curve",
            "Precision-recall curve (test split)",
            lambda: _pr_figure(y_true, p_positive, positive, threshold),
        ),
    ]


def regression_scatter(y_true: np.ndarray, y_pred: np.ndarray, out: Path) -> Plot:
    def draw() -> Any:
        from sklearn.metrics import PredictionErrorDisplay

        fig, ax = pyplot().subplots(figsize=(5, 5))
        PredictionErrorDisplay.from_predictions(
            y_true, y_pred, kind="actual_vs_predicted", ax=ax, subsample=None
        )
        return fig

    return save_plot(out, "predicted_vs_true", "Predicted against true values (test split)", draw)


__all__ = [
    "PLOTS_DIR",
    "PNG_DPI",
    "STYLE",
    "Plot",
    "as_plotly",
    "confusion_matrix_plot",
    "regression_scatter",
    "roc_pr_plots",
    "save_plot",
    "study_plots",
    "training_curves",
    "training_figures",
]
