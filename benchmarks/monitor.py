"""What early stopping should watch on small tables: the validation loss or the study metric.

For each table, split seed and configuration (drawn at random from the space, the same draws
for both variants), one model is trained with ``[training] monitor = "loss"`` and one with
``"metric"`` (holdout split, the same seed); each restores its best watched epoch. Reported per
variant: the mean test score of the restored model, the mean |validation - test| of that
model, and the mean epochs run. The study metric is accuracy; the learning-rate reduction
watches the same signal as early stopping.

    python benchmarks/monitor.py [--tables iris,wine,breast_cancer,digits300]
                                 [--seeds 3] [--configs 4]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics

import _common as C

TABLES = ("iris", "wine", "breast_cancer", "digits300")
STUDY = (
    """
[study]
name = "monitor"
[data]
{data}
split_seed = {seed}
[objective]
metric = "accuracy"
"""
    + C.SMALL_TABLE_SPACE
)


def one_table(
    table: str, seed: int, n_configs: int, epochs: int
) -> dict[str, list[dict[str, float]]]:
    import optuna

    from tuner.config.parse import parse_config
    from tuner.data.datasets import load_splits
    from tuner.ml import metrics
    from tuner.ml.training import predict, train
    from tuner.search.space import suggest_params

    try:
        import tomllib
    except ImportError:  # pragma: no cover
        import tomli as tomllib
    data = 'dataset = "digits"\nn_samples = 300' if table == "digits300" else f'dataset = "{table}"'
    config = parse_config(
        tomllib.loads(STUDY.format(data=data, seed=seed, epochs=epochs)), source="<monitor>"
    )
    splits = load_splits(config.data)
    sampler = optuna.samplers.RandomSampler(seed=seed)
    study = optuna.create_study(sampler=sampler)
    out: dict[str, list[dict[str, float]]] = {"loss": [], "metric": []}
    for i in range(n_configs):
        params = suggest_params(study.ask(), config.space)
        for monitor in out:
            cfg = dataclasses.replace(
                config, training=dataclasses.replace(config.training, monitor=monitor)
            )
            result = train(params, splits, cfg, seed=1000 * seed + i)
            test = metrics.compute(
                "accuracy", splits.y_test, predict(result.model, splits.x_test), splits.task
            )
            out[monitor].append(
                {
                    "val": result.best_value,
                    "test": test,
                    "gap": abs(result.best_value - test),
                    "epochs": result.epochs_run,
                }
            )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", default=",".join(TABLES))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--configs", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=60)
    args = parser.parse_args()
    C.quiet_runtime()
    tables = [t for t in args.tables.split(",") if t]
    C.banner(
        "early stopping on the validation loss vs the study metric",
        tables=",".join(tables),
        seeds=args.seeds,
        configs=args.configs,
        epochs=args.epochs,
    )
    rows = []
    totals: dict[str, list[float]] = {"loss": [], "metric": []}
    for table in tables:
        runs: dict[str, list[dict[str, float]]] = {"loss": [], "metric": []}
        for seed in range(args.seeds):
            for monitor, found in one_table(table, seed, args.configs, args.epochs).items():
                runs[monitor] += found
        m = {
            v: {k: statistics.fmean(r[k] for r in runs[v]) for k in ("test", "gap", "epochs")}
            for v in runs
        }
        for v in runs:
            totals[v] += [r["test"] for r in runs[v]]
        rows.append(
            [
                table,
                m["loss"]["test"],
                m["metric"]["test"],
                m["loss"]["gap"],
                m["metric"]["gap"],
                m["loss"]["epochs"],
                m["metric"]["epochs"],
            ]
        )
        print(f"   {table}: done; load {C.loadavg()}", flush=True)
    C.table(
        [
            "table",
            "test (loss)",
            "test (metric)",
            "|val-test| (loss)",
            "|val-test| (metric)",
            "epochs (loss)",
            "epochs (metric)",
        ],
        rows,
    )
    print(
        f"   mean test accuracy over all runs: loss {statistics.fmean(totals['loss']):.4f}, "
        f"metric {statistics.fmean(totals['metric']):.4f} ({len(totals['loss'])} runs each)"
    )


if __name__ == "__main__":
    main()
