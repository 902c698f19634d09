"""What a report says while it works: a line before each model it trains again.

The library only emits (:func:`say`); whoever builds the report decides where the lines go
(:func:`reporting_to`, e.g. the CLI prints them on standard error). Without a listener the lines
go nowhere.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_LISTENER: ContextVar[Callable[[str], None] | None] = ContextVar("report_progress", default=None)


def say(message: str) -> None:
    """Hand ``message`` (one line) to the listener of the report being built, if any."""
    listener = _LISTENER.get()
    if listener is not None:
        listener(message)


@contextmanager
def reporting_to(listener: Callable[[str], None] | None) -> Iterator[None]:
    """Send the lines :func:`say` emits inside the block to ``listener``."""
    token = _LISTENER.set(listener)
    try:
        yield
    finally:
        _LISTENER.reset(token)


__all__ = ["reporting_to", "say"]
