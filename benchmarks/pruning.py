"""Pruning payoff: trials finished per hour and best value, the study's pruner vs none.

Each run is :func:`tuner.run_study` on the ``fashion_mnist`` study with its defaults (TPE
sampler, successive halving), a fresh SQLite store and the same wall-clock budget (no trial
starts after it; the running one finishes). Runs alternate between the pruners; round r uses
seed r for all. Goal: >= 3x the trials per hour at the same best validation accuracy (±0.3
points).

    python benchmarks/pruning.py [--budget 300] [--repeats 1] [--study fashion_mnist]
                                 [--pruners hyperband,sha,median,none]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

import _common as C

GOAL_RATIO = 3.0
GOAL_POINTS = 0.3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=300.0, help="seconds per run (default 300)")
    parser.add_argument("--repeats", type=int, default=1, help="runs per pruner, alternated")
    parser.add_argument("--study", default="fashion_mnist")
    parser.add_argument(
        "--pruners",
        help=(
            "pruners to alternate; the first is compared with 'none' "
            "(default: the study's pruner, none)"
        ),
    )
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    C.quiet_runtime()

    import tuner
    from tuner.data.datasets import load_splits
    from tuner.run.runner import load_study_config

    config = load_study_config(args.study)
    load_splits(config.data)  # read the data once, before any clock starts
    C.banner(
        "pruning payoff: default pruner vs none, same wall clock",
        study=args.study,
        budget_s=args.budget,
        repeats=args.repeats,
    )
    tmp = tempfile.TemporaryDirectory()

    def run(pruner: str) -> Any:
        def one(seed: int) -> dict[str, float]:
            url = f"sqlite:///{Path(tmp.name) / f'{pruner}-{seed}.db'}"
            with C.stopwatch() as elapsed:
                result = tuner.run_study(
                    config,
                    storage=url,
                    trials=100_000,
                    timeout=args.budget,
                    pruner=pruner,
                    seed=seed,
                )
            seconds = elapsed()
            row = {
                "seconds": seconds,
                "finished": result.n_finished,
                "pruned": result.counts.get("PRUNED", 0),
                "per_hour": 3600 * result.n_finished / seconds,
                "best": result.best_value or float("nan"),
            }
            print(
                f"   {pruner:9s} seed {seed}: {row['finished']} finished ({row['pruned']} pruned) "
                f"in {seconds:.0f} s, best {row['best']:.4f}; load {C.loadavg()}",
                flush=True,
            )
            return row

        return one

    pruners = [
        p.strip() for p in (args.pruners or f"{config.search.pruner},none").split(",") if p.strip()
    ]
    if "none" not in pruners or len(pruners) < 2:
        parser.error("--pruners needs 'none' and at least one pruner to compare with it")
    results = C.interleave({p: run(p) for p in pruners}, args.repeats)
    tmp.cleanup()
    med = C.medians(results, ("per_hour", "best", "finished"))
    C.table(
        ["pruner", "trials/hour (median)", "finished (median)", "best val (median)"],
        [[k, m["per_hour"], m["finished"], m["best"]] for k, m in med.items()],
    )
    for other in pruners:
        if other not in (pruners[0], "none"):
            print(
                f"   trials/hour {other} / none: "
                f"{C.ratio(med[other]['per_hour'], med['none']['per_hour']):.2f}x; "
                f"best value difference "
                f"{100 * (med[other]['best'] - med['none']['best']):+.2f} points"
            )
    first = pruners[0] if pruners[0] != "none" else pruners[1]
    ratio = C.ratio(med[first]["per_hour"], med["none"]["per_hour"])
    points = 100 * (med[first]["best"] - med["none"]["best"])
    print(
        f"   trials/hour {first} / none: {ratio:.2f}x; best value difference {points:+.2f} points; "
        f"load average now: {C.loadavg()}"
    )
    C.goal(
        f">= {GOAL_RATIO:.0f}x trials per hour ({first})",
        ratio >= GOAL_RATIO,
        f"{ratio:.2f}x; gap {max(0.0, GOAL_RATIO - ratio):.2f}x",
    )
    C.goal(
        f"best value within ±{GOAL_POINTS} points (or better)",
        points >= -GOAL_POINTS,
        f"{points:+.2f} points",
    )
    C.write_json(
        args.json, {"load": C.loadavg(), "runs": results, "ratio": ratio, "points": points}
    )


if __name__ == "__main__":
    main()
