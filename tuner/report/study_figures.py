"""Study figures drawn for readability: optimization history, slice grid, parallel coordinates.

Each builder returns ``(plotly figure, matplotlib figure)`` drawn from the same data: the
plotly one for the interactive HTML, the matplotlib one for the PNG. The first objective is
the one plotted (the validation metric); its direction says which values are better.
A study with nothing to draw raises ``ValueError`` (the report records the plot as skipped).
The parallel coordinates are drawn in :mod:`tuner.report.parallel_figure`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

from tuner.report.figure_trials import CMAP
from tuner.report.figure_trials import complete_trials as _complete
from tuner.report.figure_trials import final_value as _final
from tuner.report.figure_trials import maximizes as _maximize
from tuner.report.parallel_figure import ABSENT_AT, parallel_figures
from tuner.report.param_axes import ParamAxis, param_axes, pyplot

#: Panels per row of the slice grid.
COLUMNS = 3


# --------------------------------------------------------------------------- optimization history


def _history_view(completed: list[float], maximize: bool) -> tuple[float, float] | None:
    """The PNG's y range: the completed values with room below (or above) for the better pruned
    ones.

    Trials pruned far worse than every completed one would squash the completed ones into a
    line; they are drawn on the edge instead (the HTML shows them where they are).
    """
    if not completed:
        return None
    lo, hi = min(completed), max(completed)
    pad = max(hi - lo, 1e-3 * max(1.0, abs(hi)))
    return (lo - 2 * pad, hi + 0.25 * pad) if maximize else (lo - 0.25 * pad, hi + 2 * pad)


@dataclass
class _History:
    """What the history figures draw: completed and pruned (number, value), the best-so-far
    step line and its label."""

    done: list[tuple[int, float]]
    cut: list[tuple[int, float]]
    best_x: list[int]
    best_y: list[float]
    best_label: str
    maximize: bool


def _history(study: optuna.Study) -> _History:
    finished = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
    points = [
        (t.number, v, t.state == TrialState.PRUNED)
        for t in finished
        if (v := _final(t)) is not None
    ]
    if not points:
        raise ValueError("no finished trials to plot yet")
    maximize = _maximize(study)
    done = [(n, v) for n, v, pruned in points if not pruned]
    cut = [(n, v) for n, v, pruned in points if pruned]
    last = max(n for n, _, _ in points)
    best_x = [n for n, _ in done] + ([last] if done else [])
    running = (
        (np.maximum if maximize else np.minimum).accumulate([v for _, v in done])
        if done
        else np.array([])
    )
    best_y = [*running, *running[-1:]]
    best_label = "best so far" + (
        f" (trial {max(done, key=lambda p: p[1] if maximize else -p[1])[0]}: {running[-1]:.4g})"
        if done
        else ""
    )
    return _History(done, cut, best_x, best_y, best_label, maximize)


def _history_plotly(h: _History, target_name: str) -> Any:
    import plotly.graph_objects as go

    fig = go.Figure()
    fig.add_scatter(
        x=[n for n, _ in h.done],
        y=[v for _, v in h.done],
        mode="markers",
        name="completed",
        marker={"size": 8},
    )
    fig.add_scatter(
        x=[n for n, _ in h.cut],
        y=[v for _, v in h.cut],
        mode="markers",
        name="pruned (last reported value)",
        marker={"size": 8, "symbol": "x", "color": "grey"},
    )
    fig.add_scatter(
        x=h.best_x,
        y=h.best_y,
        mode="lines",
        line={"shape": "hv", "color": "firebrick"},
        name=h.best_label,
    )
    fig.update_layout(
        xaxis_title="trial", yaxis_title=target_name, legend={"orientation": "h", "y": -0.2}
    )
    return fig


def _history_mpl(h: _History, target_name: str) -> Any:
    plt = pyplot()
    mpl_fig, ax = plt.subplots(figsize=(7.5, 4.5), layout="constrained")
    view = _history_view([v for _, v in h.done], h.maximize)
    clip = (lambda v: min(max(v, view[0]), view[1])) if view else (lambda v: v)
    ax.scatter(
        [n for n, _ in h.done],
        [v for _, v in h.done],
        s=36,
        color="tab:blue",
        zorder=3,
        label="completed",
    )
    inside = [(n, v) for n, v in h.cut if clip(v) == v]
    outside = [(n, clip(v)) for n, v in h.cut if clip(v) != v]
    ax.scatter(
        [n for n, _ in inside],
        [v for _, v in inside],
        s=36,
        marker="x",
        color="dimgrey",
        zorder=2,
        label="pruned (last reported value)",
    )
    if outside:
        worse = "below" if h.maximize else "above"
        ax.scatter(
            [n for n, _ in outside],
            [v for _, v in outside],
            s=36,
            marker="v" if h.maximize else "^",
            color="dimgrey",
            zorder=2,
            clip_on=False,
            label=f"pruned, value {worse} the axis",
        )
    if h.done:
        ax.step(h.best_x, h.best_y, where="post", color="firebrick", label=h.best_label)
    if view:
        ax.set_ylim(*view)
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("trial")
    ax.set_ylabel(target_name)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, fontsize=9, frameon=False)
    return mpl_fig


def history_figures(study: optuna.Study, target_name: str) -> tuple[Any, Any]:
    """Every finished trial's value by trial number (pruned ones: their last report) and the best so
    far."""
    h = _history(study)
    return _history_plotly(h, target_name), _history_mpl(h, target_name)


# --------------------------------------------------------------------------- slice


def _drawn_value(axis: ParamAxis, value: Any) -> Any:
    """A categorical value as its drawn label; a number as is."""
    return axis.labels[axis.choices.index(value)] if axis.choices is not None else value


def _slice_plotly(
    axes: list[ParamAxis], trials: list[FrozenTrial], target_name: str, rows: int, cols: int
) -> Any:
    from plotly.subplots import make_subplots

    fig = make_subplots(
        rows=rows,
        cols=cols,
        shared_yaxes=True,
        subplot_titles=[a.name for a in axes],
        horizontal_spacing=0.05,
        vertical_spacing=0.5 / rows,
    )
    numbers = [t.number for t in trials]
    for i, axis in enumerate(axes):
        row, col = i // cols + 1, i % cols + 1
        have = [t for t in trials if axis.name in t.params]
        x = [_drawn_value(axis, t.params[axis.name]) for t in have]
        fig.add_scatter(
            x=x,
            y=[t.values[0] for t in have],
            mode="markers",
            row=row,
            col=col,
            showlegend=False,
            text=[f"trial {t.number}" for t in have],
            marker={
                "color": [t.number for t in have],
                "colorscale": CMAP,
                "cmin": min(numbers),
                "cmax": max(numbers),
                "line": {"width": 0.5, "color": "grey"},
                "showscale": i == 0,
                "colorbar": {"title": "trial"},
            },
        )
        if axis.choices is not None:
            fig.update_xaxes(
                type="category", categoryorder="array", categoryarray=axis.labels, row=row, col=col
            )
        elif axis.log:
            fig.update_xaxes(type="log", row=row, col=col)
        if col == 1:
            fig.update_yaxes(title_text=target_name, row=row, col=col)
    fig.update_layout(height=320 * rows, width=1100)
    return fig


def slice_figures(study: optuna.Study, target_name: str) -> tuple[Any, Any]:
    """The objective against each parameter, one panel per parameter, three panels a row."""
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize
    from matplotlib.ticker import MaxNLocator

    trials = [t for t in _complete(study) if t.values]
    if not trials:
        raise ValueError("no completed trials to plot yet")
    axes = param_axes(trials)
    if not axes:
        raise ValueError("the trials have no parameters")
    cols = min(COLUMNS, len(axes))
    rows = math.ceil(len(axes) / cols)
    best = (max if _maximize(study) else min)(trials, key=lambda t: t.values[0])
    norm = Normalize(
        min(t.number for t in trials),
        max(max(t.number for t in trials), min(t.number for t in trials) + 1),
    )

    plt = pyplot()
    mpl_fig, grid = plt.subplots(
        rows,
        cols,
        figsize=(4.2 * cols, 3.3 * rows),
        sharey=True,
        squeeze=False,
        layout="constrained",
    )
    for ax, axis in zip(grid.flat, axes, strict=False):
        have = [t for t in trials if axis.name in t.params]
        x = [axis.position(t.params[axis.name]) for t in have]
        ax.scatter(
            x,
            [t.values[0] for t in have],
            c=[t.number for t in have],
            cmap=CMAP,
            norm=norm,
            s=34,
            edgecolors="grey",
            linewidths=0.5,
            zorder=3,
        )
        if axis.name in best.params:
            ax.scatter(
                [axis.position(best.params[axis.name])],
                [best.values[0]],
                marker="o",
                s=120,
                facecolors="none",
                edgecolors="firebrick",
                linewidths=1.5,
                zorder=4,
            )
        axis.format_slice_axis(ax)
        if len(have) < len(trials):
            ax.set_xlabel(f"{axis.name} ({len(have)} of {len(trials)} trials have it)")
        ax.grid(alpha=0.3)
    for ax in grid.flat[len(axes) :]:
        ax.set_visible(False)
    for row in grid:
        row[0].set_ylabel(target_name)
    bar = mpl_fig.colorbar(
        ScalarMappable(norm=norm, cmap=CMAP),
        ax=grid,
        label=f"trial number (red ring: best, trial {best.number})",
        shrink=0.6,
    )
    bar.locator = MaxNLocator(integer=True)
    bar.update_ticks()
    return _slice_plotly(axes, trials, target_name, rows, cols), mpl_fig


__all__ = ["ABSENT_AT", "COLUMNS", "history_figures", "parallel_figures", "slice_figures"]
