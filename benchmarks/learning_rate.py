"""Learning rate lowered on plateaus vs a constant one: the same model, the same seeds.

Trains one Fashion-MNIST MLP (784-512-512-10, ReLU, dropout 0.3, Adam 1e-3, batch 256) through
the tuner's training path with the ``fashion_mnist`` study's early stopping (patience 5, best
weights restored, up to 30 epochs), once with the study's ``ReduceLROnPlateau`` settings and
once with ``reduce_lr_patience = 0``, alternating, for each seed. Prints the best validation
accuracy, the test accuracy of that model, the epochs run and the seconds for each.

    python benchmarks/learning_rate.py [--seeds 1] [--epochs 30]
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

import _common as C

PARAMS = {
    "n_layers": 2,
    "units_0": 512,
    "units_1": 512,
    "dropout": 0.3,
    "activation": "relu",
    "learning_rate": 1e-3,
    "batch_size": 256,
    "optimizer": "adam",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=1, help="seeds 1..N, each trained both ways")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    C.quiet_runtime()

    import numpy as np

    from tuner.data.datasets import load_splits
    from tuner.ml.training import predict, train

    config = C.fashion_mnist_config(max_epochs=args.epochs)
    splits = load_splits(config.data)
    plateau = config.training
    if not plateau.reduce_lr_patience:
        raise SystemExit(
            "the fashion_mnist study does not lower the learning rate; nothing to compare"
        )
    constant = dataclasses.replace(plateau, reduce_lr_patience=0)
    C.banner(
        "learning rate lowered on plateaus vs constant",
        model="784-512-512-10",
        epochs=args.epochs,
        patience=plateau.patience,
        reduce_lr=f"x{plateau.reduce_lr_factor} after {plateau.reduce_lr_patience}",
        seeds=args.seeds,
    )

    def variant(training: Any) -> Any:
        def run(seed: int) -> dict[str, float]:
            result = train(
                PARAMS, splits, dataclasses.replace(config, training=training), seed=seed + 1
            )
            test = float(
                np.mean(predict(result.model, splits.x_test).argmax(axis=1) == splits.y_test)
            )
            row = {
                "val": result.best_value,
                "test": test,
                "epochs": result.epochs_run,
                "seconds": result.seconds,
            }
            print(
                f"   seed {seed + 1} {'plateau' if training.reduce_lr_patience else 'constant'}: "
                f"val {row['val']:.4f} test {test:.4f} ({row['epochs']} epochs, "
                f"{row['seconds']:.0f} s; load {C.loadavg()})",
                flush=True,
            )
            return row

        return run

    results = C.interleave({"plateau": variant(plateau), "constant": variant(constant)}, args.seeds)
    med = C.medians(results, ("val", "test", "epochs", "seconds"))
    C.table(
        ["learning rate", "best val (median)", "test of best (median)", "epochs", "seconds"],
        [[k, m["val"], m["test"], m["epochs"], m["seconds"]] for k, m in med.items()],
    )
    gain = 100 * (med["plateau"]["val"] - med["constant"]["val"])
    print(
        f"   validation gain {gain:+.2f} points, test gain "
        f"{100 * (med['plateau']['test'] - med['constant']['test']):+.2f} points, time ratio "
        f"{C.ratio(med['plateau']['seconds'], med['constant']['seconds']):.2f}x"
    )
    C.write_json(args.json, {"load": C.loadavg(), "runs": results})


if __name__ == "__main__":
    main()
