"""Per-trial overhead: N trials of a trivial objective through the tuner's runner vs bare Optuna.

Both sides draw the same parameters (the ``digits`` study's space, through
:func:`tuner.search.space.suggest_params`), with the same sampler (TPE: multivariate, group,
constant liar) and pruner (Hyperband), into a fresh SQLite store, and return the same cheap
value; no model is trained. What differs is what surrounds the trial:

- ``tuner``: :func:`tuner.run_study` with its objective replaced by the trivial one, so the
  study file, store set-up, heartbeat, the per-study lock and exact-budget accounting, failure
  guard and summary all run as they do for real;
- ``optuna``: ``optuna.create_study(storage="sqlite:///…")`` and ``study.optimize``.

Runs alternate (tuner, optuna, optuna, tuner, …). Goal: tuner / optuna <= 1.2.

    python benchmarks/trial_overhead.py [--trials 300] [--repeats 2]
"""

from __future__ import annotations

import argparse
import math
import tempfile
from pathlib import Path
from typing import Any

import _common as C

GOAL = 1.2


def trivial_value(params: dict[str, Any]) -> float:
    """A cheap, smooth function of the parameters (a stand-in for a validation accuracy)."""
    return (
        1.0
        - (math.log10(params["learning_rate"]) + 3.0) ** 2 / 10
        - params["dropout"] / 5
        + params["n_layers"] / 100
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=2, help="runs of each side, alternated")
    parser.add_argument(
        "--study", default="digits", help="study whose search space both sides draw from"
    )
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    C.quiet_runtime()

    import optuna

    import tuner
    import tuner.run.runner
    from tuner.run.runner import load_study_config
    from tuner.search.space import suggest_params

    config = load_study_config(args.study)
    C.banner(
        "per-trial overhead: trivial objective on SQLite",
        trials=args.trials,
        repeats=args.repeats,
        study=args.study,
        optuna=optuna.__version__,
    )

    class TrivialObjective:
        """Takes the place of :class:`tuner.search.objective.Objective`: suggest, then return
        at once."""

        def __init__(self, config: Any, splits: Any, **kwargs: Any) -> None:
            self.space = config.space

        def __call__(self, trial: optuna.Trial) -> float:
            return trivial_value(suggest_params(trial, self.space))

    tmp = tempfile.TemporaryDirectory()
    counter = iter(range(1_000_000))

    def run_tuner(seed: int) -> float:
        url = f"sqlite:///{Path(tmp.name) / f'tuner-{next(counter)}.db'}"
        real = tuner.run.runner.Objective
        tuner.run.runner.Objective = TrivialObjective  # type: ignore[assignment,misc]
        try:
            with C.stopwatch() as elapsed:
                result = tuner.run_study(config, storage=url, trials=args.trials, seed=seed)
        finally:
            tuner.run.runner.Objective = real  # type: ignore[misc]
        assert result.n_finished == args.trials, result.counts
        return elapsed()

    def run_optuna(seed: int) -> float:
        url = f"sqlite:///{Path(tmp.name) / f'optuna-{next(counter)}.db'}"

        def objective(trial: optuna.Trial) -> float:
            return trivial_value(suggest_params(trial, config.space))

        with C.stopwatch() as elapsed:
            sampler = optuna.samplers.TPESampler(
                seed=seed, multivariate=True, group=True, constant_liar=True
            )
            pruner = optuna.pruners.HyperbandPruner(
                min_resource=1, max_resource=config.training.max_epochs, reduction_factor=3
            )
            study = optuna.create_study(
                storage=url,
                study_name=config.name,
                direction="maximize",
                sampler=sampler,
                pruner=pruner,
            )
            study.optimize(objective, n_trials=args.trials)
        return elapsed()

    results = C.interleave({"tuner": run_tuner, "optuna": run_optuna}, args.repeats)
    tmp.cleanup()
    med = {k: C.median(v) for k, v in results.items()}
    rows = [
        [k, med[k], 1000 * med[k] / args.trials, ", ".join(f"{s:.1f}" for s in v)]
        for k, v in results.items()
    ]
    C.table(["loop", "seconds (median)", "ms per trial", "each run"], rows)
    r = C.ratio(med["tuner"], med["optuna"])
    print(f"   tuner / optuna: {r:.2f}x; load average now: {C.loadavg()}")
    C.goal(f"<= {GOAL}x bare Optuna", r <= GOAL, f"{r:.2f}x; gap {max(0.0, r - GOAL):.2f}x")
    C.write_json(args.json, {"load": C.loadavg(), "seconds": results, "ratio": r})


if __name__ == "__main__":
    main()
