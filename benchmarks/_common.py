"""Shared helpers for the benchmark scripts: timing, interleaving, RSS, the sgemm peak, printing.

The machine these run on is usually shared, so absolute times drift from one minute to the
next. Every script therefore measures the variants it compares side by side in one run,
alternates them (A B A B …, rotating which goes first), repeats them, and reports medians and
ratios of medians, together with the load average seen while it ran.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

#: The repository root (benchmarks run from a checkout).
ROOT = Path(__file__).resolve().parent.parent


def cores() -> int:
    """CPU cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def loadavg() -> str:
    """The 1/5/15-minute load averages, as printed with every result."""
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "n/a"
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def banner(title: str, **settings: Any) -> None:
    """Print what is measured, where and when, before any figure."""
    print(f"== {title}")
    print(
        f"   date {_dt.date.today().isoformat()}  host {platform.node()}  cores {cores()}"
        f"  python {platform.python_version()}  load {loadavg()}"
    )
    if settings:
        print("   " + "  ".join(f"{k}={v}" for k, v in settings.items()))
    sys.stdout.flush()


def median(values: Iterable[float]) -> float:
    values = list(values)
    return statistics.median(values) if values else float("nan")


def medians(
    results: dict[str, list[dict[str, float]]], fields: Sequence[str]
) -> dict[str, dict[str, float]]:
    """Per variant (as :func:`interleave` returns them), the median of each field over its runs."""
    return {
        name: {f: median(run[f] for run in runs) for f in fields} for name, runs in results.items()
    }


def ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


@contextmanager
def stopwatch() -> Any:
    """``with stopwatch() as t: ...`` then ``t()`` is the elapsed seconds (frozen on exit)."""
    start = time.perf_counter()
    end: list[float] = []
    yield lambda: (end[0] if end else time.perf_counter()) - start
    end.append(time.perf_counter())


def interleave(variants: dict[str, Callable[[int], Any]], repeats: int) -> dict[str, list[Any]]:
    """Run each variant ``repeats`` times, alternating them; rotate the order every round.

    Each variant is called with the round's number (0, 1, …: use it as the seed, so the
    variants of one round see the same seed). Returns the results per variant: each call's
    return value, or its seconds where it returns None.
    """
    names = list(variants)
    results: dict[str, list[Any]] = {n: [] for n in names}
    for r in range(repeats):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            start = time.perf_counter()
            value = variants[name](r)
            seconds = time.perf_counter() - start
            results[name].append(seconds if value is None else value)
    return results


def rss_mb() -> float:
    """This process's resident set size in MiB (from /proc; peak RSS where /proc is absent)."""
    try:
        with open("/proc/self/statm") as fh:
            pages = int(fh.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def sgemm_gflops(n: int = 2048, repeats: int = 3) -> float:
    """float32 ``a @ b`` throughput of NumPy's BLAS on n×n matrices (best of ``repeats``),
    GFLOP/s."""
    import numpy as np

    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    a @ b  # warm up the BLAS threads
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """Print a plain aligned table."""
    cells = [[_fmt(v) for v in row] for row in rows]
    widths = [
        max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)
    ]
    print("   " + "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
    for row in cells:
        print("   " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))
    sys.stdout.flush()


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        if value != value:  # NaN
            return "-"
        return f"{value:.4g}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


def goal(name: str, met: bool, detail: str) -> None:
    """One line per goal: met or missed, with the figure and the gap."""
    print(f"   goal {name}: {'MET' if met else 'MISSED'} ({detail})")


def write_json(path: str | os.PathLike[str] | None, data: dict[str, Any]) -> None:
    """Save the figures of a run (``--json PATH``), for comparing runs later."""
    if path:
        Path(path).write_text(json.dumps(data, indent=2, default=float))


def quiet_runtime() -> None:
    """Keep TensorFlow's and Optuna's logging out of the printed figures."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import logging
    import warnings

    logging.getLogger("absl").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    try:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.ERROR)
    except ImportError:
        pass


#: The ``[space]`` and ``[training]`` tables of the small-table studies (monitor, small_tables):
#: a ``str.format`` template (braces doubled) whose ``{epochs}`` is the epoch budget.
SMALL_TABLE_SPACE = """
[space]
n_layers = [1, 3]
units = {{ low = 4, high = 128, log = true }}
dropout = [0.0, 0.4]
activation = ["relu", "elu", "gelu", "tanh"]
learning_rate = {{ low = 1e-3, high = 5e-2, log = true }}
batch_size = [8, 16, 32]
optimizer = ["adam", "rmsprop"]

[training]
max_epochs = {epochs}
patience = 8
"""


def fashion_mnist_config(**overrides: Any) -> Any:
    """The built-in ``fashion_mnist`` study file, with command-line style overrides."""
    from tuner.config.parse import load_config, resolve_study, with_overrides

    return with_overrides(load_config(resolve_study("fashion_mnist")), **overrides)


def epoch_timer() -> Any:
    """A Keras callback that records each epoch's seconds in ``.seconds`` (Keras loaded)."""
    from tuner.ml.backend import load_keras

    keras = load_keras()

    class EpochTimer(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.seconds: list[float] = []
            self._start = 0.0

        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            self._start = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            self.seconds.append(time.perf_counter() - self._start)

    return EpochTimer()


# --------------------------------------------------------------------------- a small study run

_STUDY_TRAINING = """
[training]
max_epochs = {epochs}
patience = 3
reduce_lr_patience = 2
reduce_lr_factor = 0.3
"""


def small_fashion_study(folder: Path, rows: int, epochs: int) -> Path:
    """The built-in fashion_mnist study with ``rows`` samples and ``epochs`` epochs at most,
    written to ``folder``; its space, sampler, seed, pruner and start point unchanged."""
    text = (Path(__file__).resolve().parent.parent / "studies" / "fashion_mnist.toml").read_text()
    head, _, rest = text.partition("[training]")
    _, _, search = rest.partition("[search]")
    head = head.replace("split_seed = 0", f"split_seed = 0\nn_samples = {rows}")
    path = folder / "fashion_mnist.toml"
    path.write_text(head + _STUDY_TRAINING.format(epochs=epochs) + "\n[search]" + search)
    return path


def run_fashion_study(
    folder: Path, study: Path, trials: int, extra: Sequence[str], backend: str
) -> dict[str, Any]:
    """``tuner run`` of ``study`` on ``backend`` in a fresh process and store (no saved models):
    finished trials, the seconds from the first trial's start to the last one's end, trials per
    hour over them, and the best validation value."""
    import subprocess

    import optuna
    from optuna.trial import TrialState

    store = f"sqlite:///{folder / 'store.db'}"
    env = {**os.environ, "KERAS_BACKEND": backend, "TUNER_ARTIFACTS": "off"}
    cmd = [sys.executable, "-m", "tuner", "run", "--study", str(study), "--storage", store]
    cmd += ["--trials", str(trials), "--backend", backend, "--quiet", *extra]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"tuner run {' '.join(cmd[3:])} failed:\n{proc.stderr[-3000:]}")
    done = optuna.load_study(study_name="fashion_mnist", storage=store).get_trials()
    finished = [t for t in done if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    span = (
        max(t.datetime_complete for t in finished) - min(t.datetime_start for t in finished)
    ).total_seconds()
    best = max((t.value for t in done if t.state == TrialState.COMPLETE), default=float("nan"))
    return {
        "finished": len(finished),
        "seconds": span,
        "per_hour": 3600 * len(finished) / span,
        "best": best,
    }


def study_table(runs: dict[str, list[dict[str, Any]]], base: str, label: str) -> dict[str, Any]:
    """Print the medians of :func:`run_fashion_study` results per variant, with trials per hour
    against variant ``base``; the medians and the runs."""
    keys = ("finished", "seconds", "per_hour", "best")
    medians = {name: {k: median(r[k] for r in rs) for k in keys} for name, rs in runs.items()}
    base_rate = medians.get(base, {}).get("per_hour", float("nan"))
    table(
        [label, "finished", "seconds", "trials/hour", f"vs {base}", "best accuracy"],
        [
            [
                n,
                m["finished"],
                m["seconds"],
                m["per_hour"],
                ratio(m["per_hour"], base_rate),
                m["best"],
            ]
            for n, m in medians.items()
        ],
    )
    return {"medians": medians, "runs": runs}


def first_rows(splits: Any, rows: int) -> Any:
    """``splits`` cut to its first ``rows`` training rows and ``rows // 4`` validation rows."""
    import dataclasses

    if rows >= len(splits.x_train):
        return splits
    return dataclasses.replace(
        splits,
        x_train=splits.x_train[:rows],
        y_train=splits.y_train[:rows],
        x_val=splits.x_val[: rows // 4],
        y_val=splits.y_val[: rows // 4],
    )
