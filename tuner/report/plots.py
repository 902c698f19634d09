"""Report plots: each written as interactive HTML (plotly) and as PNG (matplotlib, Agg).

Study plots come from ``optuna.visualization`` and its matplotlib twin; test-set plots from
scikit-learn's displays. No browser is needed: PNGs are drawn by matplotlib, and the HTML
files share one ``plotly.min.js`` in the plots folder, so they open offline.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from matplotlib.ticker import MaxNLocator
from optuna.trial import FrozenTrial, TrialState

from tuner.errors import first_line

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


def _pyplot() -> Any:
    import matplotlib

    if "matplotlib.pyplot" not in sys.modules:
        matplotlib.use("Agg")  # no display needed; a notebook's own backend is left alone
    import matplotlib.pyplot as plt

    return plt


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
    plt = _pyplot()
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
        _save(out, "optimization_history", f"Optimization history ({names[0]})", pair("plot_optimization_history", **single)),
        _save(out, "parallel_coordinate", "Parallel coordinate of the parameters", pair("plot_parallel_coordinate", **single)),
        _save(out, "param_importances", "Parameter importances (fANOVA)", pair("plot_param_importances", **single)),
        _save(out, "intermediate_values", "Learning curves of all trials (dotted: pruned)", intermediate),
        _save(out, "slice", "Slice plot: objective against each parameter", pair("plot_slice", **single)),
    ]
    if multi:
        plots.append(_save(out, "pareto_front", "Pareto front", pair("plot_pareto_front", target_names=names)))
    return plots


def training_curves(trial: FrozenTrial, out: Path, *, metric: str) -> Plot:
    """Loss and metric per epoch of one trial, train against validation, from its ``history``."""
    history: dict[str, list[float]] = trial.user_attrs.get("history") or {}
    title = f"Training curves of trial {trial.number}"

    def draw() -> tuple[Any, Any]:
        if not history:
            raise ValueError(f"trial {trial.number} has no recorded history")
        from plotly.subplots import make_subplots

        plt = _pyplot()
        panels = [("loss", [k for k in ("loss", "val_loss") if k in history]), ("metric", [k for k in history if k not in ("loss", "val_loss", "learning_rate")])]
        panels = [(p if p == "loss" else " / ".join(dict.fromkeys(k.removeprefix("val_") for k in keys)), keys) for p, keys in panels if keys]
        best_epoch = trial.user_attrs.get("best_epoch")
        fig = make_subplots(rows=1, cols=len(panels), subplot_titles=[p for p, _ in panels])
        mpl_fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4), squeeze=False)
        for col, (panel, keys) in enumerate(panels):
            ax = axes[0][col]
            for key in keys:
                epochs = list(range(len(history[key])))
                label = key.replace("val_", "validation ") if key.startswith("val_") else f"train {key}"
                dash = None if key.startswith("val_") else "dash"
                fig.add_scatter(x=epochs, y=history[key], mode="lines+markers", name=label, line={"dash": dash}, row=1, col=col + 1)
                ax.plot(epochs, history[key], marker="o", markersize=3, linestyle="-" if key.startswith("val_") else "--", label=label)
            if best_epoch is not None:
                fig.add_vline(x=best_epoch, line_dash="dot", line_color="grey", row=1, col=col + 1)
                ax.axvline(best_epoch, color="grey", linestyle=":", label=f"best epoch ({best_epoch})")
            ax.set_xlabel("epoch (0-based)")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_ylabel(panel)
            ax.legend(loc="best", fontsize=8)
            fig.update_xaxes(title_text="epoch (0-based)", row=1, col=col + 1)
        mpl_fig.suptitle(title)
        return fig, mpl_fig

    return _save(out, "training_curves", title, draw)


# --------------------------------------------------------------------------- test-set plots


def confusion_matrix_plot(y_true: np.ndarray, y_pred: np.ndarray, class_names: list[str], out: Path) -> Plot:
    def draw() -> tuple[Any, Any]:
        import plotly.express as px
        from sklearn.metrics import ConfusionMatrixDisplay, confusion_matrix

        plt = _pyplot()
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

        plt = _pyplot()
        fpr, tpr, _ = skm.roc_curve(y_true, p_positive)
        auc = skm.roc_auc_score(y_true, p_positive)
        fig = go.Figure([go.Scatter(x=fpr, y=tpr, mode="lines", name=f"ROC (AUC = {auc:.4f})"), go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line={"dash": "dash", "color": "grey"}, name="chance")])
        fig.update_layout(xaxis_title="false positive rate", yaxis_title="true positive rate")
        mpl_fig, ax = plt.subplots(figsize=(5, 5))
        skm.RocCurveDisplay(fpr=fpr, tpr=tpr, roc_auc=auc, name=f"positive class '{positive}'").plot(ax=ax, plot_chance_level=True)
        return fig, mpl_fig

    def pr() -> tuple[Any, Any]:
        import plotly.graph_objects as go

        plt = _pyplot()
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

        plt = _pyplot()
        lo, hi = float(min(y_true.min(), y_pred.min())), float(max(y_true.max(), y_pred.max()))
        fig = go.Figure([go.Scatter(x=y_pred, y=y_true, mode="markers", name="test rows", opacity=0.7), go.Scatter(x=[lo, hi], y=[lo, hi], mode="lines", line={"dash": "dash", "color": "grey"}, name="perfect prediction")])
        fig.update_layout(xaxis_title="predicted", yaxis_title="true")
        mpl_fig, ax = plt.subplots(figsize=(5, 5))
        PredictionErrorDisplay.from_predictions(y_true, y_pred, kind="actual_vs_predicted", ax=ax, subsample=None)
        return fig, mpl_fig

    return _save(out, "predicted_vs_true", "Predicted against true values (test split)", draw)
