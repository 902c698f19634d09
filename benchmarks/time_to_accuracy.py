"""Time to accuracy on Fashion-MNIST: tuner vs KerasTuner Hyperband vs random search, same clock.

Contenders, each in its own fresh process, one after the other, with the same wall-clock
budget (``--budget`` seconds, default 900) on the same 48k/12k train/validation split (the
``fashion_mnist`` study's) and the official 10k test images:

- ``tuner``: :func:`tuner.run_study` with the study's defaults (TPE sampler, successive
  halving pruner, early stopping, learning rate lowered on plateaus);
- ``kerastuner``: ``keras_tuner.Hyperband`` (max_epochs 27, factor 3) over the same MLP space
  (depth, per-layer widths, dropout, activation, learning rate, batch size, optimizer), the
  model written the way a Keras user would (``Sequential``, default ``compile``), with the
  same ``Normalization`` layer and early stopping (same patience, best weights restored) and
  no learning-rate schedule, as KerasTuner's examples have none;
- ``random``: the tuner with random sampling, no pruning and no start point.

No trial starts after the budget; a trial running at the deadline finishes but what it finds
is not counted. Each time a contender finds a better model (best validation accuracy), its
test accuracy is measured (off the clock). The table shows the best validation accuracy
found by each point in time. KerasTuner is needed only here: ``pip install keras-tuner
tensorboard`` (KerasTuner imports TensorBoard with the TensorFlow backend).

    python benchmarks/time_to_accuracy.py [--budget 900] [--contenders tuner,kerastuner,random]
        [--seeds 0,1,2] [--side-by-side 2] [--json FILE]

For the tuner contender, a greedy ensemble (:func:`tuner.report.ensemble.select_ensemble`,
what ``tuner report --ensemble 5`` does) is also chosen from its 10 best trials on validation
predictions only, once the budget is spent, and scored once on the test images.

``--side-by-side K`` runs K contenders at a time, each pinned to its own equal share of the
cores (e.g. two contenders on one core each on a 2-core machine), so that a long comparison
over several seeds takes a fraction of the time and every contender sees the same load.
Figures from ``--side-by-side`` runs compare with each other, not with runs given every core.

The comparison means something only with the machine to itself (load average near 0).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import _common as C

CONTENDERS = ("tuner", "kerastuner", "random")
KT_MAX_EPOCHS = 27
KT_FACTOR = 3
GOAL_TEST = 0.900
GOAL_ENSEMBLE = 0.905
ENSEMBLE_SIZE = 5  # as ``tuner report --ensemble 5``: candidates are the 2 x 5 best trials
EARLY = 300.0  # the second checkpoint: 5 minutes


class _Recorder:
    """Best validation accuracy over time, with the test accuracy of each new best model."""

    def __init__(self, splits: Any) -> None:
        self.splits = splits
        self.start = time.perf_counter()
        self.paused = 0.0  # seconds spent measuring test accuracy, kept off the clock
        self.best = float("-inf")
        self.events: list[dict[str, float]] = []
        self.trials = 0

    def now(self) -> float:
        return time.perf_counter() - self.start - self.paused

    def trial_done(self) -> None:
        self.trials += 1

    def offer(self, value: float, model_fn: Any) -> None:
        at = self.now()
        if value is None or not value > self.best:
            return
        import numpy as np

        off = time.perf_counter()
        model = model_fn()
        pred = np.asarray(model.predict(self.splits.x_test, batch_size=4096, verbose=0))
        test = float(np.mean(pred.argmax(axis=1) == self.splits.y_test))
        self.paused += time.perf_counter() - off
        self.best = value
        self.events.append({"t": at, "val": float(value), "test": test, "trials": self.trials})
        print(
            f"   [{at:7.1f} s] best val {value:.4f}  test {test:.4f}  ({self.trials} trials done)",
            flush=True,
        )


def run_tuner_contender(
    name: str, budget: float, splits: Any, config: Any, seed: int, store: Path
) -> dict[str, Any]:
    import tuner

    rec = _Recorder(splits)
    pool = _Candidates(splits, rec, keep=2 * ENSEMBLE_SIZE)
    overrides = {"sampler": "random", "pruner": "none"} if name == "random" else {}
    if name == "random":  # plain random search: without the study's hand-picked start point
        config = dataclasses.replace(config, search=dataclasses.replace(config.search, start=()))
    storage = f"sqlite:///{store / 'study.db'}"
    result = tuner.run_study(
        config,
        storage=storage,
        trials=1_000_000,
        timeout=budget,
        seed=seed,
        splits=splits,
        callbacks=[lambda study, trial: rec.trial_done()],
        after_train=[
            lambda trial, res: rec.offer(res.best_value, lambda: res.model),
            lambda trial, res: pool.offer(trial.number, res.best_value, res.model),
        ],
        **overrides,
    )
    return {
        "events": rec.events,
        "trials": result.n_finished,
        "seconds": rec.now(),
        "ensemble": pool.ensemble(config.objective.metric, splits.task),
        "curves": _curves(storage),
    }


class _Candidates:
    """The best trials' validation and test outputs (off the clock), for an ensemble at the end."""

    def __init__(self, splits: Any, rec: _Recorder, keep: int) -> None:
        self.splits, self.rec, self.keep = splits, rec, keep
        self.kept: list[tuple[float, int, Any, Any]] = []

    def offer(self, number: int, value: float, model: Any) -> None:
        if value is None or value != value:  # NaN
            return
        if len(self.kept) >= self.keep and value <= self.kept[-1][0]:
            return
        from tuner.ml.training import predict

        off = time.perf_counter()
        outputs = (predict(model, self.splits.x_val), predict(model, self.splits.x_test))
        self.rec.paused += time.perf_counter() - off
        self.kept.append((float(value), number, *outputs))
        self.kept.sort(key=lambda k: (-k[0], k[1]))
        del self.kept[self.keep :]

    def ensemble(self, metric: str, task: str) -> dict[str, Any] | None:
        """Greedy selection on validation outputs; the test images scored once, for it alone."""
        if not self.kept:
            return None
        import numpy as np

        from tuner.report.ensemble import select_ensemble

        chosen = select_ensemble(
            [k[2] for k in self.kept],
            self.splits.y_val,
            metric=metric,
            task=task,
            size=ENSEMBLE_SIZE,
        )
        test_out = sum(w * k[3] for w, k in zip(chosen.weights, self.kept, strict=True))
        single_test = float(np.mean(self.kept[0][3].argmax(axis=1) == self.splits.y_test))
        return {
            "members": [self.kept[i][1] for i in chosen.members],
            "weights": list(chosen.member_weights),
            "val": chosen.value,
            "single_val": chosen.single_value,
            "test": float(np.mean(np.asarray(test_out).argmax(axis=1) == self.splits.y_test)),
            "single_test": single_test,
        }


def _curves(storage: str) -> list[dict[str, Any]]:
    """Every trial's per-epoch validation values and end state (for replaying pruners)."""
    import optuna

    study = optuna.load_study(study_name=None, storage=storage)
    return [
        {
            "number": t.number,
            "state": t.state.name,
            "value": t.value,
            "steps": {int(k): float(v) for k, v in sorted(t.intermediate_values.items())},
            "seconds": t.user_attrs.get("train_seconds"),
        }
        for t in study.trials
    ]


def run_kerastuner_contender(
    budget: float, splits: Any, config: Any, seed: int, store: Path
) -> dict[str, Any]:
    try:
        import keras_tuner as kt
    except ImportError:
        raise SystemExit(
            "the kerastuner contender needs KerasTuner and TensorBoard: "
            "pip install keras-tuner tensorboard (benchmark-only dependencies)"
        ) from None
    from tuner.ml.backend import load_keras
    from tuner.ml.model import ModelSpec

    keras = load_keras()
    spec = ModelSpec.from_splits(splits)
    space = config.space

    def choice(hp: Any, name: str, values: Any) -> Any:
        return hp.Choice(name, list(values))

    def int_range(hp: Any, name: str, rng: Any) -> int:
        return hp.Int(name, rng.low, rng.high, sampling="log" if rng.log else "linear")

    class MLP(kt.HyperModel):
        def build(self, hp: Any) -> Any:
            n_layers = int_range(hp, "n_layers", space.n_layers)
            widths = [int_range(hp, f"units_{i}", space.units) for i in range(n_layers)]
            dropout = hp.Float("dropout", space.dropout.low, space.dropout.high)
            activation = choice(hp, "activation", space.activation)
            model = keras.Sequential(
                [
                    keras.Input(shape=(spec.n_features,)),
                    keras.layers.Normalization(mean=spec.mean, variance=spec.variance),
                ]
            )
            for width in widths:
                model.add(keras.layers.Dense(width, activation=activation))
                if dropout > 0:
                    model.add(keras.layers.Dropout(dropout))
            model.add(keras.layers.Dense(spec.n_classes, activation="softmax"))
            lr = hp.Float(
                "learning_rate", space.learning_rate.low, space.learning_rate.high, sampling="log"
            )
            optimizer = {
                "adam": keras.optimizers.Adam,
                "rmsprop": keras.optimizers.RMSprop,
                "nadam": keras.optimizers.Nadam,
                "adamw": keras.optimizers.AdamW,
                "adagrad": keras.optimizers.Adagrad,
                "sgd": keras.optimizers.SGD,
            }[choice(hp, "optimizer", space.optimizer)](lr)
            model.compile(
                optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"]
            )
            return model

        def fit(self, hp: Any, model: Any, *args: Any, **kwargs: Any) -> Any:
            return model.fit(*args, batch_size=choice(hp, "batch_size", space.batch_size), **kwargs)

    rec = _Recorder(splits)

    class Deadline(Exception):
        pass

    class TimedHyperband(kt.Hyperband):
        def on_trial_begin(self, trial: Any) -> None:
            if rec.now() >= budget:
                raise Deadline
            super().on_trial_begin(trial)

        def on_trial_end(self, trial: Any) -> None:
            super().on_trial_end(trial)
            rec.trial_done()
            if trial.score is not None:
                rec.offer(trial.score, lambda: self.load_model(trial))

    search = TimedHyperband(
        MLP(),
        objective="val_accuracy",
        max_epochs=KT_MAX_EPOCHS,
        factor=KT_FACTOR,
        seed=seed,
        directory=str(store),
        project_name="kt",
        overwrite=True,
    )
    early = keras.callbacks.EarlyStopping(
        monitor="val_accuracy",
        mode="max",
        patience=config.training.patience,
        restore_best_weights=True,
    )
    finished = True
    try:
        search.search(
            splits.x_train,
            splits.y_train,
            validation_data=(splits.x_val, splits.y_val),
            callbacks=[early],
            verbose=0,
        )
    except Deadline:
        finished = False
    return {
        "events": rec.events,
        "trials": rec.trials,
        "seconds": rec.now(),
        "search_finished": finished,
    }


def child(args: argparse.Namespace) -> None:
    if args.cores:
        os.sched_setaffinity(0, {int(c) for c in args.cores.split(",")})
    C.quiet_runtime()
    from tuner.data.datasets import load_splits

    config = C.fashion_mnist_config()
    splits = load_splits(config.data)
    with tempfile.TemporaryDirectory() as tmp:
        if args.child == "kerastuner":
            out = run_kerastuner_contender(args.budget, splits, config, args.seed, Path(tmp))
        else:
            out = run_tuner_contender(args.child, args.budget, splits, config, args.seed, Path(tmp))
    out["load"] = C.loadavg()
    Path(args.out).write_text(json.dumps(out))


def best_at(events: list[dict[str, float]], t: float) -> dict[str, float] | None:
    seen = [e for e in events if e["t"] <= t]
    return seen[-1] if seen else None


def time_to_reach(events: list[dict[str, float]], value: float) -> float | None:
    return next((e["t"] for e in events if e["val"] >= value), None)


def core_shares(k: int) -> list[list[int]]:
    """This process's cores cut into ``k`` equal shares (one share each when ``k`` is 1)."""
    mine = sorted(os.sched_getaffinity(0))
    if k > len(mine):
        raise SystemExit(f"--side-by-side {k} needs {k} cores; this process has {len(mine)}")
    size = len(mine) // k
    return [mine[i * size : (i + 1) * size] for i in range(k)]


def run_contenders(
    jobs: list[tuple[int, str]], budget: float, side_by_side: int, tmp: Path
) -> dict[tuple[int, str], dict[str, Any]]:
    """Run every (seed, contender) job in a fresh process, ``side_by_side`` at a time."""
    from tuner.ml.backend import thread_env

    shares = core_shares(side_by_side)
    free = list(range(side_by_side))
    running: dict[Any, tuple[tuple[int, str], int, Path]] = {}
    results: dict[tuple[int, str], dict[str, Any]] = {}
    queue = list(jobs)
    while queue or running:
        while queue and free:
            (seed, name), slot = queue.pop(0), free.pop(0)
            out = tmp / f"{name}-{seed}.json"
            cores = shares[slot]
            print(f"-- {name}, seed {seed}, cores {cores} (load before {C.loadavg()})", flush=True)
            env = {
                **os.environ,
                **(thread_env("tensorflow", len(cores)) if side_by_side > 1 else {}),
                "TF_CPP_MIN_LOG_LEVEL": "2",
                "PYTHONWARNINGS": "ignore",
            }
            cmd = [sys.executable, __file__, "--child", name, "--budget", str(budget)]
            cmd += ["--seed", str(seed), "--out", str(out)]
            if side_by_side > 1:
                cmd += ["--cores", ",".join(map(str, cores))]
            running[subprocess.Popen(cmd, env=env)] = ((seed, name), slot, out)
        time.sleep(2)
        for proc in [p for p in running if p.poll() is not None]:
            job, slot, out = running.pop(proc)
            if proc.returncode != 0:
                raise SystemExit(f"contender {job[1]} (seed {job[0]}) failed")
            results[job] = json.loads(out.read_text())
            free.append(slot)
    return results


def seed_report(seed: int, results: dict[str, dict[str, Any]], budget: float) -> dict[str, Any]:
    """One seed's tables; returns what the goals across seeds need."""
    print(f"== seed {seed} (budget {budget:.0f} s each; load average now {C.loadavg()})")
    rows = []
    for name, res in results.items():
        final = best_at(res["events"], budget)
        rows.append(
            [
                name,
                res["trials"],
                final["val"] if final else float("nan"),
                final["test"] if final else float("nan"),
                final["t"] if final else float("nan"),
                res["load"],
            ]
        )
    C.table(
        ["contender", "trials", "best val", "test acc of best", "found at s", "load at end"], rows
    )
    points = [budget * f for f in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)]
    print("   best validation accuracy found by time t:")
    C.table(
        ["t s", *results],
        [
            [
                round(t),
                *(
                    (best_at(r["events"], t) or {}).get("val", float("nan"))
                    for r in results.values()
                ),
            ]
            for t in points
        ],
    )
    if "tuner" not in results:
        return {}
    mine = results["tuner"]["events"]
    checkpoints = sorted({min(EARLY, budget), budget})
    ahead = {}
    for t in checkpoints:
        m = best_at(mine, t)
        ahead[t] = all(
            (o := best_at(r["events"], t)) is None or (m is not None and m["val"] >= o["val"])
            for k, r in results.items()
            if k != "tuner"
        )
    final = best_at(mine, budget)
    ens = results["tuner"].get("ensemble")
    if ens:
        print(
            f"   ensemble of {len(ens['members'])} trials {ens['members']} "
            f"(weights {[round(w, 2) for w in ens['weights']]}): val {ens['val']:.4f} "
            f"test {ens['test']:.4f}; single best val {ens['single_val']:.4f} "
            f"test {ens['single_test']:.4f}"
        )
    if "kerastuner" in results and best_at(results["kerastuner"]["events"], budget):
        kt_final = best_at(results["kerastuner"]["events"], budget)
        reached = time_to_reach([e for e in mine if e["t"] <= budget], kt_final["val"])
        print(
            f"   KerasTuner reached {kt_final['val']:.4f} at {kt_final['t']:.0f} s; tuner "
            + (f"at {reached:.0f} s" if reached is not None else "did not within the budget")
        )
    return {
        "test": final["test"] if final else float("nan"),
        "ensemble_test": ens["test"] if ens else float("nan"),
        "ahead": ahead,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--budget", type=float, default=900.0, help="seconds per contender (default 900)"
    )
    parser.add_argument(
        "--contenders",
        default=",".join(CONTENDERS),
        help=f"comma-separated, from {', '.join(CONTENDERS)}",
    )
    parser.add_argument("--seeds", default="0", help="comma-separated seeds (default 0)")
    parser.add_argument(
        "--side-by-side",
        type=int,
        default=1,
        metavar="K",
        help="contenders run at a time, each on its own 1/K of the cores (default 1)",
    )
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--child", choices=CONTENDERS, help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--cores", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return

    names = [n.strip() for n in args.contenders.split(",") if n.strip()]
    unknown = set(names) - set(CONTENDERS)
    if unknown:
        parser.error(f"unknown contenders {sorted(unknown)}; choose from {', '.join(CONTENDERS)}")
    try:
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    except ValueError:
        parser.error(f"--seeds takes comma-separated integers, got {args.seeds!r}")
    if "kerastuner" in names:
        try:
            import keras_tuner  # noqa: F401
            import tensorboard  # noqa: F401
        except ImportError:
            parser.error(
                "the kerastuner contender needs KerasTuner and TensorBoard: "
                "pip install keras-tuner tensorboard (benchmark-only dependencies)"
            )
    C.banner(
        "time to accuracy: Fashion-MNIST, same wall clock each",
        budget_s=args.budget,
        contenders=",".join(names),
        seeds=",".join(map(str, seeds)),
        side_by_side=args.side_by_side,
    )
    with tempfile.TemporaryDirectory() as tmp:
        done = run_contenders(
            [(seed, name) for seed in seeds for name in names],
            args.budget,
            args.side_by_side,
            Path(tmp),
        )
    budget = args.budget
    per_seed = {
        seed: seed_report(seed, {n: done[(seed, n)] for n in names}, budget) for seed in seeds
    }
    if "tuner" in names:
        print("== goals over every seed")
        tests = [per_seed[s]["test"] for s in seeds]
        C.goal(
            f"tuner's single best test accuracy >= {GOAL_TEST:.3f} on every seed",
            all(t >= GOAL_TEST for t in tests) and budget <= 900,
            ", ".join(f"seed {s}: {t:.4f}" for s, t in zip(seeds, tests, strict=True)),
        )
        ens = [per_seed[s]["ensemble_test"] for s in seeds]
        C.goal(
            f"ensemble test accuracy >= {GOAL_ENSEMBLE:.3f} on every seed",
            all(t >= GOAL_ENSEMBLE for t in ens) and budget <= 900,
            ", ".join(f"seed {s}: {t:.4f}" for s, t in zip(seeds, ens, strict=True)),
        )
        if len(names) > 1:
            for t in sorted({min(EARLY, budget), budget}):
                seen = [per_seed[s]["ahead"][t] for s in seeds]
                C.goal(
                    f"tuner ahead on validation at {t:.0f} s on every seed",
                    all(seen),
                    ", ".join(
                        f"seed {s}: {'ahead' if a else 'behind'}"
                        for s, a in zip(seeds, seen, strict=True)
                    ),
                )
    C.write_json(
        args.json,
        {
            "budget": budget,
            "side_by_side": args.side_by_side,
            "results": {f"{n}-{s}": done[(s, n)] for s in seeds for n in names},
        },
    )


if __name__ == "__main__":
    main()
