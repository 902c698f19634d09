"""Keras backends side by side: epoch time and GFLOP/s of MLPs on Fashion-MNIST, per backend.

For every installed backend (TensorFlow, JAX, PyTorch) and every MLP 784-{128,512}-{128,512}-10
at batch 128 and 512, two training paths:

- ``fit``: bare ``model.fit`` with Keras' defaults (a Sequential model, no validation);
- ``tuner``: tuner's training path (:func:`tuner.ml.training.train`) through ``model.fit``
  (``[training] fused = "off"``), which also scores the validation split after every epoch;
- ``fused`` (JAX only): the same, each epoch one compiled program (:mod:`tuner.ml.fused`),
  what a JAX study trains with by default.

Keras fixes its backend once per process, so each backend runs in a child process; the children
alternate (one per backend each round, the order rotated every round), in one run. An epoch's
time runs from ``on_epoch_begin`` to ``on_epoch_end``; the first epoch also pays for tracing
or compiling the training step and is reported apart. GFLOP/s counts the matmul work of an
epoch (see ``throughput.py``). Ratios: ``tuner`` against ``fit`` on the same backend, and each
path against the same path on TensorFlow.

With ``--study-trials N`` it then runs the ``fashion_mnist`` study (``--study-rows`` rows, at
most ``--study-epochs`` epochs, its space, sampler seed and pruner) N trials on each backend,
each in a fresh process and store, and compares trials per hour and the best validation value.

    python benchmarks/backends.py [--quick] [--rows N] [--epochs 3] [--repeats 2]
                                  [--backends tensorflow,jax] [--nets quick|all] [--json PATH]
                                  [--study-trials 24] [--study-rows 12000] [--study-epochs 6]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
from typing import Any

import _common as C
from throughput import epoch_flops

BACKENDS = ("tensorflow", "jax", "torch")
WIDTHS = ((128, 128), (128, 512), (512, 128), (512, 512))
BATCHES = (128, 512)


def _params(widths: tuple[int, int], batch: int) -> dict[str, Any]:
    return {
        "n_layers": 2,
        "units_0": widths[0],
        "units_1": widths[1],
        "dropout": 0.0,
        "activation": "relu",
        "learning_rate": 1e-3,
        "batch_size": batch,
        "optimizer": "adam",
    }


def _paths(backend: str) -> tuple[str, ...]:
    """The training paths timed on ``backend``: the fused epoch exists on JAX only."""
    return ("fit", "tuner", "fused") if backend == "jax" else ("fit", "tuner")


def child(
    backend: str, rows: int, epochs: int, configs: list[tuple[tuple[int, int], int]], seed: int
) -> dict[str, Any]:
    """Time both paths for every config on ``backend`` (this process's only backend)."""
    import dataclasses
    import gc

    from tuner.ml.backend import use_backend

    use_backend(backend)
    C.quiet_runtime()
    from tuner.data.datasets import load_splits
    from tuner.ml.backend import load_keras
    from tuner.ml.model import ModelSpec
    from tuner.ml.training import train

    keras = load_keras()
    config = C.fashion_mnist_config(max_epochs=epochs, patience=epochs + 1)
    splits = load_splits(config.data)
    splits = C.first_rows(splits, rows)
    spec = ModelSpec.from_splits(splits)

    out: dict[str, Any] = {"rows": len(splits.x_train), "keras": keras.__version__, "times": {}}
    for widths, batch in configs:
        key = f"{widths[0]}-{widths[1]}/{batch}"
        keras.utils.set_random_seed(seed)
        model = keras.Sequential(
            [
                keras.Input(shape=(spec.n_features,)),
                keras.layers.Normalization(mean=spec.mean, variance=spec.variance),
                keras.layers.Dense(widths[0], activation="relu"),
                keras.layers.Dense(widths[1], activation="relu"),
                keras.layers.Dense(spec.n_classes, activation="softmax"),
            ]
        )
        model.compile(
            optimizer=keras.optimizers.Adam(1e-3),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
        fit_timer = C.epoch_timer()
        model.fit(
            splits.x_train,
            splits.y_train,
            batch_size=batch,
            epochs=epochs,
            callbacks=[fit_timer],
            verbose=0,
        )
        out["times"][key] = {"fit": fit_timer.seconds}
        for path in _paths(backend)[1:]:
            timer = C.epoch_timer()
            fused = "on" if path == "fused" else "off"
            train(
                _params(widths, batch),
                splits,
                dataclasses.replace(
                    config, training=dataclasses.replace(config.training, fused=fused)
                ),
                seed=seed,
                callbacks=[timer],
                max_epochs=epochs,
            )
            out["times"][key][path] = timer.seconds
        keras.backend.clear_session()
        gc.collect()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a smoke run: 4,096 rows, 2 epochs, 1 round, the 128-128 and 512-512 nets",
    )
    parser.add_argument(
        "--rows", type=int, default=None, help="training rows [default: all 48,000; --quick: 4,096]"
    )
    parser.add_argument(
        "--epochs",
        type=int,
        default=None,
        help="epochs per run, the first pays for compiling [default: 3; --quick: 2]",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="rounds, each running every backend once [default: 2; --quick: 1]",
    )
    parser.add_argument(
        "--backends", help="comma-separated backends to compare [default: every installed one]"
    )
    parser.add_argument(
        "--nets",
        choices=("quick", "all"),
        help="the nets to time [default: all; --quick: the 128-128 and 512-512 nets]",
    )
    parser.add_argument(
        "--study-trials",
        type=int,
        default=0,
        help="also run the fashion_mnist study (fewer rows and epochs) this many trials on each "
        "backend and compare trials per hour [default: 0, skipped]",
    )
    parser.add_argument("--study-rows", type=int, default=12_000, help="its rows [12,000]")
    parser.add_argument("--study-epochs", type=int, default=6, help="its max epochs [6]")
    parser.add_argument("--study-repeats", type=int, default=1, help="its rounds [1]")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    rows = args.rows or (4096 if args.quick else 48_000)
    epochs = args.epochs or (2 if args.quick else 3)
    repeats = args.repeats or (1 if args.quick else 2)
    widths = (
        [(128, 128), (512, 512)]
        if (args.nets or ("quick" if args.quick else "all")) == "quick"
        else list(WIDTHS)
    )
    configs = [(w, b) for w in widths for b in BATCHES]
    if args.child:
        seed = int(os.environ.get("BENCH_SEED", "0"))
        print(json.dumps(child(args.child, rows, epochs, configs, seed)))
        return

    wanted = args.backends.split(",") if args.backends else BACKENDS
    backends = [b for b in BACKENDS if b in wanted and importlib.util.find_spec(b) is not None]
    C.banner(
        "Keras backends: epoch time, fit vs tuner",
        rows=rows,
        epochs=epochs,
        repeats=repeats,
        backends=",".join(backends),
    )
    runs: dict[str, list[dict[str, Any]]] = {b: [] for b in backends}

    def run_child(backend: str) -> Any:
        def run(seed: int) -> dict[str, Any]:
            env = {
                **os.environ,
                "KERAS_BACKEND": backend,
                "BENCH_SEED": str(seed),
                "TF_CPP_MIN_LOG_LEVEL": "3",
            }
            cmd = [
                sys.executable,
                __file__,
                "--child",
                backend,
                "--rows",
                str(rows),
                "--epochs",
                str(epochs),
                "--nets",
                "quick" if len(widths) == 2 else "all",
            ]
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
            if proc.returncode != 0:
                raise SystemExit(f"{backend} child failed:\n{proc.stderr[-2000:]}")
            result = json.loads(proc.stdout.strip().splitlines()[-1])
            runs[backend].append(result)
            return result

        return run

    C.interleave({b: run_child(b) for b in backends}, repeats)
    n = runs[backends[0]][0]["rows"]
    table, figures = [], {}
    for widths_, batch in configs:
        key = f"{widths_[0]}-{widths_[1]}/{batch}"
        flops = epoch_flops([784, *widths_, 10], n)
        steady = {}
        for b in backends:
            for path in _paths(b):
                epochs_s = [run["times"][key][path] for run in runs[b]]
                steady[b, path] = C.median(s for e in epochs_s for s in e[1:])
                first = C.median(e[0] for e in epochs_s)
                figures[f"{key} {b} {path}"] = {"epoch_s": steady[b, path], "first_epoch_s": first}
                base = steady.get(
                    ("tensorflow", "tuner" if path == "fused" else path), float("nan")
                )
                table.append(
                    [
                        key,
                        b,
                        path,
                        first,
                        steady[b, path],
                        flops / steady[b, path] / 1e9,
                        C.ratio(steady[b, "fit"], steady[b, path]),
                        C.ratio(base, steady[b, path]),
                    ]
                )
    C.table(
        [
            "net/batch",
            "backend",
            "path",
            "first epoch s",
            "epoch s",
            "GFLOP/s",
            "speed-up vs fit",
            "speed-up vs TF",
        ],
        table,
    )
    studies = study_rates(args, backends) if args.study_trials else {}
    print(f"   load average now: {C.loadavg()}")
    C.write_json(
        args.json, {"load": C.loadavg(), "rows": n, "figures": figures, "studies": studies}
    )


def study_rates(args: argparse.Namespace, backends: list[str]) -> dict[str, Any]:
    """Trials per hour and best value of the same small fashion_mnist study on each backend."""
    import tempfile
    from pathlib import Path

    def runner(backend: str) -> Any:
        def run(round_: int) -> dict[str, Any]:
            with tempfile.TemporaryDirectory() as tmp:
                folder = Path(tmp)
                path = C.small_fashion_study(folder, args.study_rows, args.study_epochs)
                result = C.run_fashion_study(folder, path, args.study_trials, [], backend)
            print(f"   round {round_} {backend}: {result}", flush=True)
            return result

        return run

    runs = C.interleave({b: runner(b) for b in backends}, args.study_repeats)
    return C.study_table(runs, "tensorflow", "backend")


if __name__ == "__main__":
    main()
