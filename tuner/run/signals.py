"""SIGINT and SIGTERM: stop a worker cleanly, at a point where that is safe.

A running trial is recorded as failed (with the reason) and queued again with the same
parameters, and the process exits with 130 / 143. A signal that arrives while the store is
being written is held until the write is done. SIGKILL cannot be caught: the trial's heartbeat
stops, and the next worker to look fails and re-queues it after the grace period.
"""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

from tuner.errors import Interrupted

#: The signals that stop a worker.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class SignalGuard:
    """Turns SIGINT/SIGTERM into :class:`~tuner.errors.Interrupted`, but only where it is safe.

    Inside :meth:`raising` (training a model, waiting for other workers) the signal raises at
    once; elsewhere (talking to the store) it is remembered and :meth:`check` raises it at the
    next safe point. Later signals are ignored: the first one is already being handled.
    Outside the main thread (where Python cannot install handlers) it does nothing.
    """

    def __init__(self) -> None:
        self.signum: int | None = None
        self._raisable = False
        self._deferred = False  # the signal landed in a gc callback and is delivered again
        self._previous: dict[int, Any] = {}
        self._unraisable: Any = None

    def __enter__(self) -> SignalGuard:
        if threading.current_thread() is threading.main_thread():
            for signum in STOP_SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
            self._unraisable = sys.unraisablehook
            sys.unraisablehook = self._dropped
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()
        if self._unraisable is not None:
            sys.unraisablehook = self._unraisable
            self._unraisable = None

    def _dropped(self, unraisable: Any) -> None:
        """``sys.unraisablehook``: an :class:`Interrupted` raised where Python can only print
        and drop it (a weakref callback such as ``WeakKeyDictionary``'s, a ``__del__``, a gc
        callback) is delivered again a moment later instead, silently; others as before."""
        if isinstance(unraisable.exc_value, Interrupted) and self.signum is not None:
            self._redeliver(self.signum)
            return
        (self._unraisable or sys.__unraisablehook__)(unraisable)

    def _redeliver(self, signum: int) -> None:
        self._deferred = True
        self._raisable = True  # raising() was left by the dropped exception's unwinding
        threading.Timer(0.05, os.kill, (os.getpid(), signum)).start()

    def _handle(self, signum: int, frame: Any) -> None:
        if self.signum is not None and not self._deferred:
            return
        self.signum = signum
        self._deferred = False
        if self._raisable:
            if _in_gc_callback(frame):
                # Python prints and drops an exception raised inside a garbage-collector
                # callback ("Exception ignored in ..."; JAX registers one, and TensorFlow
                # imports JAX where it is installed): deliver the signal again a moment later.
                self._redeliver(signum)
                return
            self._raisable = False
            raise Interrupted(signum)

    def check(self) -> None:
        """Raise :class:`Interrupted` if a signal has arrived."""
        if self.signum is not None:
            raise Interrupted(self.signum)

    @contextlib.contextmanager
    def raising(self) -> Iterator[None]:
        """A block that a signal may interrupt at any point."""
        self.check()
        self._raisable = True
        try:
            yield
        finally:
            self._raisable = False

    def sleep(self, seconds: float) -> None:
        with self.raising():
            time.sleep(seconds)


def _in_gc_callback(frame: Any) -> bool:
    """Whether ``frame`` runs inside a callback of Python's garbage collector."""
    codes = {getattr(callback, "__code__", None) for callback in gc.callbacks} - {None}
    while codes and frame is not None:
        if frame.f_code in codes:
            return True
        frame = frame.f_back
    return False


class StartupSignals:
    """Handler for a worker process that is still starting (before it runs trials).

    The first SIGINT/SIGTERM raises :class:`Interrupted` at once (nothing is in the store yet
    that could be left half-written); later ones are ignored.
    """

    def __init__(self) -> None:
        self.signum: int | None = None

    def install(self) -> None:
        for signum in STOP_SIGNALS:
            signal.signal(signum, self)
        sys.unraisablehook = self._dropped

    def _dropped(self, unraisable: Any) -> None:
        """An :class:`Interrupted` that Python dropped (raised in a weakref or gc callback) is
        delivered again a moment later, silently."""
        if isinstance(unraisable.exc_value, Interrupted) and self.signum is not None:
            signum, self.signum = self.signum, None
            threading.Timer(0.05, os.kill, (os.getpid(), signum)).start()
            return
        sys.__unraisablehook__(unraisable)

    def __call__(self, signum: int, frame: Any) -> None:
        if self.signum is None:
            self.signum = signum
            raise Interrupted(signum)
