"""Report plots: each written as interactive HTML (plotly) and as PNG (matplotlib, Agg).

The optimization history, slice grid and parallel coordinates are drawn in
:mod:`tuner.report.study_figures` (readable at any number of parameters, pruned trials shown);
importances, learning curves and the Pareto front come from ``optuna.visualization`` and its
matplotlib twin; the training curves of one trial are drawn here, one panel per quantity;
test-set plots come from scikit-learn's displays. No browser is needed: PNGs are drawn by matplotlib, and the HTML
files share one ``plotly.min.js`` in the plots folder, so they open offline.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from matplotlib.ticker import FuncFormatter, MaxNLocator
from optuna.trial import FrozenTrial, TrialState

from tuner.errors import first_line
from tuner.keys import BEST_EPOCH, HISTORY
from tuner.report import study_figures
from tuner.report.param_axes import pyplot, tick_label

PLOTS_DIR = "plots"
PNG_DPI = 110


@dataclass
class Plot:
    """One plot of the report: its files (relative to the report folder), or why it is missing."""

    name: str
    title: str
    files: list[str] = field(default_factory=list)
    skipped: str | None = None

    @property
    def html(self) -> str | None:
        return next((f for f in self.files if f.endswith(".html")), None)

    @property
    def png(self) -> str | None:
        return next((f for f in self.files if f.endswith(".png")), None)


def _figure_of(drawn: Any) -> Any:
    """The matplotlib Figure behind what optuna's matplotlib plots return (Axes or an array)."""
    if isinstance(drawn, np.ndarray):
        return drawn.flat[0].figure
    return drawn.figure if hasattr(drawn, "figure") else drawn


def _save(out: Path, name: str, title: str, draw: Callable[[], tuple[Any, Any]]) -> Plot:
    """Run ``draw`` (→ plotly figure, matplotlib figure) and write ``name``.html/.png.

    A plot that cannot be drawn for this study (too few trials, a single parameter value) is
    recorded as skipped with the reason, and the report goes on.
    """
    plt = pyplot()
    folder = out / PLOTS_DIR
    folder.mkdir(exist_ok=True)
    with warnings.catch_warnings(), plt.style.context("default"):  # optuna's plots set their own style inside
        warnings.simplefilter("ignore")
        try:
            plotly_fig, mpl_fig = draw()
        except (ValueError, RuntimeError, ZeroDivisionError, IndexError) as exc:
            plt.close("all")
            return Plot(name, title, skipped=first_line(exc))
        plotly_fig.update_layout(title=title)
        plotly_fig.write_html(folder / f"{name}.html", include_plotlyjs="directory", full_html=True)
        for loc in ("left", "center", "right"):  # optuna's own titles give way to ours
            mpl_fig.axes[0].set_title("", loc=loc)
        if len(mpl_fig.axes) == 1 and not mpl_fig.get_suptitle():
            mpl_fig.axes[0].set_title(title)
        else:
            mpl_fig.suptitle(title)
        mpl_fig.savefig(folder / f"{name}.png", dpi=PNG_DPI, bbox_inches="tight")
        plt.close(mpl_fig)
    return Plot(name, title, [f"{PLOTS_DIR}/{name}.html", f"{PLOTS_DIR}/{name}.png"])


# --------------------------------------------------------------------------- study plots


def _objective_names(study: optuna.Study, metric: str, size_objective: str | None) -> list[str]:
    if study.metric_names:
        return list(study.metric_names)
    names = [f"validation {metric}", *([size_objective] if size_objective else [])]
    return names + [f"objective {i}" for i in range(len(names), len(study.directions))]


def _mark_pruned(plotly_fig: Any, mpl_drawn: Any, study: optuna.Study) -> None:
    """Draw pruned trials' learning curves dotted, ending in an x, so they read as cut short."""
    pruned = {f"Trial{t.number}" for t in study.get_trials(deepcopy=False, states=(TrialState.PRUNED,))}
    for trace in plotly_fig.data:
        if trace.name in pruned:
            n = len(trace.x)
            trace.update(line={"dash": "dot"}, marker={"symbol": ["circle"] * (n - 1) + ["x"], "size": [6] * (n - 1) + [11]}, name=f"{trace.name} (pruned)")
    ax = mpl_drawn
    for line in list(ax.get_lines()):
        if line.get_label() in pruned:
            line.set_linestyle(":")
            x, y = line.get_data()
            if len(x):
                ax.plot(x[-1], y[-1], marker="x", markersize=9, color=line.get_color(), linestyle="none")
    legend = ax.get_legend()
    if legend is not None:
        legend.remove()
    from matplotlib.lines import Line2D

    ax.legend(handles=[Line2D([], [], color="grey", label="completed or failed"), Line2D([], [], color="grey", linestyle=":", marker="x", label="pruned (cut short)")], loc="best")


def study_plots(study: optuna.Study, out: Path, *, metric: str, size_objective: str | None = None) -> list[Plot]:
    """Optimization history, parallel coordinate, importances, intermediate values, slice; Pareto front if multi-objective.

    The first objective is the validation metric; ``size_objective`` names a second one.
    """
    import optuna.visualization as vis
    import optuna.visualization.matplotlib as vis_mpl

    names = _objective_names(study, metric, size_objective)
    multi = len(study.directions) > 1
    single: dict[str, Any] = {"target": (lambda t: t.values[0]), "target_name": names[0]} if multi else {"target_name": names[0]}

    def pair(fn: str, **kwargs: Any) -> Callable[[], tuple[Any, Any]]:
        return lambda: (getattr(vis, fn)(study, **kwargs), _figure_of(getattr(vis_mpl, fn)(study, **kwargs)))

    def ours(build: Callable[[optuna.Study, str], tuple[Any, Any]]) -> Callable[[], tuple[Any, Any]]:
        return lambda: build(study, names[0])

    def intermediate() -> tuple[Any, Any]:
        fig = vis.plot_intermediate_values(study)
        ax = vis_mpl.plot_intermediate_values(study)
        _mark_pruned(fig, ax, study)
        fig.update_layout(yaxis_title=names[0], xaxis_title="epoch (0-based)")
        ax.set_xlabel("epoch (0-based)")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(names[0])
        return fig, ax.figure

    plots = [
        _save(out, "optimization_history", f"Optimization history ({names[0]})", ours(study_figures.history_figures)),
        _save(out, "parallel_coordinate", "Parallel coordinate of the parameters", ours(study_figures.parallel_figures)),
        _save(out, "param_importances", "Parameter importances (fANOVA)", pair("plot_param_importances", **single)),
        _save(out, "intermediate_values", "Learning curves of all trials (dotted: pruned)", intermediate),
        _save(out, "slice", "Slice plot: objective against each parameter", ours(study_figures.slice_figures)),
    ]
    if multi:
        plots.append(_save(out, "pareto_front", "Pareto front", pair("plot_pareto_front", target_names=names)))
    return plots


def _curve_panels(history: dict[str, list[float]], metric: str) -> list[tuple[str, list[str]]]:
    """(panel name, history keys) per panel: loss, then each metric on its own (the objective's first).

    A metric's train and validation curves share a panel; different metrics never do, nor the
    loss and a metric. The learning rate gets a panel when it changed during training.
    """
    bases = [k.removeprefix("val_") for k in history if k != "learning_rate"]
    order = ["loss", *([metric] if metric in bases else []), *bases]
    panels = [(base, [k for k in (base, f"val_{base}") if k in history]) for base in dict.fromkeys(order)]
    rates = history.get("learning_rate") or []
    if len(set(rates)) > 1:
        panels.append(("learning rate", ["learning_rate"]))
    return [(name, keys) for name, keys in panels if keys]


def _curve_label(key: str) -> str:
    if key == "learning_rate":
        return "learning rate"
    return f"validation {key.removeprefix('val_')}" if key.startswith("val_") else f"train {key}"


def training_figures(trial: FrozenTrial, *, metric: str) -> tuple[Any, Any]:
    """(plotly, matplotlib) figures of one trial's ``history``: one panel per quantity, three a row."""
    from plotly.subplots import make_subplots

    history: dict[str, list[float]] = trial.user_attrs.get(HISTORY) or {}
    if not history:
        raise ValueError(f"trial {trial.number} has no recorded history")
    panels = _curve_panels(history, metric)
    best_epoch = trial.user_attrs.get(BEST_EPOCH)
    cols = 2 if len(panels) == 4 else min(3, len(panels))
    rows = -(-len(panels) // cols)
    titles = [f"{name} (objective)" if name == metric else name for name, _ in panels]
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=titles)
    plt = pyplot()
    mpl_fig, grid = plt.subplots(rows, cols, figsize=(4.8 * cols, 3.7 * rows), squeeze=False, layout="constrained")
    for i, ((name, keys), title) in enumerate(zip(panels, titles, strict=True)):
        ax, row, col = grid.flat[i], i // cols + 1, i % cols + 1
        for key in keys:
            epochs = list(range(len(history[key])))
            train = not key.startswith("val_") and key != "learning_rate"  # dashed: the training split
            color = "#1f77b4" if train else "#2ca02c" if key == "learning_rate" else "#ff7f0e"
            fig.add_scatter(x=epochs, y=history[key], mode="lines+markers", name=_curve_label(key), line={"dash": "dash" if train else None, "color": color}, row=row, col=col)
            ax.plot(epochs, history[key], marker="o", markersize=3, linestyle="--" if train else "-", color=color, label=_curve_label(key))
        if best_epoch is not None:
            fig.add_vline(x=best_epoch, line_dash="dot", line_color="grey", row=row, col=col)
            ax.axvline(best_epoch, color="grey", linestyle=":", label=f"best epoch ({best_epoch})")
        if name == "learning rate":
            ax.set_yscale("log")
            ax.yaxis.set_major_formatter(FuncFormatter(tick_label))
        ax.set_xlabel("epoch (0-based)")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(title)
        ax.grid(alpha=0.3)
        ax.legend(loc="best", fontsize=8)
        fig.update_xaxes(title_text="epoch (0-based)", row=row, col=col)
        fig.update_yaxes(title_text=name, row=row, col=col)
    for ax in grid.flat[len(panels):]:
        ax.set_visible(False)
    fig.update_layout(height=380 * rows)
    return fig, mpl_fig


def training_curves(trial: FrozenTrial, out: Path, *, metric: str) -> Plot:
    """Loss and each metric per epoch of one trial, train against validation, from its ``history``."""
    return _save(out, "training_curves", f"Training curves of trial {trial.number}", lambda: training_figures(trial, metric=metric))


# --------------------------------------------------------------------------- test-set plots


def confusion_matrix_plot(y_true: np.ndarray, y_pred: np.ndarray, class_names: list[str], out: Path) -> Plot:
    def draw() -> tuple[Any, Any]:
        import plotly.express as px
        from sklearn.metrics import ConfusionMatrixDisplay, confusion_matrix

        plt = pyplot()
        labels = list(range(len(class_names)))
        cm = confusion_matrix(y_true, y_pred, labels=labels)
        fig = px.imshow(cm, x=class_names, y=class_names, text_auto=True, color_continuous_scale="Blues", labels={"x": "predicted", "y": "true", "color": "rows"})
        size = max(4.5, 0.55 * len(class_names) + 2)
        mpl_fig, ax = plt.subplots(figsize=(size, size))
        ConfusionMatrixDisplay(cm, display_labels=class_names).plot(ax=ax, cmap="Blues", colorbar=False, xticks_rotation=45 if len(class_names) > 4 else "horizontal")
        return fig, mpl_fig

    return _save(out, "confusion_matrix", "Confusion matrix (test split)", draw)


def roc_pr_plots(y_true: np.ndarray, p_positive: np.ndarray, out: Path, *, positive: str, threshold: float | None = None) -> list[Plot]:
    """ROC and precision-recall curves; the PR curve marks the decision ``threshold`` (if given)."""
    from sklearn import metrics as skm

    def roc() -> tuple[Any, Any]:
        import plotly.graph_objects as go

        plt = pyplot()
        fpr, tpr, _ = skm.roc_curve(y_true, p_positive)
        auc = skm.roc_auc_score(y_true, p_positive)
        fig = go.Figure([go.Scatter(x=fpr, y=tpr, mode="lines", name=f"ROC (AUC = {auc:.4f})"), go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line={"dash": "dash", "color": "grey"}, name="chance")])
        fig.update_layout(xaxis_title="false positive rate", yaxis_title="true positive rate")
        mpl_fig, ax = plt.subplots(figsize=(5, 5))
        skm.RocCurveDisplay(fpr=fpr, tpr=tpr, roc_auc=auc, name=f"positive class '{positive}'").plot(ax=ax, plot_chance_level=True)
        return fig, mpl_fig

    def pr() -> tuple[Any, Any]:
        import plotly.graph_objects as go

        plt = pyplot()
        precision, recall, _ = skm.precision_recall_curve(y_true, p_positive)
        ap = skm.average_precision_score(y_true, p_positive)
        fig = go.Figure([go.Scatter(x=recall, y=precision, mode="lines", line={"shape": "hv"}, name=f"PR (AP = {ap:.4f})")])
        fig.update_layout(xaxis_title="recall", yaxis_title="precision")
        mpl_fig, ax = plt.subplots(figsize=(5, 5))
        skm.PrecisionRecallDisplay(precision=precision, recall=recall, average_precision=ap, name=f"positive class '{positive}'", prevalence_pos_label=float(np.mean(y_true))).plot(ax=ax, plot_chance_level=True)
        if threshold is not None:  # where the model's labels sit: P(positive) >= threshold
            chosen = np.asarray(p_positive) >= threshold
            at_p = skm.precision_score(y_true, chosen, zero_division=0)
            at_r = skm.recall_score(y_true, chosen, zero_division=0)
            label = f"threshold {threshold:.3g}: precision {at_p:.3f}, recall {at_r:.3f}"
            fig.add_trace(go.Scatter(x=[at_r], y=[at_p], mode="markers", marker={"size": 11, "symbol": "x"}, name=label))
            ax.plot([at_r], [at_p], "x", markersize=10, color="black", label=label)
            ax.legend(loc="best")
        return fig, mpl_fig

    return [_save(out, "roc_curve", "ROC curve (test split)", roc), _save(out, "precision_recall_curve", "Precision-recall curve (test split)", pr)]


def regression_scatter(y_true: np.ndarray, y_pred: np.ndarray, out: Path) -> Plot:
    def draw() -> tuple[Any, Any]:
        import plotly.graph_objects as go
        from sklearn.metrics import PredictionErrorDisplay

        plt = pyplot()
        lo, hi = float(min(y_true.min(), y_pred.min())), float(max(y_true.max(), y_pred.max()))
        fig = go.Figure([go.Scatter(x=y_pred, y=y_true, mode="markers", name="test rows", opacity=0.7), go.Scatter(x=[lo, hi], y=[lo, hi], mode="lines", line={"dash": "dash", "color": "grey"}, name="perfect prediction")])
        fig.update_layout(xaxis_title="predicted", yaxis_title="true")
        mpl_fig, ax = plt.subplots(figsize=(5, 5))
        PredictionErrorDisplay.from_predictions(y_true, y_pred, kind="actual_vs_predicted", ax=ax, subsample=None)
        return fig, mpl_fig

    return _save(out, "predicted_vs_true", "Predicted against true values (test split)", draw)
