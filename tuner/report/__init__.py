"""The report of a study's best model: :func:`build_report` (in :mod:`tuner.report.build`).

``from tuner.report import build_report`` imports the builder on first use, so that importing
one of this package's modules (plots, the page) does not load the builder's dependencies.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

#: Public name -> the module of this package that defines it.
_EXPORTS = {"ReportResult": "tuner.report.build", "build_report": "tuner.report.build"}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'tuner.report' has no attribute '{name}'")
    return getattr(importlib.import_module(module), name)


if TYPE_CHECKING:
    from tuner.report.build import ReportResult, build_report

__all__ = ["ReportResult", "build_report"]
