"""Report plots: each written as interactive HTML (plotly) and as PNG (matplotlib, Agg).

The optimization history, slice grid and parallel coordinates are drawn in
:mod:`tuner.report.study_figures` (readable at any number of parameters, pruned trials shown);
importances, learning curves and the Pareto front come from ``optuna.visualization`` and its
matplotlib twin; the training curves of one trial are drawn here, one panel per quantity;
test-set plots come from scikit-learn's displays (:mod:`tuner.report.holdout_plots`). Each
plot's files are written by :mod:`tuner.report.plot_files`. No browser is needed: PNGs are
drawn by matplotlib, and the HTML files share one ``plotly.min.js`` in the plots folder, so
they open offline.
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
from tuner.report.holdout_plots import confusion_matrix_plot, regression_scatter, roc_pr_plots
from tuner.report.param_axes import pyplot, tick_label
from tuner.report.plot_files import PLOTS_DIR, PNG_DPI, Plot, save_plot


def _figure_of(drawn: Any) -> Any:
    """The matplotlib Figure behind what optuna's matplotlib plots return (Axes or an array)."""
    if isinstance(drawn, np.ndarray):
        return drawn.flat[0].figure
    return drawn.figure if hasattr(drawn, "figure") else drawn


# --------------------------------------------------------------------------- study plots


def _objective_names(study: optuna.Study, metric: str, size_objective: str | None) -> list[str]:
    if study.metric_names:
        return list(study.metric_names)
    names = [f"validation {metric}", *([size_objective] if size_objective else [])]
    return names + [f"objective {i}" for i in range(len(names), len(study.directions))]


def _mark_pruned(plotly_fig: Any, mpl_drawn: Any, study: optuna.Study) -> None:
    """Draw pruned trials' learning curves dotted, ending in an x, so they read as cut short."""
    pruned = {
        f"Trial{t.number}" for t in study.get_trials(deepcopy=False, states=(TrialState.PRUNED,))
    }
    for trace in plotly_fig.data:
        if trace.name in pruned:
            n = len(trace.x)
            trace.update(
                line={"dash": "dot"},
                marker={"symbol": ["circle"] * (n - 1) + ["x"], "size": [6] * (n - 1) + [11]},
                name=f"{trace.name} (pruned)",
            )
    ax = mpl_drawn
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
    from matplotlib.lines import Line2D

    ax.legend(
        handles=[
            Line2D([], [], color="grey", label="completed or failed"),
            Line2D([], [], color="grey", linestyle=":", marker="x", label="pruned (cut short)"),
        ],
        loc="best",
    )


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
    """
    import optuna.visualization as vis
    import optuna.visualization.matplotlib as vis_mpl

    names = _objective_names(study, metric, size_objective)
    multi = len(study.directions) > 1
    single: dict[str, Any] = (
        {"target": (lambda t: t.values[0]), "target_name": names[0]}
        if multi
        else {"target_name": names[0]}
    )

    def pair(fn: str, **kwargs: Any) -> Callable[[], tuple[Any, Any]]:
        return lambda: (
            getattr(vis, fn)(study, **kwargs),
            _figure_of(getattr(vis_mpl, fn)(study, **kwargs)),
        )

    def ours(
        build: Callable[[optuna.Study, str], tuple[Any, Any]],
    ) -> Callable[[], tuple[Any, Any]]:
        return lambda: build(study, names[0])

    step = "fold (0-based)" if folds else "epoch (0-based)"
    reported = f"mean over the folds so far, {names[0]}" if folds else names[0]

    def intermediate() -> tuple[Any, Any]:
        fig = vis.plot_intermediate_values(study)
        ax = vis_mpl.plot_intermediate_values(study)
        _mark_pruned(fig, ax, study)
        fig.update_layout(yaxis_title=reported, xaxis_title=step)
        ax.set_xlabel(step)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(reported)
        return fig, ax.figure

    plots = [
        save_plot(
            out,
            "optimization_history",
            f"Optimization history ({names[0]})",
            ours(study_figures.history_figures),
        ),
        save_plot(
            out,
            "parallel_coordinate",
            "Parallel coordinate of the parameters",
            ours(study_figures.parallel_figures),
        ),
        save_plot(
            out,
            "param_importances",
            "Parameter importances (fANOVA)",
            pair("plot_param_importances", **single),
        ),
        save_plot(
            out,
            "intermediate_values",
            f"Learning curves of all trials, {'by fold' if folds else 'by epoch'} (dotted: pruned)",
            intermediate,
        ),
        save_plot(
            out,
            "slice",
            "Slice plot: objective against each parameter",
            ours(study_figures.slice_figures),
        ),
    ]
    if multi:
        plots.append(
            save_plot(
                out, "pareto_front", "Pareto front", pair("plot_pareto_front", target_names=names)
            )
        )
    return plots


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


def training_figures(trial: FrozenTrial, *, metric: str) -> tuple[Any, Any]:
    """(plotly, matplotlib) figures of one trial's ``history``: one panel per quantity, three a
    row."""
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
    mpl_fig, grid = plt.subplots(
        rows, cols, figsize=(4.8 * cols, 3.7 * rows), squeeze=False, layout="constrained"
    )
    for i, ((name, keys), title) in enumerate(zip(panels, titles, strict=True)):
        ax, row, col = grid.flat[i], i // cols + 1, i % cols + 1
        for key in keys:
            epochs = list(range(len(history[key])))
            train = (
                not key.startswith("val_") and key != "learning_rate"
            )  # dashed: the training split
            color = "#1f77b4" if train else "#2ca02c" if key == "learning_rate" else "#ff7f0e"
            fig.add_scatter(
                x=epochs,
                y=history[key],
                mode="lines+markers",
                name=_curve_label(key),
                line={"dash": "dash" if train else None, "color": color},
                row=row,
                col=col,
            )
            ax.plot(
                epochs,
                history[key],
                marker="o",
                markersize=3,
                linestyle="--" if train else "-",
                color=color,
                label=_curve_label(key),
            )
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
    for ax in grid.flat[len(panels) :]:
        ax.set_visible(False)
    fig.update_layout(height=380 * rows)
    return fig, mpl_fig


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


__all__ = [
    "PLOTS_DIR",
    "PNG_DPI",
    "Plot",
    "confusion_matrix_plot",
    "regression_scatter",
    "roc_pr_plots",
    "study_plots",
    "training_curves",
    "training_figures",
]
