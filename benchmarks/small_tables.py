"""Small tables: the tuned MLP's test score against scikit-learn baselines on the same rows.

For each table and split seed: a study over the table (TPE, Hyperband, ``--trials`` trials) run
with :func:`tuner.run_study` into a fresh SQLite store; its report (:func:`tuner.build_report`)
gives the chosen model's validation and test scores; logistic regression and gradient boosting
(:func:`tuner.report.baselines.fit_baselines`) are fitted on the same train + validation rows
and scored on the same test rows, with the same metric (accuracy). Tables: scikit-learn's
iris, wine and breast_cancer, a 300-row stratified sample of digits, and 300-row samples of one
generated table (``make_classification``, with one feature written as a text category and
some missing values), each split seed drawing a different sample.

Goals: k-fold validation halves holdout's mean |validation - test| (needs ``--validation
holdout,kfold`` and a study file that accepts ``[data] validation``); the tuner's mean test
score >= the linear model's on every table; on average within 1 point of the better baseline.

    python benchmarks/small_tables.py [--trials 15] [--seeds 5] [--tables iris,wine,...]
                                      [--validation holdout|kfold|holdout,kfold] [--quick]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import tempfile
from pathlib import Path
from typing import Any

import _common as C

TABLES = ("iris", "wine", "breast_cancer", "digits300", "generated300")
QUICK_TABLES = ("iris", "generated300")
VALIDATIONS = ("holdout", "kfold")
METRIC = "accuracy"
GOAL_KFOLD_RATIO = 0.5
GOAL_POINTS = 0.01  # one point of accuracy

STUDY = (
    """
[study]
name = "{name}"

[data]
{data}

[objective]
metric = "{metric}"
"""
    + C.SMALL_TABLE_SPACE
    + """
[search]
trials = {trials}
sampler = "tpe"
pruner = "hyperband"
seed = {seed}
"""
)


def generated_table(path: Path, rows: int = 3000, seed: int = 0) -> Path:
    """A ``make_classification`` table: 8 features (4 informative), one as a text band, gaps."""
    import numpy as np
    import pandas as pd
    from sklearn.datasets import make_classification

    x, y = make_classification(
        n_samples=rows,
        n_features=8,
        n_informative=4,
        n_redundant=2,
        n_classes=2,
        flip_y=0.03,
        class_sep=0.8,
        random_state=seed,
    )
    frame = pd.DataFrame(x.round(4), columns=[f"x{i}" for i in range(8)])
    band = pd.qcut(
        frame.pop("x0"), 5, labels=["very low", "low", "mid", "high", "very high"]
    ).astype(object)
    rng = np.random.default_rng(seed)
    frame.insert(0, "band", band.where(rng.random(rows) >= 0.03, None))
    frame["x3"] = frame["x3"].where(rng.random(rows) >= 0.05, np.nan)
    frame["label"] = np.where(y == 1, "yes", "no")
    frame.to_csv(path, index=False)
    return path


def data_lines(table: str, seed: int, validation: str, csv: Path) -> str:
    """The ``[data]`` table of one study."""
    if table == "digits300":
        lines = 'dataset = "digits"\nn_samples = 300'
    elif table == "generated300":
        lines = (
            f'dataset = "csv"\npath = "{csv}"\ntarget = "label"\ncategorical = '
            '["band"]\nn_samples = 300'
        )
    else:
        lines = f'dataset = "{table}"'
    lines += f"\nsplit_seed = {seed}"
    if validation != "holdout":
        lines += f'\nvalidation = "{validation}"'
    return lines


def kfold_available() -> bool:
    """Whether a study file accepts ``[data] validation`` (k-fold cross-validation)."""
    from tuner.config.schema import DataConfig

    return "validation" in {f.name for f in dataclasses.fields(DataConfig)}


def run_one(
    table: str, seed: int, validation: str, args: argparse.Namespace, tmp: Path, csv: Path
) -> dict[str, float]:
    """One study and its report; the chosen model's validation and test scores."""
    import tuner
    from tuner.config.parse import load_config
    from tuner.data.datasets import load_splits

    name = f"{table}-{validation}-{seed}"
    path = tmp / f"{name}.toml"
    path.write_text(
        STUDY.format(
            name=name,
            data=data_lines(table, seed, validation, csv),
            metric=METRIC,
            epochs=args.epochs,
            trials=args.trials,
            seed=seed,
        )
    )
    config = load_config(path)
    url = f"sqlite:///{tmp / f'{name}.db'}"
    with C.stopwatch() as elapsed:
        tuner.run_study(config, storage=url, splits=load_splits(config.data))
        # Under k-fold the recorded value is a mean over folds, which no single model reproduces.
        tolerance = {"tolerance": 1.0} if validation == "kfold" else {}
        report = tuner.build_report(path, storage=url, out=tmp / f"report-{name}", **tolerance)
    test = float(report.test_metrics[METRIC])
    return {
        "val": float(report.recorded_value),
        "test": test,
        "gap": abs(float(report.recorded_value) - test),
        "seconds": elapsed(),
    }


def baseline_scores(table: str, seed: int, tmp: Path, csv: Path) -> dict[str, float]:
    """The two baselines' test scores on the holdout study's splits (the same cached rows)."""
    from tuner.config.parse import load_config
    from tuner.data.datasets import load_splits
    from tuner.report.baselines import fit_baselines

    path = tmp / f"{table}-baselines-{seed}.toml"
    path.write_text(
        STUDY.format(
            name=path.stem,
            data=data_lines(table, seed, "holdout", csv),
            metric=METRIC,
            epochs=1,
            trials=1,
            seed=seed,
        )
    )
    linear, boosting = fit_baselines(load_splits(load_config(path).data), METRIC, seed=seed)
    return {"linear": linear.value, "boosting": boosting.value}


def mean(values: list[float]) -> float:
    return statistics.fmean(values) if values else float("nan")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--tables", help=f"comma-separated, from: {', '.join(TABLES)} (default: all)"
    )
    parser.add_argument(
        "--seeds", type=int, default=5, help="split seeds 0..N-1 per table (default 5)"
    )
    parser.add_argument("--trials", type=int, default=15, help="trials per study (default 15)")
    parser.add_argument("--epochs", type=int, default=60, help="max epochs per trial (default 60)")
    parser.add_argument(
        "--validation",
        default="holdout",
        help="holdout, kfold, or holdout,kfold to compare them (default holdout)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"{', '.join(QUICK_TABLES)}; 2 seeds, 5 trials, 30 epochs",
    )
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    if args.quick:
        args.tables, args.seeds, args.trials, args.epochs = ",".join(QUICK_TABLES), 2, 5, 30
    args.tables = [t.strip() for t in (args.tables or ",".join(TABLES)).split(",") if t.strip()]
    args.validation = [v.strip() for v in args.validation.split(",") if v.strip()]
    for table in args.tables:
        if table not in TABLES:
            parser.error(f"unknown table '{table}'; choose from: {', '.join(TABLES)}")
    for validation in args.validation:
        if validation not in VALIDATIONS:
            parser.error(
                f"unknown --validation '{validation}'; choose from: {', '.join(VALIDATIONS)}"
            )
    return args


def main() -> None:
    args = parse_args()
    C.quiet_runtime()
    validations = list(args.validation)
    if "kfold" in validations and not kfold_available():
        print(
            "   k-fold not available: this version's study file has no [data] validation; the "
            "k-fold variant is skipped"
        )
        validations.remove("kfold")
    C.banner(
        "small tables: tuned MLP vs scikit-learn baselines, same rows, test scores",
        tables=",".join(args.tables),
        seeds=args.seeds,
        trials=args.trials,
        epochs=args.epochs,
        validation=",".join(validations) or "-",
        metric=METRIC,
    )
    rows: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        csv = generated_table(tmp / "generated.csv")
        for table in args.tables:
            figures: dict[str, list[float]] = {}
            for seed in range(args.seeds):
                for validation in validations:
                    one = run_one(table, seed, validation, args, tmp, csv)
                    for key in ("test", "gap"):
                        figures.setdefault(f"{validation}_{key}", []).append(one[key])
                    print(
                        (
                            f"   {table} seed {seed} {validation}: validation {one['val']:.4f}, "
                            f"test {one['test']:.4f} ({one['seconds']:.0f} s); load {C.loadavg()}"
                        ),
                        flush=True,
                    )
                base = baseline_scores(table, seed, tmp, csv)
                for key, value in base.items():
                    figures.setdefault(key, []).append(value)
                print(
                    (
                        f"   {table} seed {seed} baselines: linear {base['linear']:.4f}, boosting "
                        f"{base['boosting']:.4f}"
                    ),
                    flush=True,
                )
            rows[table] = figures
    report(rows, validations, args)


def report(
    rows: dict[str, dict[str, list[float]]], validations: list[str], args: argparse.Namespace
) -> None:
    """The per-table table and the goal lines."""
    main_variant = validations[0] if validations else None
    headers = ["table"]
    for v in validations:
        headers += [f"tuner test ({v})", f"|val-test| ({v})"]
    headers += ["linear test", "boosting test", "tuner - best baseline"]
    means: dict[str, dict[str, float]] = {
        t: {k: mean(v) for k, v in f.items()} for t, f in rows.items()
    }
    table_rows = []
    for table, m in means.items():
        best = max(m["linear"], m["boosting"])
        row: list[Any] = [table]
        for v in validations:
            row += [m[f"{v}_test"], m[f"{v}_gap"]]
        table_rows.append(
            [
                *row,
                m["linear"],
                m["boosting"],
                m[f"{main_variant}_test"] - best if main_variant else float("nan"),
            ]
        )
    print(f"   means over {args.seeds} split seeds ({METRIC}); load average now: {C.loadavg()}")
    C.table(headers, table_rows)
    if "holdout" in validations and "kfold" in validations:
        holdout, kfold = (
            mean([m["holdout_gap"] for m in means.values()]),
            mean([m["kfold_gap"] for m in means.values()]),
        )
        C.goal(
            "k-fold halves holdout's mean |val - test|",
            kfold <= GOAL_KFOLD_RATIO * holdout,
            (
                f"k-fold {kfold:.4f} vs holdout {holdout:.4f}, ratio "
                f"{C.ratio(kfold, holdout):.2f}; goal <= {GOAL_KFOLD_RATIO}"
            ),
        )
    else:
        print(
            "   goal k-fold halves holdout's mean |val - test|: NOT MEASURED (needs --validation "
            "holdout,kfold and k-fold support)"
        )
    C.write_json(
        args.json,
        {
            "load": C.loadavg(),
            "validations": validations,
            "trials": args.trials,
            "seeds": args.seeds,
            "tables": rows,
        },
    )
    if main_variant is None:
        return
    behind = {t: m[f"{main_variant}_test"] - m["linear"] for t, m in means.items()}
    worst = min(behind, key=behind.get)
    C.goal(
        "tuner >= linear on every table",
        all(d >= 0 for d in behind.values()),
        f"worst {worst}: {behind[worst]:+.4f}",
    )
    gap = mean(
        [m[f"{main_variant}_test"] - max(m["linear"], m["boosting"]) for m in means.values()]
    )
    C.goal(
        "within 1 point of the better baseline on average",
        gap >= -GOAL_POINTS,
        f"tuner - better baseline {gap * 100:+.2f} points; goal >= {-GOAL_POINTS * 100:.0f}",
    )


if __name__ == "__main__":
    main()
