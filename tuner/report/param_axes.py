"""How a study's parameters sit on a plot axis: categories, numeric ranges, log scales, absent
values.

Shared by the slice and parallel-coordinate figures, so both label a parameter the same way:
categories in their declared order (long names shortened), numbers over the searched range
with readable ticks (``5e-4`` rather than ``5 × 10⁻⁴``), a log axis where the search was log.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from optuna.distributions import BaseDistribution, CategoricalDistribution, IntDistribution
from optuna.trial import FrozenTrial

#: Longest category label drawn in full; longer ones end in "…".
CATEGORY_CHARS = 12
#: The label of trials that do not have a parameter (a layer's width when there are fewer layers).
ABSENT = "absent"


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend (no display needed); a notebook's own backend is
    left alone."""
    import matplotlib

    if "matplotlib.pyplot" not in sys.modules:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def short(label: object, limit: int = CATEGORY_CHARS) -> str:
    """``label`` as text, cut to ``limit`` characters with an ellipsis."""
    text = str(label)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def tick_label(value: float, _pos: object = None) -> str:
    """A short number: ``5e-4`` for small values, ``0.25`` or ``128`` otherwise."""
    if value != 0 and abs(value) < 1e-2:
        mantissa, exponent = f"{value:.1e}".split("e")
        return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"
    return f"{value:.4g}"


@dataclass(frozen=True)
class ParamAxis:
    """One parameter's axis: its categories, or its searched range and scale."""

    name: str
    choices: tuple[Any, ...] | None = None
    low: float = 0.0
    high: float = 1.0
    log: bool = False
    integer: bool = False

    @classmethod
    def of(cls, name: str, distributions: Sequence[BaseDistribution]) -> ParamAxis:
        """The axis covering every trial's distribution of ``name`` (a study's ranges may have
        changed)."""
        if any(isinstance(d, CategoricalDistribution) for d in distributions):
            return cls(
                name,
                choices=tuple(
                    dict.fromkeys(c for d in distributions for c in getattr(d, "choices", ()))
                ),
            )
        last = distributions[-1]
        low = min(float(d.low) for d in distributions)  # type: ignore[attr-defined]
        high = max(float(d.high) for d in distributions)  # type: ignore[attr-defined]
        return cls(
            name,
            low=low,
            high=high,
            log=bool(getattr(last, "log", False)),
            integer=isinstance(last, IntDistribution),
        )

    @property
    def labels(self) -> list[str]:
        """The categories as drawn (shortened), in their declared order."""
        return [short(c) for c in self.choices or ()]

    def position(self, value: Any) -> float:
        """Where ``value`` sits on a slice plot's x axis: a category's index, or the value
        itself."""
        return float(self.choices.index(value)) if self.choices is not None else float(value)

    def scaled(self, value: Any) -> float:
        """``value`` mapped onto [0, 1] over the categories or the searched range (log where
        searched so)."""
        if self.choices is not None:
            return (
                self.choices.index(value) / (len(self.choices) - 1)
                if len(self.choices) > 1
                else 0.5
            )
        lo, hi, v = (
            (math.log10(x) for x in (self.low, self.high, value))
            if self.log
            else (self.low, self.high, float(value))
        )
        return (v - lo) / (hi - lo) if hi > lo else 0.5

    def tick_values(self) -> list[float]:
        """Readable numbers inside the searched range (empty for categories)."""
        if self.choices is not None:
            return []
        from matplotlib.ticker import LogLocator, MaxNLocator

        if self.log and self.low > 0:
            subs = (1.0, 2.0, 5.0) if math.log10(self.high / self.low) <= 2.5 else (1.0,)
            candidates = LogLocator(subs=subs).tick_values(self.low, self.high)
        else:
            candidates = MaxNLocator(5, steps=[1, 2, 2.5, 5, 10], integer=self.integer).tick_values(
                self.low, self.high
            )
        slack = 1e-9 * max(abs(self.low), abs(self.high), 1e-12)
        inside = [float(v) for v in candidates if self.low - slack <= v <= self.high + slack]
        return inside if len(inside) >= 2 else sorted({self.low, self.high})

    def scaled_ticks(self) -> tuple[list[float], list[str]]:
        """Tick positions on [0, 1] and their labels, for a parallel-coordinate axis."""
        if self.choices is not None:
            return [self.scaled(c) for c in self.choices], self.labels
        values = self.tick_values()
        return [self.scaled(v) for v in values], [tick_label(v) for v in values]

    def format_slice_axis(self, ax: Any) -> None:
        """Ticks, limits and scale of a slice panel's x axis."""
        from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

        ax.set_xlabel(self.name)
        if self.choices is not None:
            labels = self.labels
            rotate = len(labels) > 3 or max((len(s) for s in labels), default=0) > 6
            ax.set_xticks(
                range(len(labels)),
                labels,
                rotation=30 if rotate else 0,
                ha="right" if rotate else "center",
            )
            ax.set_xlim(-0.5, len(labels) - 0.5)
            return
        if self.log and self.low > 0:
            ax.set_xscale("log")
            margin = (self.high / self.low) ** 0.04
            ax.set_xlim(self.low / margin, self.high * margin)
        else:
            margin = 0.04 * (self.high - self.low) or 0.5
            ax.set_xlim(self.low - margin, self.high + margin)
        ax.xaxis.set_major_locator(FixedLocator(self.tick_values()))
        ax.xaxis.set_major_formatter(FuncFormatter(tick_label))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.tick_params(axis="x", labelrotation=30 if self.log else 0)


def param_axes(trials: Sequence[FrozenTrial]) -> list[ParamAxis]:
    """One axis per parameter any trial has, in the order the search asks for them.

    The order is that of the trial with the most parameters (e.g. ``n_layers, units_0, units_1,
    dropout, ...``); a parameter only other trials have follows at the end.
    """
    ordered = sorted(trials, key=lambda t: -len(t.params))
    names = list(dict.fromkeys(name for t in ordered for name in t.params))
    return [
        ParamAxis.of(name, [t.distributions[name] for t in trials if name in t.distributions])
        for name in names
    ]
