"""A report plot's files: one interactive HTML (plotly) and one PNG (matplotlib), or why the
plot is missing."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tuner.errors import first_line
from tuner.report.param_axes import pyplot

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


def save_plot(out: Path, name: str, title: str, draw: Callable[[], tuple[Any, Any]]) -> Plot:
    """Run ``draw`` (→ plotly figure, matplotlib figure) and write ``name``.html/.png.

    A plot that cannot be drawn for this study (too few trials, a single parameter value) is
    recorded as skipped with the reason, and the report goes on.
    """
    plt = pyplot()
    folder = out / PLOTS_DIR
    folder.mkdir(exist_ok=True)
    with (
        warnings.catch_warnings(),
        plt.style.context("default"),
    ):  # optuna's plots set their own style inside
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
