"""The parallel-coordinate figure: one line per completed trial across the objective and every
parameter, drawn as ``(plotly figure, matplotlib figure)`` from the same data."""

from __future__ import annotations

from typing import Any

import numpy as np
import optuna
from optuna.trial import FrozenTrial

from tuner.report.figure_trials import CMAP, complete_trials, maximizes
from tuner.report.param_axes import ABSENT, ParamAxis, param_axes, pyplot

#: Where "absent" sits on a parallel-coordinate axis whose values span [0, 1].
ABSENT_AT = -0.2

#: (name, each trial's position on [0, 1] or ABSENT_AT, tick positions, tick labels)
Column = tuple[str, list[float], list[float], list[str]]


def _columns(trials: list[FrozenTrial], target_name: str) -> list[Column]:
    """One column per axis: the objective's, then each parameter's."""
    from matplotlib.ticker import MaxNLocator

    values = [t.values[0] for t in trials]
    objective = ParamAxis(target_name, low=min(values), high=max(values))
    ticks = [
        v
        for v in MaxNLocator(5).tick_values(objective.low, objective.high)
        if objective.low <= v <= objective.high
    ] or [objective.low]
    columns = [
        (
            target_name,
            [objective.scaled(v) for v in values],
            [objective.scaled(v) for v in ticks],
            [f"{v:.4g}" for v in ticks],
        )
    ]
    for axis in param_axes(trials):
        positions, labels = axis.scaled_ticks()
        at = [
            axis.scaled(t.params[axis.name]) if axis.name in t.params else ABSENT_AT for t in trials
        ]
        if ABSENT_AT in at:
            positions, labels = [*positions, ABSENT_AT], [*labels, ABSENT]
        columns.append((axis.name, at, positions, labels))
    return columns


def _parallel_plotly(
    columns: list[Column], values: np.ndarray, maximize: bool, target_name: str
) -> Any:
    import plotly.graph_objects as go

    dims = [
        {
            "label": name,
            "values": at,
            "tickvals": ticks,
            "ticktext": labels,
            "range": [min(ticks + at + [0.0]), 1.0],
        }
        for name, at, ticks, labels in columns
    ]
    fig = go.Figure(
        go.Parcoords(
            line={
                "color": values,
                "colorscale": CMAP,
                "reversescale": not maximize,
                "showscale": True,
                "colorbar": {"title": target_name},
            },
            dimensions=dims,
        )
    )
    fig.update_layout(margin={"l": 90, "r": 90, "b": 40})
    return fig


def _draw_axes(ax: Any, xs: np.ndarray, columns: list[Column]) -> None:
    """Each column's vertical axis with its ticks and labels ("absent" in grey italics)."""
    for x, (_, _, ticks, labels) in zip(xs, columns, strict=True):
        ax.axvline(x, color="black", linewidth=1, zorder=1)
        for y, label in zip(ticks, labels, strict=True):
            ax.plot([x - 0.04, x], [y, y], color="black", linewidth=1, zorder=1)
            style = {"style": "italic", "color": "dimgrey"} if label == ABSENT else {}
            ax.text(
                x + 0.05,
                y,
                label,
                fontsize=8,
                va="center",
                ha="left",
                zorder=4,
                bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.75, "pad": 0.6},
                **style,
            )


def _parallel_mpl(
    columns: list[Column],
    values: np.ndarray,
    maximize: bool,
    target_name: str,
    trials: list[FrozenTrial],
) -> Any:
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import ListedColormap, Normalize

    plt = pyplot()
    shades = plt.get_cmap(CMAP)(np.linspace(0.3, 1.0, 256))  # the palest blues vanish on white
    cmap = ListedColormap(shades if maximize else shades[::-1])
    norm = Normalize(
        values.min(), values.max() if values.max() > values.min() else values.min() + 1e-9
    )
    mpl_fig, ax = plt.subplots(
        figsize=(max(8.0, 1.35 * len(columns) + 1.5), 5.2), layout="constrained"
    )
    xs = np.arange(len(columns))
    best = int(np.argmax(values) if maximize else np.argmin(values))
    for i in [
        *np.argsort(values if maximize else -values),
        best,
    ]:  # better trials on top, the best last
        ys = [column[1][i] for column in columns]
        ax.plot(
            xs,
            ys,
            color="firebrick" if i == best else cmap(norm(values[i])),
            linewidth=2.2 if i == best else 1.2,
            alpha=0.9,
            zorder=3 if i == best else 2,
        )
    _draw_axes(ax, xs, columns)
    lowest = min(min(c[2] + c[1]) for c in columns)
    ax.set_ylim(min(lowest, 0.0) - 0.06, 1.06)
    ax.set_xlim(-0.3, len(columns) - 0.35)
    ax.set_xticks(xs, [c[0] for c in columns], rotation=30, ha="right")
    ax.tick_params(axis="x", length=0)
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    mpl_fig.colorbar(
        ScalarMappable(norm=norm, cmap=cmap),
        ax=ax,
        label=f"{target_name} (red: best, trial {trials[best].number})",
        pad=0.01,
        shrink=0.8,
    )
    return mpl_fig


def parallel_figures(study: optuna.Study, target_name: str) -> tuple[Any, Any]:
    """One line per completed trial across the objective and every parameter; colour: the objective.

    A trial without a parameter (the width of a layer it does not have) crosses that axis at
    "absent", below the searched range.
    """
    trials = [t for t in complete_trials(study) if t.values]
    if not trials:
        raise ValueError("no completed trials to plot yet")
    columns = _columns(trials, target_name)
    values = np.array([t.values[0] for t in trials])
    maximize = maximizes(study)
    return (
        _parallel_plotly(columns, values, maximize, target_name),
        _parallel_mpl(columns, values, maximize, target_name, trials),
    )
