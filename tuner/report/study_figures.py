"""The study figures Optuna's own do not fit, drawn in matplotlib: optimization history (pruned
trials shown where they stopped), slice grid and parallel coordinates (a parameter a trial lacks,
the width of a layer it does not have, drawn as "absent" rather than dropping the trial).

Each builder returns a matplotlib figure, the report's PNG (the interactive HTML of the slice
and parallel coordinates is Optuna's plotly figure; the history's is converted from its
PNG's). The first objective is the one plotted (the validation metric); its direction says
which values are better. A study with nothing to draw raises ``ValueError`` (the report
records the plot as skipped).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from tuner.report.param_axes import ABSENT, ParamAxis, param_axes, pyplot

#: Panels per row of the slice grid.
COLUMNS = 3

CMAP = "Blues"


def _complete(study: optuna.Study) -> list[FrozenTrial]:
    return study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))


def _maximize(study: optuna.Study) -> bool:
    return study.directions[0] == StudyDirection.MAXIMIZE


def _final(trial: FrozenTrial) -> float | None:
    """A finished trial's value: the objective, or where a pruned trial stopped (its last
    report)."""
    if trial.state == TrialState.PRUNED and trial.intermediate_values:
        return float(trial.intermediate_values[max(trial.intermediate_values)])
    return float(trial.values[0]) if trial.values else None


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


def history_figures(study: optuna.Study, target_name: str) -> Any:
    """Every finished trial's value by trial number (pruned ones: their last report) and the best so
    far."""
    return _history_mpl(_history(study), target_name)


# --------------------------------------------------------------------------- slice


def slice_figures(study: optuna.Study, target_name: str) -> Any:
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
    return mpl_fig


# --------------------------------------------------------------------------- parallel coordinates

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
    ax.grid(False)
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


def parallel_figures(study: optuna.Study, target_name: str) -> Any:
    """One line per completed trial across the objective and every parameter; colour: the objective.

    A trial without a parameter (the width of a layer it does not have) crosses that axis at
    "absent", below the searched range.
    """
    trials = [t for t in _complete(study) if t.values]
    if not trials:
        raise ValueError("no completed trials to plot yet")
    columns = _columns(trials, target_name)
    values = np.array([t.values[0] for t in trials])
    maximize = _maximize(study)
    return _parallel_mpl(columns, values, maximize, target_name, trials)


__all__ = ["ABSENT_AT", "COLUMNS", "history_figures", "parallel_figures", "slice_figures"]
