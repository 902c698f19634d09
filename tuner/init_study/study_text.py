"""The text of the study file ``tuner init`` writes: every decision commented."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from tuner.config.schema import TrainingConfig
from tuner.data.csv_file import rows_text
from tuner.data.tables import Table
from tuner.formatting import format_number
from tuner.init_study.decisions import (
    MIN_CLASS_ROWS,
    TEST_FRACTION,
    VALIDATION_FRACTION,
    share,
    small_classes,
)


def _q(text: str) -> str:
    """A TOML basic string."""
    return json.dumps(text, ensure_ascii=False)


def _scale(n_rows: int) -> dict[str, object]:
    """Search ranges and training length that suit a table of ``n_rows`` rows."""
    if n_rows < 1_000:
        return {"units": (4, 64), "batch": [16, 32, 64], "epochs": 100, "patience": 10}
    if n_rows < 20_000:
        return {"units": (8, 128), "batch": [32, 64, 128], "epochs": 60, "patience": 8}
    return {"units": (16, 256), "batch": [64, 128, 256, 512], "epochs": 30, "patience": 5}


#: Tables with fewer rows than this are cross-validated ([data] validation = "kfold", 5 folds).
#: Below it a 20 % validation split holds under 400 rows. Measured (README, "Cross-validation"):
#: on tables of 150-570 rows five folds cut the mean |validation - test| from 0.035 to 0.024;
#: on digits (1,797 rows, 360 validation rows) from 0.004 to 0.001, with test accuracy 0.970
#: against 0.963, for about 3x the time. Five models per trial cost seconds at this size.
KFOLD_BELOW_ROWS = 2_000


def _validation_lines(n_rows: int) -> list[str]:
    """``[data] validation = "kfold"`` for a small table (:data:`KFOLD_BELOW_ROWS`), else
    nothing."""
    if n_rows >= KFOLD_BELOW_ROWS:
        return []
    return [
        (
            f'validation = "kfold"  # {n_rows:,} rows: 5 folds of the non-test rows select '
            "trials; one small validation split would be noise"
        )
    ]


def _column_comment(table: Table, name: str) -> str:
    info = next(c for c in table.columns if c.name == name)
    missing = (
        f"{info.n_missing:,} missing ({share(info.n_missing, table.n_rows)})"
        if info.n_missing
        else ""
    )
    if info.kind == "numeric":
        values = table.arrays[name]
        low, high = np.nanmin(values), np.nanmax(values)
        text = (
            f"{format_number(low, digits=6, fixed_range=None)} to "
            f"{format_number(high, digits=6, fixed_range=None)}"
        )
        return f"{text}; {missing}: filled with the training mean" if missing else text
    if info.kind == "categorical":
        shown = ", ".join(info.top_values[:4]) + (", …" if info.n_distinct > 4 else "")
        text = f"{info.n_distinct} value{'s' if info.n_distinct != 1 else ''}: {shown}"
        return f"{text}; {missing}: the unknown-value slot" if missing else text
    return info.reason


def _column_list(table: Table, kind: str) -> str:
    names = [c.name for c in table.columns if c.kind == kind]
    if not names:
        return f"{kind} = []"
    width = max(len(_q(n)) for n in names) + 1
    lines = [f"    {(_q(n) + ',').ljust(width)}  # {_column_comment(table, n)}" for n in names]
    return "\n".join([f"{kind} = [", *lines, "]"])


def _target_comment(table: Table) -> str:
    if table.task == "regression":
        return f"regression over {table.n_rows:,} rows"
    counts = table.class_counts()
    parts = [
        f"{name} ({count:,}, {share(count, table.n_rows)})"
        for name, count in zip(table.class_names, counts, strict=True)
    ]
    shown = ", ".join(parts[:6]) + (", …" if len(parts) > 6 else "")
    return f"{table.task}: {shown}"


def _small_class_comment(table: Table) -> list[str]:
    """Comment lines above ``target`` naming the classes too small to validate or test on."""
    small = small_classes(table)
    if not small:
        return []
    counts = dict(zip(table.class_names, table.class_counts(), strict=True))
    listed = ", ".join(f"{_q(name)} ({rows_text(counts[name])})" for name, _ in small)
    return [
        (
            f"# Classes with fewer than {MIN_CLASS_ROWS} rows: {listed}. About "
            f"{100 * VALIDATION_FRACTION:.0f} % of a class's rows"
        ),
        (
            f"# land in the validation split and {100 * TEST_FRACTION:.0f} % in the test split: "
            "too few to validate or test on."
        ),
        "# Collect more rows of them, or merge each with a similar class.",
    ]


_METRIC_WHY = {
    "pr_auc": "a rare positive class: average precision says more than accuracy",
    "roc_auc": "balanced classes: area under the ROC curve",
    "balanced_accuracy": "unequal classes: the mean recall over classes",
    "accuracy": "balanced classes",
    "rmse": "root mean squared error, in the target's units",
}


def render_study(
    table: Table,
    name: str,
    *,
    csv_ref: str,
    metric: str,
    class_weight: str | None,
    positive_class: str | None,
    size_objective: bool = False,
) -> str:
    """The text of a study file for ``table`` (see :func:`~tuner.init_study.init_study`)."""
    lines = [
        f"# Study for {csv_ref}: {table.n_rows:,} rows, {len(table.columns) + 1} columns.",
        (
            "# Column kinds, the task and the ranges below were inferred from the data: review "
            "them, then"
        ),
        f"#     tuner run --study {name}",
        "",
        "[study]",
        f"name = {_q(name)}",
        "description = "
        f"{_q(f'{table.task} prediction of {table.target} from {Path(csv_ref).name}')}",
        "",
        *_data_lines(table, csv_ref, class_weight, positive_class),
        "",
        *_objective_lines(table, metric, size_objective),
        "",
        *_search_lines(table.n_rows, size_objective, classify=table.task != "regression"),
    ]
    return "\n".join(lines)


def _data_lines(
    table: Table, csv_ref: str, class_weight: str | None, positive_class: str | None
) -> list[str]:
    """The ``[data]`` table: the file, the target, the splits and every column's kind."""
    data = [
        "[data]",
        'dataset = "csv"',
        f"path = {_q(csv_ref)}  # relative to this file's folder",
        *_small_class_comment(table),
        f"target = {_q(table.target)}  # {_target_comment(table)}",
    ]
    if positive_class is not None:
        data.append(
            f"positive_class = {_q(positive_class)}  # the class whose probability the model "
            "outputs (PR curve, threshold)"
        )
    if class_weight is not None:
        data.append(f"class_weight = {_q(class_weight)}  # rarer classes weigh more in the loss")
    data += [
        (
            f"validation_fraction = {VALIDATION_FRACTION}  # rows that select trials (stratified "
            "for classes)"
        ),
        f"test_fraction = {TEST_FRACTION}  # rows held out for the report",
        "split_seed = 0",
        *_validation_lines(table.n_rows),
        'missing_indicator = true  # numeric columns with gaps also get a 0/1 "was missing" input',
        _column_list(table, "numeric"),
        _column_list(table, "categorical"),
        _column_list(table, "ignore"),
    ]
    return data


def _objective_lines(table: Table, metric: str, size_objective: bool) -> list[str]:
    """The ``[objective]`` table: the task, the metric and (maybe) the size objective."""
    objective = [
        "[objective]",
        f"task = {_q(table.task)}  # inferred from the target column",
        f"metric = {_q(metric)}  # {_METRIC_WHY[metric]}",
    ]
    if size_objective:
        objective.append(
            'size_objective = "n_params"  # also minimise the parameter count: a Pareto front of '
            "metric vs size"
        )
    else:
        objective += [
            (
                '# size_objective = "n_params"  # uncomment to also minimise the parameter count '
                "(a Pareto front of"
            ),
            (
                "#                              # metric vs size), and set [search] pruner = "
                '"none": such trials cannot be pruned'
            ),
        ]
    return objective


#: Tables with fewer rows than this also search the training recipe (docs/recipe.md): measured
#: side by side on small tables (benchmarks/small_tables.py --spaces plain,recipe; 150-570 rows),
#: it was ahead of the plain space on average; larger tables were not measured.
RECIPE_BELOW_ROWS = 20_000


def _recipe_lines(n_rows: int, classify: bool) -> list[str]:
    """The recipe fields of ``[space]`` for a table of ``n_rows`` rows (none for large ones)."""
    if n_rows >= RECIPE_BELOW_ROWS:
        return [
            "# the training recipe (weight_decay, normalization, heads, …): see docs/recipe.md",
        ]
    return [
        "# the training recipe (docs/recipe.md); remove a line to keep the plain network's",
        "weight_decay = [0.0, 0.05]  # decoupled, as AdamW",
        *(["label_smoothing = [0.0, 0.2]"] if classify else []),
        'normalization = ["none", "batch", "layer"]',
        'schedule = ["plateau", "cosine"]  # cosine: decays over max_epochs after a warm-up',
        'numeric_encoding = ["standard", "robust", "periodic"]',
        "heads = [1, 8]  # ensemble members sharing the hidden weights, averaged",
    ]


def _search_lines(n_rows: int, size_objective: bool, *, classify: bool = True) -> list[str]:
    """The ``[space]``, ``[training]`` and ``[search]`` tables, scaled to ``n_rows``."""
    scale = _scale(n_rows)
    units_low, units_high = scale["units"]  # type: ignore[misc]
    return [
        "[space]",
        "n_layers = [1, 3]",
        (
            f"units = {{ low = {units_low}, high = {units_high}, log = true }}  # one width per "
            "hidden layer"
        ),
        "dropout = [0.0, 0.5]",
        'activation = ["relu", "elu", "gelu", "tanh"]',
        "learning_rate = { low = 1e-4, high = 1e-2, log = true }",
        f"batch_size = {json.dumps(scale['batch'])}",
        'optimizer = ["adam", "adamw", "rmsprop"]',
        *_recipe_lines(n_rows, classify),
        "",
        "[training]",
        f"max_epochs = {scale['epochs']}",
        f"patience = {scale['patience']}  # early stopping on the validation metric",
        (
            f"reduce_lr_patience = {TrainingConfig.reduce_lr_patience}  # learning rate x "
            "reduce_lr_factor after this many epochs without improvement (0: off)"
        ),
        f"reduce_lr_factor = {TrainingConfig.reduce_lr_factor}",
        (
            'monitor = "auto"  # what both watch: the validation loss below 1,000 validation rows '
            "(a flat metric is a poor signal there), else the metric"
        ),
        "",
        "[search]",
        "trials = 40",
        'sampler = "tpe"',
        f"pruner = {_q('none' if size_objective else 'hyperband')}",
        "seed = 0",
        "",
    ]


__all__ = ["KFOLD_BELOW_ROWS", "render_study"]
