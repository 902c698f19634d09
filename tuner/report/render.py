"""How a report plot becomes files: one renderer (matplotlib on Agg) for every PNG in one style
(:data:`STYLE`), and an interactive HTML beside it.

:func:`save_plot` draws a plot's PNG and writes its HTML: a plotly figure handed in (Optuna's,
for the study plots) or, for a figure we draw ourselves, :func:`as_plotly`, its interactive
twin converted from the matplotlib figure, so that nothing is drawn twice. The HTML files share
one ``plotly.min.js`` in the plots folder, so they open offline.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tuner.errors import first_line
from tuner.report.param_axes import pyplot

PLOTS_DIR = "plots"
PNG_DPI = 110
#: The one look of every PNG (Optuna's matplotlib plots switch to ggplot inside; see
#: :func:`restyle`).
STYLE = {
    "axes.facecolor": "white",
    "axes.edgecolor": "#444444",
    "axes.grid": True,
    "grid.color": "#b0b0b0",
    "grid.alpha": 0.3,
    "grid.linestyle": "-",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 12,
    "axes.labelsize": 10,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "legend.fontsize": 9,
    "legend.frameon": False,
    "figure.facecolor": "white",
}
#: Errors that mean "this study has nothing to draw here" (too few trials, one value only).
_CANNOT_DRAW = (ValueError, RuntimeError, ZeroDivisionError, IndexError)


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


# --------------------------------------------------------------------------- files


def _figure_of(drawn: Any) -> Any:
    """The matplotlib Figure behind what optuna's matplotlib plots return (Axes or an array)."""
    if isinstance(drawn, np.ndarray):
        return drawn.flat[0].figure
    return drawn.figure if hasattr(drawn, "figure") else drawn


def restyle(fig: Any) -> Any:
    """Bring a figure drawn under another style sheet (Optuna's ggplot) to :data:`STYLE`."""
    fig = _figure_of(fig)
    fig.set_facecolor(STYLE["figure.facecolor"])
    for ax in fig.axes:
        ax.set_facecolor(STYLE["axes.facecolor"])
        ax.grid(True, color=STYLE["grid.color"], alpha=STYLE["grid.alpha"], linestyle="-")
        ax.tick_params(colors="black")
        ax.xaxis.label.set_color("black")
        ax.yaxis.label.set_color("black")
        for side, spine in ax.spines.items():
            spine.set_visible(side in ("left", "bottom"))
            spine.set_color(STYLE["axes.edgecolor"])
    return fig


def _set_title(fig: Any, title: str) -> None:
    for loc in ("left", "center", "right"):  # optuna's own titles give way to ours
        fig.axes[0].set_title("", loc=loc)
    if len(fig.axes) == 1 and not fig.get_suptitle():
        fig.axes[0].set_title(title)
    else:
        fig.suptitle(title)


def save_plot(
    out: Path,
    name: str,
    title: str,
    draw: Callable[[], Any],
    interactive: Callable[[], Any] | None = None,
) -> Plot:
    """Draw ``name``.png with ``draw`` (→ a matplotlib figure) and ``name``.html with
    ``interactive`` (→ a plotly figure; default: :func:`as_plotly` of the PNG's figure).

    A plot that cannot be drawn for this study (too few trials, a single parameter value) is
    recorded as skipped with the reason, and the report goes on.
    """
    plt = pyplot()
    folder = out / PLOTS_DIR
    folder.mkdir(exist_ok=True)
    with warnings.catch_warnings(), plt.style.context(["default", STYLE]):
        warnings.simplefilter("ignore")
        try:
            fig = _figure_of(draw())
            _set_title(fig, title)
            html = interactive() if interactive is not None else as_plotly(fig)
        except _CANNOT_DRAW as exc:
            plt.close("all")
            return Plot(name, title, skipped=first_line(exc))
        html.update_layout(title=title, template="plotly_white")
        html.write_html(folder / f"{name}.html", include_plotlyjs="directory", full_html=True)
        fig.savefig(folder / f"{name}.png", dpi=PNG_DPI, bbox_inches="tight")
        plt.close(fig)
    return Plot(name, title, [f"{PLOTS_DIR}/{name}.html", f"{PLOTS_DIR}/{name}.png"])


# --------------------------------------------------------------------------- interactive twin

_DASH = {"--": "dash", ":": "dot", "-.": "dashdot"}


def _cell(ax: Any) -> tuple[int, int]:
    spec = ax.get_subplotspec()
    return (spec.rowspan.start + 1, spec.colspan.start + 1) if spec is not None else (1, 1)


def _add_lines(out: Any, ax: Any, row: int, col: int, shown: set[str]) -> None:
    import plotly.graph_objects as go
    from matplotlib.colors import to_hex

    for line in ax.get_lines():
        x, y = np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float)
        label = str(line.get_label())
        if line.get_transform() != ax.transData:  # axvline / axhline: spans the axes
            if len(set(x)) == 1:
                out.add_vline(x=x[0], line_dash="dot", line_color="grey", row=row, col=col)
            continue
        drawn = line.get_linestyle() not in ("None", "", " ")
        marked = line.get_marker() not in ("None", "", " ", None)
        legend = not label.startswith("_") and label not in shown
        shown.add(label)
        out.add_trace(
            go.Scatter(
                x=x,
                y=y,
                mode="+".join(m for m, on in (("lines", drawn), ("markers", marked)) if on),
                name=label,
                legendgroup=label,
                showlegend=legend,
                line={
                    "color": to_hex(line.get_color()),
                    "dash": _DASH.get(line.get_linestyle()),
                    "shape": "hv" if line.get_drawstyle() == "steps-post" else "linear",
                },
            ),
            row=row,
            col=col,
        )


def _add_points_and_images(out: Any, ax: Any, row: int, col: int) -> None:
    import plotly.graph_objects as go
    from matplotlib.collections import PathCollection
    from matplotlib.colors import to_hex

    for coll in ax.collections:
        if isinstance(coll, PathCollection) and len(coll.get_offsets()):
            xy = np.asarray(coll.get_offsets())
            label = str(coll.get_label())
            out.add_trace(
                go.Scatter(
                    x=xy[:, 0],
                    y=xy[:, 1],
                    mode="markers",
                    name=label,
                    showlegend=not label.startswith("_"),
                    opacity=0.7,
                ),
                row=row,
                col=col,
            )
    for image in ax.get_images():
        z = np.asarray(image.get_array())
        out.add_trace(go.Heatmap(z=z, colorscale="Blues", showscale=False), row=row, col=col)
        out.update_xaxes(
            tickvals=list(ax.get_xticks()),
            ticktext=[t.get_text() for t in ax.get_xticklabels()],
            row=row,
            col=col,
        )
        out.update_yaxes(
            tickvals=list(ax.get_yticks()),
            ticktext=[t.get_text() for t in ax.get_yticklabels()],
            autorange="reversed",
            scaleanchor="x",
            row=row,
            col=col,
        )
        for text in ax.texts:
            tx, ty = text.get_position()
            out.add_annotation(
                x=tx,
                y=ty,
                text=text.get_text(),
                font={"color": to_hex(text.get_color())},
                showarrow=False,
                row=row,
                col=col,
            )


def as_plotly(fig: Any) -> Any:
    """An interactive twin of a matplotlib figure: each panel's lines, points and images, its
    title, axis labels and scales. For the figures this module draws, not for any figure."""
    from plotly.subplots import make_subplots

    axes = [ax for ax in fig.axes if ax.get_visible() and ax.get_label() != "<colorbar>"]
    spec = axes[0].get_subplotspec() if axes else None
    rows, cols = spec.get_gridspec().get_geometry() if spec is not None else (1, 1)
    titles = [""] * (rows * cols)
    for ax in axes:
        row, col = _cell(ax)
        titles[(row - 1) * cols + col - 1] = ax.get_ylabel() if len(axes) > 1 else ""
    out = make_subplots(rows=rows, cols=cols, subplot_titles=titles)
    shown: set[str] = set()
    for ax in axes:
        row, col = _cell(ax)
        _add_lines(out, ax, row, col, shown)
        _add_points_and_images(out, ax, row, col)
        out.update_xaxes(
            title_text=ax.get_xlabel(),
            type="log" if ax.get_xscale() == "log" else None,
            row=row,
            col=col,
        )
        out.update_yaxes(
            title_text=ax.get_ylabel(),
            type="log" if ax.get_yscale() == "log" else None,
            row=row,
            col=col,
        )
    out.update_layout(height=max(450, 380 * rows))
    return out


__all__ = ["PLOTS_DIR", "PNG_DPI", "STYLE", "Plot", "as_plotly", "restyle", "save_plot"]
