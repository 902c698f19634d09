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
- ``random``: the tuner with random sampling and no pruning.

No trial starts after the budget; a trial running at the deadline finishes but what it finds
is not counted. Each time a contender finds a better model (best validation accuracy), its
test accuracy is measured (off the clock). The table shows the best validation accuracy
found by each point in time. KerasTuner is needed only here: ``pip install keras-tuner
tensorboard`` (KerasTuner imports TensorBoard with the TensorFlow backend).

    python benchmarks/time_to_accuracy.py [--budget 900] [--contenders tuner,kerastuner,random]

The comparison means something only with the machine to itself (load average near 0).
"""

from __future__ import annotations

import argparse
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
    overrides = {"sampler": "random", "pruner": "none"} if name == "random" else {}
    result = tuner.run_study(
        config,
        storage=f"sqlite:///{store / 'study.db'}",
        trials=1_000_000,
        timeout=budget,
        seed=seed,
        splits=splits,
        callbacks=[lambda study, trial: rec.trial_done()],
        after_train=[lambda trial, res: rec.offer(res.best_value, lambda: res.model)],
        **overrides,
    )
    return {"events": rec.events, "trials": result.n_finished, "seconds": rec.now()}


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
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--child", choices=CONTENDERS, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return

    names = [n.strip() for n in args.contenders.split(",") if n.strip()]
    unknown = set(names) - set(CONTENDERS)
    if unknown:
        parser.error(f"unknown contenders {sorted(unknown)}; choose from {', '.join(CONTENDERS)}")
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
        seed=args.seed,
    )
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            out = Path(tmp) / f"{name}.json"
            print(f"-- {name} (load before {C.loadavg()})", flush=True)
            env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONWARNINGS": "ignore"}
            subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--child",
                    name,
                    "--budget",
                    str(args.budget),
                    "--seed",
                    str(args.seed),
                    "--out",
                    str(out),
                ],
                check=True,
                env=env,
            )
            results[name] = json.loads(out.read_text())

    budget = args.budget
    print(f"== results (budget {budget:.0f} s each; load average now {C.loadavg()})")
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
        return
    mine = results["tuner"]["events"]
    others = {k: v["events"] for k, v in results.items() if k != "tuner"}
    ahead = True
    for t in points:
        m = best_at(mine, t)
        for ev in others.values():
            o = best_at(ev, t)
            if o is not None and (m is None or m["val"] < o["val"]):
                ahead = False
    C.goal("tuner ahead of the others at every point", ahead, "see the table above")
    if "kerastuner" in results and best_at(others["kerastuner"], budget):
        kt_final = best_at(others["kerastuner"], budget)
        reached = time_to_reach([e for e in mine if e["t"] <= budget], kt_final["val"])
        detail = f"KerasTuner reached {kt_final['val']:.4f} at {kt_final['t']:.0f} s; tuner " + (
            f"at {reached:.0f} s ({reached / kt_final['t']:.2f} of its time)"
            if reached is not None
            else "did not within the budget"
        )
        C.goal(
            "reach KerasTuner's final result in half its time",
            reached is not None and reached <= kt_final["t"] / 2,
            detail,
        )
    final = best_at(mine, budget)
    test = final["test"] if final else float("nan")
    note = "" if budget >= 900 else f" (at {budget:.0f} s, not 15 min)"
    C.goal(
        f"test accuracy >= {GOAL_TEST:.3f} at 15 min",
        test >= GOAL_TEST and budget <= 900,
        f"{test:.4f}; gap {max(0.0, GOAL_TEST - test):.4f}{note}",
    )
    C.write_json(args.json, {"budget": budget, "results": results})


if __name__ == "__main__":
    main()
