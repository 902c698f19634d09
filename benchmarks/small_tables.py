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

With ``--spaces plain,recipe`` each study also runs over the recipe space (the plain space plus
:data:`RECIPE_SPACE`'s fields, docs/recipe.md), side by side on the same rows: the variant
``holdout+recipe`` beside ``holdout``.

    python benchmarks/small_tables.py [--trials 15] [--seeds 5] [--tables iris,wine,...]
                                      [--validation holdout|kfold|holdout,kfold] [--quick]
                                      [--spaces plain|recipe|plain,recipe]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import statistics
import tempfile
from pathlib import Path
from typing import Any

import _common as C

#: ``--spaces recipe``: the recipe fields added to the plain space (SMALL_TABLE_SPACE).
RECIPE_SPACE = """weight_decay = [0.0, 0.05]
label_smoothing = [0.0, 0.2]
normalization = ["none", "batch", "layer"]
schedule = ["plateau", "cosine"]
numeric_encoding = ["standard", "robust", "periodic"]
heads = [1, 8]
"""
SPACES = ("plain", "recipe")
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

    validation, _, space = validation.partition("+")
    name = f"{table}-{validation}-{space or 'plain'}-{seed}"
    path = tmp / f"{name}.toml"
    text = STUDY.format(
        name=name,
        data=data_lines(table, seed, validation, csv),
        metric=METRIC,
        epochs=args.epochs,
        trials=args.trials,
        seed=seed,
    )
    if space == "recipe":
        text = text.replace("\n[training]", f"\n{RECIPE_SPACE}\n[training]", 1)
    path.write_text(text)
    config = load_config(path)
    url = f"sqlite:///{tmp / f'{name}.db'}"
    with C.stopwatch() as elapsed:
        tuner.run_study(config, storage=url, splits=load_splits(config.data))
        # Under k-fold the recorded value is a mean over folds, which no single model reproduces.
        tolerance = {"tolerance": 1.0} if validation == "kfold" else {}
        report = tuner.build_report(path, storage=url, out=tmp / f"report-{name}", **tolerance)
    test = float(report.test_metrics[METRIC])
    one = {
        "val": float(report.recorded_value),
        "test": test,
        "gap": abs(float(report.recorded_value) - test),
        "seconds": elapsed(),
    }
    if validation == "kfold":
        one.update(fold_exports(config, url))
    return one


def fold_exports(config: Any, url: str) -> dict[str, float]:
    """The chosen k-fold trial's two candidate exports scored on the test rows: the refit on
    every non-test row (what the report exports) and the average of its fold models (each
    trained again on its fold from its fold seed, early stopping on its fold's validation rows).
    """
    import numpy as np
    import optuna

    from tuner import keys
    from tuner.data.datasets import load_splits
    from tuner.ml.training import predict
    from tuner.report.evaluation import evaluate
    from tuner.search.cv import cross_validate, refit

    splits = load_splits(config.data)
    trial = optuna.load_study(study_name=config.name, storage=url).best_trial
    params, seed = dict(trial.params), int(trial.user_attrs[keys.TRIAL_SEED])
    threshold = trial.user_attrs.get(keys.THRESHOLD)
    outputs: list[np.ndarray] = []
    result = cross_validate(
        None,
        params,
        splits,
        config,
        seed=seed,
        prune=False,
        on_fold=lambda r: outputs.append(predict(r.model, splits.x_test)),
    )
    whole = refit(params, splits, config, seed=seed, mean_best_epoch=result.mean_best_epoch)

    def score(out: np.ndarray) -> float:
        found = evaluate(splits.y_test, out, splits.task, splits.class_names, threshold)
        return float(found["metrics"][METRIC])

    return {
        "refit_test": score(predict(whole.model, splits.x_test)),
        "average_test": score(np.mean(outputs, axis=0)),
        "cv_reproduced": abs(result.mean - float(trial.value)),
    }


def holdout_splits(table: str, seed: int, tmp: Path, csv: Path) -> Any:
    """The holdout study's splits of ``table`` at ``seed`` (the baselines' rows)."""
    from tuner.config.parse import load_config
    from tuner.data.datasets import load_splits

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
    return load_splits(load_config(path).data)


def baseline_scores(table: str, seed: int, tmp: Path, csv: Path) -> dict[str, float]:
    """The two baselines' test scores on the holdout study's splits (the same cached rows),
    and the number of test rows."""
    from tuner.report.baselines import fit_baselines

    splits = holdout_splits(table, seed, tmp, csv)
    linear, boosting = fit_baselines(splits, METRIC, seed=seed)
    return {"linear": linear.value, "boosting": boosting.value, "test_rows": len(splits.y_test)}


def noise_floor(scores: list[float], rows: list[float]) -> float:
    """The mean |validation - test| that the test split's own sampling noise alone gives.

    A test accuracy ``p`` measured on ``n`` rows has standard error ``sqrt(p (1 - p) / n)``;
    even a validation estimate equal to the true accuracy differs from it by
    ``sqrt(2 / pi)`` times that on average (the mean of a normal's absolute value).
    """
    return mean(
        [
            math.sqrt(2 / math.pi) * math.sqrt(p * (1 - p) / n)
            for p, n in zip(scores, rows, strict=True)
        ]
    )


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
    parser.add_argument(
        "--spaces",
        default="plain",
        help="plain, recipe, or plain,recipe to compare them side by side (default plain)",
    )
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument(
        "--from",
        dest="source",
        help=(
            "print the tables of earlier runs' --json files again (comma-separated: their "
            "tables together), training nothing"
        ),
    )
    args = parser.parse_args()
    if args.quick:
        args.tables, args.seeds, args.trials, args.epochs = ",".join(QUICK_TABLES), 2, 5, 30
    args.tables = [t.strip() for t in (args.tables or ",".join(TABLES)).split(",") if t.strip()]
    args.validation = [v.strip() for v in args.validation.split(",") if v.strip()]
    args.spaces = [v.strip() for v in args.spaces.split(",") if v.strip()]
    for space in args.spaces:
        if space not in SPACES:
            parser.error(f"unknown --spaces '{space}'; choose from: {', '.join(SPACES)}")
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
    if args.source:
        reprint(args)
        return
    validations = list(args.validation)
    if "kfold" in validations and not kfold_available():
        print(
            "   k-fold not available: this version's study file has no [data] validation; the "
            "k-fold variant is skipped"
        )
        validations.remove("kfold")
    # each space a variant of each validation: "holdout" (plain), "holdout+recipe", …
    validations = [
        v if space == "plain" else f"{v}+{space}" for v in validations for space in args.spaces
    ]
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
                    for key in ("test", "gap", "refit_test", "average_test"):
                        if key in one:
                            figures.setdefault(f"{validation}_{key}", []).append(one[key])
                    exports = (
                        f"; refit {one['refit_test']:.4f}, fold average {one['average_test']:.4f} "
                        f"(folds again: |cv - recorded| {one['cv_reproduced']:.2g})"
                        if "average_test" in one
                        else ""
                    )
                    print(
                        (
                            f"   {table} seed {seed} {validation}: validation {one['val']:.4f}, "
                            f"test {one['test']:.4f} ({one['seconds']:.0f} s){exports}; "
                            f"load {C.loadavg()}"
                        ),
                        flush=True,
                    )
                base = baseline_scores(table, seed, tmp, csv)
                for key, value in base.items():
                    figures.setdefault(key, []).append(value)
                print(
                    (
                        f"   {table} seed {seed} baselines ({base['test_rows']} test rows): "
                        f"linear {base['linear']:.4f}, boosting {base['boosting']:.4f}"
                    ),
                    flush=True,
                )
            rows[table] = figures
    report(rows, validations, args)


def reprint(args: argparse.Namespace) -> None:
    """The tables of a saved run; runs saved before test rows were recorded get them again
    from their splits (loading data only)."""
    runs = [json.loads(Path(f).read_text()) for f in args.source.split(",")]
    saved = runs[0]
    for other in runs[1:]:
        for key in ("seeds", "trials", "validations"):
            if other[key] != saved[key]:
                raise SystemExit(f"--from: the runs differ in {key}: {saved[key]} and {other[key]}")
    args.seeds, args.trials, args.json = saved["seeds"], saved["trials"], None
    rows = {t: f for run in runs for t, f in run["tables"].items()}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        csv = generated_table(tmp / "generated.csv")
        for table, figures in rows.items():
            if "test_rows" not in figures:
                figures["test_rows"] = [
                    len(holdout_splits(table, seed, tmp, csv).y_test) for seed in range(args.seeds)
                ]
    C.banner(
        "small tables, again from saved runs",
        source=args.source,
        load_then=" / ".join(r["load"] for r in runs),
    )
    report(rows, saved["validations"], args)


def report(
    rows: dict[str, dict[str, list[float]]], validations: list[str], args: argparse.Namespace
) -> None:
    """The per-table table and the goal lines."""
    main_variant = validations[0] if validations else None
    headers = ["table"]
    for v in validations:
        headers += [f"tuner test ({v})", f"|val-test| ({v})"]
    headers += ["test noise floor", "linear test", "boosting test", "tuner - best baseline"]
    means: dict[str, dict[str, float]] = {
        t: {k: mean(v) for k, v in f.items()} for t, f in rows.items()
    }
    floors = {
        t: noise_floor(f[f"{main_variant}_test"], f["test_rows"]) if main_variant else math.nan
        for t, f in rows.items()
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
                floors[table],
                m["linear"],
                m["boosting"],
                m[f"{main_variant}_test"] - best if main_variant else float("nan"),
            ]
        )
    print(f"   means over {args.seeds} split seeds ({METRIC}); load average now: {C.loadavg()}")
    C.table(headers, table_rows)
    if all("kfold_average_test" in m for m in means.values()):
        print(
            "   the k-fold study's export, scored on the test rows: refit vs fold models averaged"
        )
        C.table(
            ["table", "refit test", "fold average test", "average - refit"],
            [
                [
                    t,
                    m["kfold_refit_test"],
                    m["kfold_average_test"],
                    m["kfold_average_test"] - m["kfold_refit_test"],
                ]
                for t, m in means.items()
            ],
        )
        refit_mean = mean([m["kfold_refit_test"] for m in means.values()])
        average_mean = mean([m["kfold_average_test"] for m in means.values()])
        print(
            f"   mean over tables: refit {refit_mean:.4f}, fold average {average_mean:.4f} "
            f"({(average_mean - refit_mean) * 100:+.2f} points)"
        )
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
                f"{C.ratio(kfold, holdout):.2f}; goal <= {GOAL_KFOLD_RATIO}; the test split's "
                f"own noise alone gives {mean(list(floors.values())):.4f}"
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
