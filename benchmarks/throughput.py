"""Training throughput: one epoch of a 784-128-128-10 MLP on Fashion-MNIST's 48k training rows.

Compares, side by side in one run and alternating:

- ``tuner``: the tuner's own training path (:func:`tuner.ml.training.train`), which also scores
  the 12k validation rows after every epoch (its per-epoch metric for pruning and early
  stopping is part of the epoch's cost here);
- ``fit``: bare ``model.fit`` with Keras' defaults on the same arrays, the same model (a
  ``Normalization`` layer, two Dense 128 ReLU layers, a softmax) and no validation;
- the machine's float32 matrix-multiply peak: NumPy ``a @ b`` on 2048² matrices.

An epoch's time runs from ``on_epoch_begin`` to ``on_epoch_end``; the first epoch of each run
also pays for tracing the training function and is reported apart. Throughput counts the
matmul work of an epoch exactly: forward, weight gradients, and input gradients for every
layer but the first (2 FLOPs per multiply-add). Accuracy per epoch (validation split) is
printed for both paths, averaged over the repeats; each repeat uses one seed for both.

    python benchmarks/throughput.py [--epochs 4] [--repeats 3] [--extra]

``--extra`` adds bare ``fit`` variants that isolate single settings (steps per execution,
XLA, a cached ``tf.data`` pipeline).
"""

from __future__ import annotations

import argparse
from typing import Any

import _common as C

PARAMS = {
    "n_layers": 2,
    "units_0": 128,
    "units_1": 128,
    "dropout": 0.0,
    "activation": "relu",
    "learning_rate": 1e-3,
    "batch_size": 512,
    "optimizer": "adam",
}


def epoch_flops(layers: list[int], n_samples: int) -> float:
    """Matmul FLOPs of one training epoch of a dense net with these layer sizes."""
    macs = [a * b for a, b in zip(layers[:-1], layers[1:], strict=True)]
    per_sample = 2 * (3 * sum(macs) - macs[0])  # no input gradient for the first layer
    return float(per_sample * n_samples)


def make_timer(keras: Any, splits: Any, with_accuracy: bool) -> Any:
    import time

    import numpy as np

    class EpochTimer(keras.callbacks.Callback):
        """Seconds per epoch; with ``with_accuracy``, validation accuracy off the clock."""

        def __init__(self) -> None:
            super().__init__()
            self.seconds: list[float] = []
            self.accuracy: list[float] = []
            self._start = 0.0

        def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            self._start = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            self.seconds.append(time.perf_counter() - self._start)
            if with_accuracy:
                pred = np.asarray(self.model(splits.x_val, training=False))
                self.accuracy.append(float(np.mean(pred.argmax(axis=1) == splits.y_val)))
            elif logs and "val_accuracy" in logs:
                self.accuracy.append(float(logs["val_accuracy"]))

    return EpochTimer()


def bare_model(keras: Any, spec: Any, **compile_kwargs: Any) -> Any:
    """The same MLP written the way a Keras user would: Sequential, default compile."""
    model = keras.Sequential(
        [
            keras.Input(shape=(spec.n_features,)),
            keras.layers.Normalization(mean=spec.mean, variance=spec.variance),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dense(spec.n_classes, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        **compile_kwargs,
    )
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--epochs", type=int, default=4, help="epochs per run (the first pays for tracing)"
    )
    parser.add_argument("--repeats", type=int, default=3, help="runs of each variant, alternated")
    parser.add_argument(
        "--extra", action="store_true", help="also time bare fit with single settings changed"
    )
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    C.quiet_runtime()

    from tuner.ml.backend import load_keras

    keras = load_keras()
    import gc

    import numpy as np
    import tensorflow as tf

    from tuner.data.datasets import load_splits
    from tuner.ml.model import ModelSpec
    from tuner.ml.training import train

    config = C.fashion_mnist_config(max_epochs=args.epochs, patience=args.epochs + 1)
    splits = load_splits(config.data)
    spec = ModelSpec.from_splits(splits)
    n = len(splits.x_train)
    flops = epoch_flops([spec.n_features, 128, 128, spec.n_classes], n)
    batch = PARAMS["batch_size"]
    C.banner(
        "training throughput: one epoch, 784-128-128-10, batch 512",
        rows=n,
        epochs=args.epochs,
        repeats=args.repeats,
        tensorflow=tf.__version__,
        keras=keras.__version__,
    )

    timings: dict[str, list[list[float]]] = {}
    accuracy: dict[str, list[list[float]]] = {}

    def record(name: str, timer: Any) -> None:
        timings.setdefault(name, []).append(timer.seconds)
        accuracy.setdefault(name, []).append(timer.accuracy)

    def run_tuner(seed: int) -> None:
        timer = make_timer(keras, splits, with_accuracy=False)
        train(PARAMS, splits, config, seed=seed, callbacks=[timer], max_epochs=args.epochs)
        record("tuner", timer)
        keras.backend.clear_session()
        gc.collect()

    def run_fit(name: str, dataset: bool = False, **compile_kwargs: Any) -> Any:
        def run(seed: int) -> None:
            keras.utils.set_random_seed(seed)
            model = bare_model(keras, spec, **compile_kwargs)
            timer = make_timer(keras, splits, with_accuracy=True)
            if dataset:
                data = (
                    tf.data.Dataset.from_tensor_slices((splits.x_train, splits.y_train))
                    .cache()
                    .shuffle(n)
                    .batch(batch)
                    .prefetch(tf.data.AUTOTUNE)
                )
                model.fit(data, epochs=args.epochs, callbacks=[timer], verbose=0)
            else:
                model.fit(
                    splits.x_train,
                    splits.y_train,
                    batch_size=batch,
                    epochs=args.epochs,
                    callbacks=[timer],
                    verbose=0,
                )
            record(name, timer)
            keras.backend.clear_session()
            gc.collect()

        return run

    peaks: list[float] = []

    def run_sgemm(seed: int) -> None:
        peaks.append(C.sgemm_gflops())

    variants = {"tuner": run_tuner, "fit": run_fit("fit"), "sgemm": run_sgemm}
    if args.extra:
        variants["fit spe=32"] = run_fit("fit spe=32", steps_per_execution=32)
        variants["fit xla+spe=32"] = run_fit(
            "fit xla+spe=32", jit_compile=True, steps_per_execution=32
        )
        variants["fit tf.data"] = run_fit("fit tf.data", dataset=True)

    C.interleave(variants, args.repeats)

    peak = C.median(peaks)
    steady = {k: C.median(s for run in v for s in run[1:]) for k, v in timings.items()}
    first = {k: C.median(run[0] for run in v) for k, v in timings.items()}
    base = steady["fit"]
    print(f"   numpy sgemm 2048²: {peak:.1f} GFLOP/s (median of {len(peaks)})")
    print(f"   work per epoch: {flops / 1e9:.2f} GFLOP (matmuls)")
    rows = []
    for name in timings:
        gflops = flops / steady[name] / 1e9
        rows.append(
            [name, steady[name], first[name], gflops, 100 * gflops / peak, base / steady[name]]
        )
    C.table(
        [
            "path",
            "epoch s (median)",
            "first epoch s",
            "GFLOP/s",
            "% of sgemm peak",
            "speed-up vs fit",
        ],
        rows,
    )

    print("   validation accuracy per epoch (mean over repeats):")
    mean_acc = {k: np.mean(np.array(v), axis=0) for k, v in accuracy.items() if v and all(v)}
    acc_rows = []
    for e in range(args.epochs):
        acc_rows.append([e + 1, *(float(mean_acc[k][e]) for k in mean_acc)])
    C.table(["epoch", *mean_acc], acc_rows)
    diff = float(np.mean(mean_acc["tuner"] - mean_acc["fit"]))
    print(f"   load average now: {C.loadavg()}")

    speedup = base / steady["tuner"]
    share = flops / steady["tuner"] / 1e9 / peak
    C.goal(
        "speed-up >= 1.8x bare fit",
        speedup >= 1.8,
        f"{speedup:.2f}x; gap {max(0.0, 1.8 - speedup):.2f}x",
    )
    C.goal(
        ">= 60% of sgemm peak",
        share >= 0.6,
        f"{100 * share:.1f}%; gap {max(0.0, 60 - 100 * share):.1f} points",
    )
    C.goal(
        "accuracy per epoch unchanged",
        abs(diff) <= 0.005,
        f"mean difference tuner - fit {100 * diff:+.2f} points over {args.epochs} epochs",
    )
    C.write_json(
        args.json,
        {
            "load": C.loadavg(),
            "peak_gflops": peak,
            "steady": steady,
            "first": first,
            "accuracy": {k: v.tolist() for k, v in mean_acc.items()},
        },
    )


if __name__ == "__main__":
    main()
