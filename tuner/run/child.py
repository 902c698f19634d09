"""The first steps of a spawned local worker process: its environment, signals, then the study.

This module is what a spawned worker imports before it runs :func:`worker_main`, so it imports
only the standard library and light parts of tuner: the BLAS libraries (through NumPy, which
Optuna imports) and TensorFlow read their thread settings from the environment when they load,
and :func:`worker_main` sets that environment first.
"""

from __future__ import annotations

import os
import pickle
from dataclasses import dataclass
from typing import Any

from tuner.errors import Interrupted, TunerError, first_line
from tuner.ml.backend import set_threads
from tuner.run.signals import StartupSignals


@dataclass(frozen=True)
class WorkerSpec:
    """What one local worker process runs, and its share of the machine."""

    index: int
    study_name: str
    storage: str
    data_dir: str | None
    timeout: float | None
    verbose: bool
    threads: int
    #: Environment variables the worker sets before anything else (thread counts, GPU).
    env: tuple[tuple[str, str], ...]
    #: The function that joins the study (``tuner.run.runner.join_study``), pickled: it is
    #: loaded, with everything it imports, only once the environment is set.
    join: bytes


def worker_main(spec: WorkerSpec, errors: Any) -> None:
    """Entry point of one spawned worker process; its exit code tells the parent how it ended.

    ``multiprocessing`` gives a spawned child the parent's environment and no way to pass
    another, and the parent's own must not change; so the child sets its variables here, at
    the very start, before NumPy's BLAS or TensorFlow are imported (they are imported only
    after: by :func:`set_threads` and by loading ``spec.join``).
    A failure is put on ``errors`` as ``(index, one-line message)``; the parent removes any
    password from it before showing it.
    """
    StartupSignals().install()
    os.environ.update(dict(spec.env))
    try:
        set_threads(
            spec.threads
        )  # the environment says so too; this makes sure, before the first op
        join = pickle.loads(spec.join)
        join(
            spec.study_name,
            storage=spec.storage,
            data_dir=spec.data_dir,
            timeout=spec.timeout,
            verbose=spec.verbose,
            worker_index=spec.index,
        )
    except Interrupted as exc:
        raise SystemExit(exc.exit_code) from None
    except TunerError as exc:
        errors.put((spec.index, str(exc)))
        raise SystemExit(1) from None
    except Exception as exc:  # a bug: report it in one line, as the CLI would
        errors.put((spec.index, f"unexpected {type(exc).__name__}: {first_line(exc, default='')}"))
        raise SystemExit(1) from None
