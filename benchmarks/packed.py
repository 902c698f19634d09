"""Packed trials: model-epochs per second, then trials per hour of a whole study.

Part 1, the engine: one epoch of K MLPs 784-W-W-10 on Fashion-MNIST rows, trained at once by
:class:`tuner.ml.packed.PackedTrainer` (K = 1, 4, 8, ...), against the same network trained
alone through tuner's JAX training path (:mod:`tuner.ml.fused`, one compiled program an
epoch). Model-epochs/s = K / seconds per epoch; the first epoch (compilation) is left out.

Part 2, the study: the ``fashion_mnist`` study (its space, sampler seed and pruner; fewer rows,
epochs and trials, so that it fits a small machine) run by ``tuner run`` with ``--pack K`` for
several K, with ``--pack 1`` (one trial at a time through the same training path), and with
``--workers W --pack 1``, each in a fresh store, the variants alternating over ``--repeats``
rounds (medians reported). Trials per hour count the study's finished
trials over the time from the first trial's start to the last one's end (process start-up and
data loading left out); the best validation accuracy is the study's.

Both parts run on JAX (``KERAS_BACKEND=jax``), on whatever device JAX finds.

    python benchmarks/packed.py [--quick] [--rows N] [--packs 1,4,8] [--widths 128,512]
                                [--batch 128] [--epochs 3] [--study-trials 24]
                                [--study-epochs 6] [--workers 2] [--repeats 1] [--skip-study]
                                [--json PATH]
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

HERE = Path(__file__).resolve().parent


def _params(width: int, batch: int, lr: float = 1e-3) -> dict[str, Any]:
    return {
        "n_layers": 2,
        "units_0": width,
        "units_1": width,
        "dropout": 0.1,
        "activation": "relu",
        "learning_rate": lr,
        "batch_size": batch,
        "optimizer": "adam",
    }


def engine_child(args: argparse.Namespace) -> dict[str, Any]:
    """Seconds per steady epoch: the fused path alone, and packs of each K (this process: JAX)."""
    import dataclasses

    from tuner.ml.backend import use_backend

    use_backend("jax")
    C.quiet_runtime()
    import jax

    from tuner.config.schema import SearchSpace
    from tuner.data.datasets import load_splits
    from tuner.ml.model import ModelSpec
    from tuner.ml.packed import PackedTrainer, PackShape
    from tuner.ml.training import train

    config = C.fashion_mnist_config(max_epochs=args.epochs, patience=args.epochs + 1)
    splits = load_splits(config.data)
    rows = min(args.rows, len(splits.x_train))
    splits = C.first_rows(splits, rows)
    spec = ModelSpec.from_splits(splits)
    out: dict[str, Any] = {"device": str(jax.devices()[0]), "rows": rows, "times": {}}
    for width in args.widths:
        key = f"{width}-{width}/{args.batch}"
        times: dict[str, list[float]] = {}
        fused_config = dataclasses.replace(
            config, training=dataclasses.replace(config.training, fused="on")
        )
        timer = C.epoch_timer()
        train(
            _params(width, args.batch),
            splits,
            fused_config,
            seed=0,
            callbacks=[timer],
            max_epochs=args.epochs,
            fixed_epochs=True,
        )
        times["alone"] = timer.seconds
        space = dataclasses.replace(
            SearchSpace(),
            units=dataclasses.replace(SearchSpace().units, low=width, high=width),
            n_layers=dataclasses.replace(SearchSpace().n_layers, low=2, high=2),
            batch_size=(args.batch,),
            activation=("relu",),
            optimizer=("adam",),
        )
        for k in args.packs:
            trainer = PackedTrainer(
                PackShape.for_space(space, k),
                spec,
                splits.x_train,
                splits.y_train,
                splits.x_val,
                seed=0,
            )
            for slot in range(k):
                trainer.assign(slot, _params(width, args.batch, lr=1e-3 * (1 + slot % 3)), slot)
            seconds = []
            for _ in range(args.epochs):
                started = time.perf_counter()
                trainer.run_epoch()
                trainer.predict_val()  # what a packed study scores every epoch
                seconds.append(time.perf_counter() - started)
            times[f"pack {k}"] = seconds
        out["times"][key] = times
    return out


def engine(args: argparse.Namespace) -> dict[str, Any]:
    env = {**os.environ, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "3"}
    cmd = [sys.executable, __file__, "--engine-child", *sys.argv[1:]]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"engine child failed:\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    rows = []
    for key, times in result["times"].items():
        alone = C.median(times["alone"][1:])
        for variant, seconds in times.items():
            steady = C.median(seconds[1:])
            k = 1 if variant == "alone" else int(variant.split()[1])
            rows.append(
                [key, variant, seconds[0], steady, k / steady, C.ratio(alone / 1, steady / k)]
            )
    print(f"   device: {result['device']}, {result['rows']} training rows")
    C.table(
        ["net/batch", "variant", "first epoch s", "epoch s", "model-epochs/s", "vs alone"], rows
    )
    return result


def study(args: argparse.Namespace) -> dict[str, Any]:
    variants = {f"--pack {k}": ["--pack", str(k)] for k in args.packs}
    variants[f"--workers {args.workers} --pack 1"] = [
        "--workers",
        str(args.workers),
        "--pack",
        "1",
    ]

    def runner(name: str, extra: list[str]) -> Any:
        def run(round_: int) -> dict[str, Any]:
            with tempfile.TemporaryDirectory() as tmp:
                folder = Path(tmp)
                path = C.small_fashion_study(folder, args.rows, args.study_epochs)
                result = C.run_fashion_study(folder, path, args.study_trials, extra, "jax")
            print(f"   round {round_} {name}: {result}", flush=True)
            return result

        return run

    runs = C.interleave({n: runner(n, e) for n, e in variants.items()}, args.repeats)
    return C.study_table(runs, "--pack 1", "variant")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4,096 rows, K = 1, 4; 8 trials")
    parser.add_argument("--rows", type=int, help="Fashion-MNIST rows [default 12,000]")
    parser.add_argument("--packs", help="comma-separated K [default 1,4,8]")
    parser.add_argument("--widths", help="comma-separated hidden widths [default 128,512]")
    parser.add_argument("--batch", type=int, default=128, help="batch size [default 128]")
    parser.add_argument("--epochs", type=int, default=3, help="engine epochs [default 3]")
    parser.add_argument("--study-trials", type=int, help="trials per study run [default 24]")
    parser.add_argument("--study-epochs", type=int, default=6, help="max epochs per trial")
    parser.add_argument("--workers", type=int, default=2, help="unpacked workers [default 2]")
    parser.add_argument(
        "--repeats", type=int, default=1, help="study rounds, variants alternating [default 1]"
    )
    parser.add_argument("--skip-study", action="store_true", help="part 1 only")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--engine-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.rows = args.rows or (4096 if args.quick else 12_000)
    args.packs = [int(k) for k in (args.packs or ("1,4" if args.quick else "1,4,8")).split(",")]
    args.widths = [int(w) for w in (args.widths or ("128" if args.quick else "128,512")).split(",")]
    args.study_trials = args.study_trials or (8 if args.quick else 24)
    if args.engine_child:
        print(json.dumps(engine_child(args)))
        return
    C.banner(
        "Packed trials",
        rows=args.rows,
        packs=args.packs,
        widths=args.widths,
        batch=args.batch,
        study_trials=args.study_trials,
    )
    figures = {"engine": engine(args)}
    if not args.skip_study:
        figures["study"] = study(args)
    print(f"   load average now: {C.loadavg()}")
    C.write_json(args.json, {"load": C.loadavg(), **figures})


if __name__ == "__main__":
    main()
