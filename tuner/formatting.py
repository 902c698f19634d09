"""Numbers as text: the one formatter behind the command line, the report page and study files.

It imports nothing of tuner, so every layer may use it.
"""

from __future__ import annotations

import math
from typing import Any

#: Floats whose magnitude lies in [low, high) print in fixed point; others (and 0 never) in
#: the general format, e.g. ``1.234e+05``.
FIXED_RANGE = (1e-3, 1e5)


def format_number(
    value: Any,
    *,
    digits: int = 4,
    fixed_range: tuple[float, float] | None = FIXED_RANGE,
    trim: bool = True,
    thousands: bool = False,
    missing: str = "-",
) -> str:
    """``value`` as short text: floats to ``digits`` places, anything else as ``str``.

    - ``None`` is ``missing``; a NaN float is ``nan``.
    - ``fixed_range=None``: every value in the general format with ``digits`` significant
      digits (``f"{value:.6g}"`` for ``digits=6``).
    - Otherwise a float within ``fixed_range`` prints in fixed point with ``digits`` decimals,
      trailing zeros dropped when ``trim``; a float outside it in the general format.
    - ``thousands``: an int (not a bool) gets thousands separators, ``12,345``.
    """
    if value is None:
        return missing
    if fixed_range is None:
        return f"{value:.{digits}g}"
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        low, high = fixed_range
        if abs(value) >= high or (value != 0 and abs(value) < low):
            return f"{value:.{digits}g}"
        text = f"{value:.{digits}f}"
        return text.rstrip("0").rstrip(".") if trim else text
    if thousands and isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


__all__ = ["FIXED_RANGE", "format_number"]
