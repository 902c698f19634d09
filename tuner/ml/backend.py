"""Import TensorFlow/Keras once per process, quietly.

TensorFlow's C++ runtime prints start-up lines (oneDNN, CUDA probing) straight to file
descriptor 2 while it is imported; ``TF_CPP_MIN_LOG_LEVEL`` no longer hides all of them. We
silence that descriptor for the import alone, and TensorFlow's Python warnings about
retracing (each trial builds a new model). Set ``TUNER_TF_LOG=1`` to see them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from types import ModuleType


@contextlib.contextmanager
def _quiet_fd2() -> Iterator[None]:
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real descriptor (e.g. captured stderr): nothing to hide
        yield
        return
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def load_keras() -> ModuleType:
    """The ``keras`` module, TensorFlow backend, imported without TensorFlow's log noise."""
    if "tensorflow" not in sys.modules and os.environ.get("TUNER_TF_LOG") != "1":
        with _quiet_fd2():
            import tensorflow  # noqa: F401
        # e.g. "5 out of the last 17 calls ... triggered tf.function retracing": every trial
        # builds a new model, so retracing is expected, not a problem worth a warning.
        logging.getLogger("tensorflow").setLevel(logging.ERROR)
    import keras

    return keras
