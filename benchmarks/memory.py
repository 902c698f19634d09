"""Memory: resident set size after each of 100 small trials run in one process.

Runs a study through :func:`tuner.run_study` (SQLite store and model artifacts in a temporary
folder, the study's own sampler and pruner) and records the process's RSS after every
finished trial. Growth is measured from the first trial (which pays for TensorFlow's one-time
set-up) to the last. Goal: growth < 150 MB over 100 trials.

    python benchmarks/memory.py [--study digits] [--trials 100] [--epochs 10]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

import _common as C

GOAL_MB = 150.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", default="digits", help="study name or file (default: digits)")
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=10, help="max epochs per trial")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    C.quiet_runtime()

    import numpy as np

    import tuner

    C.banner(
        "memory: RSS after each trial, one process",
        study=args.study,
        trials=args.trials,
        epochs=args.epochs,
    )
    start_rss = C.rss_mb()
    rss: list[float] = []

    def after_trial(study: Any, trial: Any) -> None:
        rss.append(C.rss_mb())

    with tempfile.TemporaryDirectory() as tmp:
        storage = f"sqlite:///{Path(tmp) / 'memory.db'}"
        with C.stopwatch() as elapsed:
            result = tuner.run_study(
                args.study,
                storage=storage,
                trials=args.trials,
                max_epochs=args.epochs,
                seed=0,
                callbacks=[after_trial],
            )
    print(
        f"   {len(rss)} trials ({result.counts.get('COMPLETE', 0)} complete, "
        f"{result.counts.get('PRUNED', 0)} pruned) in {elapsed():.0f} s; "
        f"RSS before the first trial {start_rss:.0f} MiB"
    )
    marks = sorted({0, 9, 24, 49, 74, len(rss) - 1} & set(range(len(rss))))
    C.table(
        ["after trial", "RSS MiB", "growth since trial 1 MiB"],
        [[i + 1, rss[i], rss[i] - rss[0]] for i in marks],
    )
    growth = rss[-1] - rss[0]
    half = len(rss) // 2
    slope = (
        float(np.polyfit(np.arange(half, len(rss)), rss[half:], 1)[0])
        if len(rss) - half >= 2
        else float("nan")
    )
    print(
        f"   trend over the second half: {slope:+.2f} MiB per trial; "
        f"load average now: {C.loadavg()}"
    )
    C.goal(
        f"growth < {GOAL_MB:.0f} MB over {len(rss)} trials",
        growth < GOAL_MB,
        f"{growth:.0f} MiB; gap {max(0.0, growth - GOAL_MB):.0f} MiB",
    )
    C.write_json(args.json, {"load": C.loadavg(), "rss": rss, "growth": growth, "slope": slope})


if __name__ == "__main__":
    main()
