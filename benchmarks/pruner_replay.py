"""Replay recorded learning curves through Optuna's pruners: epochs saved against models lost.

Training is the expensive part of comparing pruners, and their decisions depend only on the
per-epoch validation values they are shown. This script therefore trains nothing: it reads the
curves of trials that ran **without** pruning (the ``random`` contender of
``time_to_accuracy.py --json FILE``, which records every trial's per-epoch validation accuracy),
feeds them, in many random orders, to each pruner exactly as a study would (``study.ask``,
``trial.report`` each epoch, ``trial.should_prune``), and counts:

- **epochs**: the epochs the pruned search would have trained, as a share of training every
  trial to its end (early stopping included);
- **best kept**: how often the best trial of the run survives to completion;
- **regret**: the best validation accuracy of the run minus the best that survives.

A pruner that saves epochs at no regret buys more trials in the same time; one that prunes
the eventual best trial loses what random search would have found. The last column weighs
both: trials drawn from the recorded ones (with replacement, as a search keeps drawing from
the same space) run through the pruner until the training seconds the recorded run spent are
used up (each trial's epochs cost its own recorded seconds per epoch), and the best
completed value is averaged over the draws.

    python benchmarks/pruner_replay.py --from tta.json [--orders 50]
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import _common as C


def pruners(max_epochs: int) -> dict[str, Callable[[], Any]]:
    """The candidates: Hyperband judging first at several epochs (the tuner's default marked),
    then the alternatives."""
    import optuna.pruners as P

    from tuner.search.samplers import hyperband_min_resource

    default = hyperband_min_resource(max_epochs)

    def hyperband(first: int) -> Callable[[], Any]:
        return lambda: P.HyperbandPruner(first, max_epochs, 3)

    return {
        **{
            f"hyperband min {m}{' (default)' if m == default else ''}": hyperband(m)
            for m in sorted({1, 2, 3, 5, default})
        },
        "sha min 1": lambda: P.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3),
        "sha min 3": lambda: P.SuccessiveHalvingPruner(min_resource=3, reduction_factor=3),
        "median warmup 1": lambda: P.MedianPruner(n_startup_trials=3, n_warmup_steps=1),
        "median warmup 5": lambda: P.MedianPruner(n_startup_trials=3, n_warmup_steps=5),
        "none": lambda: P.NopPruner(),
    }


def _study(make: Callable[[], Any], name: str) -> Any:
    import optuna

    return optuna.create_study(
        study_name=name,  # Hyperband places trials in brackets by the study's name
        direction="maximize",
        pruner=make(),
        sampler=optuna.samplers.RandomSampler(0),
    )


def _run(study: Any, curve: dict[str, Any]) -> tuple[int, bool]:
    """Feed one recorded curve to a new trial, epoch by epoch as a study does: (epochs run,
    pruned)."""
    import optuna

    trial = study.ask()
    steps = sorted((int(k), v) for k, v in curve["steps"].items())
    for done, (step, value) in enumerate(steps, start=1):
        trial.report(value, step)
        if trial.should_prune():
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            return done, True
    study.tell(trial, curve["value"])
    return len(steps), False


def replay(curves: list[dict[str, Any]], make: Callable[[], Any]) -> tuple[int, float]:
    """Epochs trained and the best completed value when ``curves`` run in this order."""
    study = _study(make, "replay")
    epochs, best = 0, float("-inf")
    for curve in curves:
        ran, pruned = _run(study, curve)
        epochs += ran
        if not pruned:
            best = max(best, curve["value"])
    return epochs, best


def within_budget(
    curves: list[dict[str, Any]], make: Callable[[], Any], budget: float, rng: random.Random
) -> float:
    """The best completed value when trials drawn from ``curves`` run until ``budget`` seconds
    of training are spent."""
    study = _study(make, "budget")
    spent, best = 0.0, float("-inf")
    while spent < budget:
        curve = rng.choice(curves)
        ran, pruned = _run(study, curve)
        spent += ran * curve["seconds"] / len(curve["steps"])
        if not pruned and spent <= budget:  # a trial still running at the deadline does not count
            best = max(best, curve["value"])
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="source", required=True, help="time_to_accuracy --json file")
    parser.add_argument("--orders", type=int, default=50, help="random trial orders per run")
    parser.add_argument("--max-epochs", type=int, default=30, help="the study's max_epochs")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    C.quiet_runtime()

    data = json.loads(Path(args.source).read_text())
    runs = {
        key: [c for c in res["curves"] if c["state"] == "COMPLETE" and c["steps"] and c["seconds"]]
        for key, res in data["results"].items()
        if key.startswith("random") and res.get("curves")
    }
    if not runs:
        raise SystemExit(f"{args.source} has no curves of unpruned trials (the random contender)")
    C.banner(
        "pruner replay: recorded curves, unpruned",
        source=args.source,
        runs=",".join(f"{k} ({len(v)} trials)" for k, v in runs.items()),
        orders=args.orders,
    )
    candidates = pruners(args.max_epochs)
    figures: dict[str, dict[str, float]] = {}
    for name, make in candidates.items():
        shares, kept, regrets = [], [], []
        for key, curves in runs.items():
            full = sum(len(c["steps"]) for c in curves)
            top = max(c["value"] for c in curves)
            rng = random.Random(key)
            for _ in range(args.orders):
                order = curves[:]
                rng.shuffle(order)
                epochs, best = replay(order, make)
                shares.append(epochs / full)
                kept.append(best >= top)
                regrets.append(top - best)
        budgets = []
        for key, curves in runs.items():
            rng = random.Random(f"budget-{key}")
            budget = sum(c["seconds"] for c in curves)
            budgets += [within_budget(curves, make, budget, rng) for _ in range(args.orders)]
        figures[name] = {
            "best_in_budget": sum(budgets) / len(budgets),
            "epochs": sum(shares) / len(shares),
            "best_kept": sum(kept) / len(kept),
            "regret": sum(regrets) / len(regrets),
            "worst_regret": max(regrets),
        }
    C.table(
        [
            "pruner",
            "epochs (share)",
            "best trial kept",
            "mean regret",
            "worst regret",
            "best within the run's seconds",
        ],
        [
            [
                n,
                f["epochs"],
                f["best_kept"],
                f["regret"],
                f["worst_regret"],
                f"{f['best_in_budget']:.4f}",
            ]
            for n, f in figures.items()
        ],
    )
    C.write_json(args.json, {"source": args.source, "figures": figures})


if __name__ == "__main__":
    main()
