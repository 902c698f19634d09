"""``tuner init``: inspect a CSV table and write a ready, commented study file for it.

The file lists every column's decision (numeric, categorical or ignored, and why), the task
inferred from the target, a metric and class weights that suit the target's balance, and
search ranges scaled to the number of rows. It is validated before it is written, and an
existing file is never overwritten.
"""

from __future__ import annotations

import json
import os
import re
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tuner.config.schema import TrainingConfig
from tuner.data.tables import Table, load_table
from tuner.errors import ConfigError, DatasetError, DataWarning
from tuner.formatting import format_number

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

#: A binary target whose minority class is rarer than this is "imbalanced": PR-AUC, class weights.
IMBALANCED_SHARE = 0.2
#: A multiclass target whose smallest class is below this fraction of the largest is imbalanced.
IMBALANCED_RATIO = 0.5
#: A class with fewer rows than this is too small to validate or test on (a warning says so).
MIN_CLASS_ROWS = 20
#: The split fractions the written study file uses.
VALIDATION_FRACTION = 0.2
TEST_FRACTION = 0.2
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


@dataclass(frozen=True)
class InitResult:
    """What ``tuner init`` wrote and decided."""

    path: Path
    name: str
    table: Table
    metric: str
    class_weight: str | None
    notes: tuple[str, ...]
    #: Decisions the user should check (columns ignored, classes too small), also issued as
    #: :class:`~tuner.errors.DataWarning`.
    warnings: tuple[str, ...] = ()

    @property
    def counts(self) -> dict[str, int]:
        """Columns by kind: numeric, categorical, ignore."""
        out = {"numeric": 0, "categorical": 0, "ignore": 0}
        for column in self.table.columns:
            out[column.kind] += 1
        return out


def init_study(csv: str | os.PathLike[str], target: str, *, name: str | None = None, out: str | os.PathLike[str] | None = None, size_objective: bool = False) -> InitResult:
    """Inspect ``csv`` and write a study file predicting ``target``; returns what was decided.

    ``out`` defaults to ``studies/NAME.toml`` (NAME: the CSV's file name); it must not exist.
    ``size_objective`` writes a two-objective study (metric, parameter count).
    """
    csv = Path(csv)
    name = name if name is not None else _name_from(csv)
    if not _NAME.fullmatch(name):
        raise ConfigError(f"study name {name!r} must start with a letter or digit and hold only letters, digits, '_', '.' and '-'; pass --name")
    path = Path(out) if out is not None else Path("studies") / f"{name}.toml"
    if path.suffix != ".toml":
        raise ConfigError(f"--out {path} must end in .toml")
    if path.exists():
        raise ConfigError(f"{path} already exists; tuner init never overwrites a study file — choose another --name or --out, or delete {path}")
    if not csv.is_file():
        raise DatasetError(f"CSV file {csv} {'is not a file' if csv.exists() else 'does not exist'}; check the --csv path")
    table = load_table(csv, target)
    metric, class_weight, positive = _objective_choice(table)
    text = render_study(table, name, csv_ref=_relative(csv, path.parent), metric=metric, class_weight=class_weight, positive_class=positive, size_objective=size_objective)
    from tuner.config.parse import parse_config

    parse_config(tomllib.loads(text), source=str(path), default_name=name)  # what we write must load
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with path.open("x", encoding="utf-8") as fh:
            fh.write(text)
    except FileExistsError:
        raise ConfigError(f"{path} already exists; tuner init never overwrites a study file — choose another --name or --out, or delete {path}") from None
    cautions = (*table.notes, *(warning for _, warning in _small_classes(table)))
    for caution in cautions:
        warnings.warn(caution, DataWarning, stacklevel=2)
    return InitResult(path, name, table, metric, class_weight, tuple(_notes(table, positive)), cautions)


def _name_from(csv: Path) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", csv.stem).strip("_.-") or "table"


def _relative(csv: Path, folder: Path) -> str:
    """The CSV's path as the study file should hold it: relative to the file's folder."""
    target, base = csv.resolve(), folder.resolve()
    try:
        return Path(os.path.relpath(target, base)).as_posix()
    except ValueError:  # another drive (Windows)
        return target.as_posix()


def _objective_choice(table: Table) -> tuple[str, str | None, str | None]:
    """(metric, class_weight, positive class) suited to the target's balance."""
    counts = np.array(table.class_counts())
    if table.task == "regression":
        return "rmse", None, None
    if table.task == "binary":
        minority = int(counts.argmin())
        if counts.min() / counts.sum() < IMBALANCED_SHARE:
            return "pr_auc", "balanced", table.class_names[minority]
        return "roc_auc", None, table.class_names[1]
    if counts.min() / counts.max() < IMBALANCED_RATIO:
        return "balanced_accuracy", "balanced", None
    return "accuracy", None, None


def _small_classes(table: Table) -> list[tuple[str, str]]:
    """(class, warning) for each class with fewer than :data:`MIN_CLASS_ROWS` rows."""
    out = []
    for name, count in zip(table.class_names, table.class_counts(), strict=True):
        if count < MIN_CLASS_ROWS:
            held = f"about {round(count * VALIDATION_FRACTION)} in the validation split and {round(count * TEST_FRACTION)} in the test split"
            out.append((name, f"class '{name}' of target '{table.target}' has only {_rows(count)} ({held}): too few to validate or test on; collect more rows of it, or merge it with a similar class"))
    return out


def _rows(n: int) -> str:
    return f"{n:,} row{'s' if n != 1 else ''}"


def _share(count: int, total: int) -> str:
    """``count`` as a percentage of ``total``, with enough digits that a small share is not "0.0 %"."""
    if total <= 0 or count <= 0:
        return "0 %"
    if count >= total:
        return "100 %"
    percent = 100 * count / total
    if percent < 0.1:
        return "< 0.1 %"
    if percent > 99.9:
        return "> 99.9 %"
    return f"{percent:.1f} %"


def _notes(table: Table, positive: str | None) -> list[str]:
    notes = []
    small = {name for name, _ in _small_classes(table)}
    if positive is not None and positive not in small:  # a small class has its own warning
        count = table.class_counts()[table.class_names.index(positive)]
        in_val = round(count * VALIDATION_FRACTION)
        if in_val < 10:
            notes.append(f"only about {in_val} rows of class '{positive}' will be in the validation split; validation metrics will be noisy (more rows, or a larger validation_fraction, help)")
    return notes


# --------------------------------------------------------------------------- the file


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
#: Below it a 20 % validation split holds under 400 rows, on which one split's score moves
#: by several points from one split seed to the next, so selecting trials on it is mostly
#: noise; five folds use every non-test row for validation, at five models per trial, which
#: for tables this small costs seconds. See README, "Cross-validation".
KFOLD_BELOW_ROWS = 2_000


def _validation_lines(n_rows: int) -> list[str]:
    """``[data] validation = "kfold"`` for a small table (:data:`KFOLD_BELOW_ROWS`), else nothing."""
    if n_rows >= KFOLD_BELOW_ROWS:
        return []
    return [f'validation = "kfold"  # {n_rows:,} rows: 5 folds of the non-test rows select trials; one small validation split would be noise']


def _column_comment(table: Table, name: str) -> str:
    info = next(c for c in table.columns if c.name == name)
    missing = f"{info.n_missing:,} missing ({_share(info.n_missing, table.n_rows)})" if info.n_missing else ""
    if info.kind == "numeric":
        values = table.arrays[name]
        low, high = np.nanmin(values), np.nanmax(values)
        text = f"{format_number(low, digits=6, fixed_range=None)} to {format_number(high, digits=6, fixed_range=None)}"
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
    parts = [f"{name} ({count:,}, {_share(count, table.n_rows)})" for name, count in zip(table.class_names, counts, strict=True)]
    shown = ", ".join(parts[:6]) + (", …" if len(parts) > 6 else "")
    return f"{table.task}: {shown}"


def _small_class_comment(table: Table) -> list[str]:
    """Comment lines above ``target`` naming the classes too small to validate or test on."""
    small = _small_classes(table)
    if not small:
        return []
    counts = dict(zip(table.class_names, table.class_counts(), strict=True))
    listed = ", ".join(f"{_q(name)} ({_rows(counts[name])})" for name, _ in small)
    return [
        f"# Classes with fewer than {MIN_CLASS_ROWS} rows: {listed}. About {100 * VALIDATION_FRACTION:.0f} % of a class's rows",
        f"# land in the validation split and {100 * TEST_FRACTION:.0f} % in the test split: too few to validate or test on.",
        "# Collect more rows of them, or merge each with a similar class.",
    ]


_METRIC_WHY = {
    "pr_auc": "a rare positive class: average precision says more than accuracy",
    "roc_auc": "balanced classes: area under the ROC curve",
    "balanced_accuracy": "unequal classes: the mean recall over classes",
    "accuracy": "balanced classes",
    "rmse": "root mean squared error, in the target's units",
}


def render_study(table: Table, name: str, *, csv_ref: str, metric: str, class_weight: str | None, positive_class: str | None, size_objective: bool = False) -> str:
    """The text of a study file for ``table`` (see :func:`init_study`)."""
    scale = _scale(table.n_rows)
    units_low, units_high = scale["units"]  # type: ignore[misc]
    data = [
        "[data]",
        'dataset = "csv"',
        f"path = {_q(csv_ref)}  # relative to this file's folder",
        *_small_class_comment(table),
        f"target = {_q(table.target)}  # {_target_comment(table)}",
    ]
    if positive_class is not None:
        data.append(f"positive_class = {_q(positive_class)}  # the class whose probability the model outputs (PR curve, threshold)")
    if class_weight is not None:
        data.append(f"class_weight = {_q(class_weight)}  # rarer classes weigh more in the loss")
    data += [
        f"validation_fraction = {VALIDATION_FRACTION}  # rows that select trials (stratified for classes)",
        f"test_fraction = {TEST_FRACTION}  # rows held out for the report",
        "split_seed = 0",
        *_validation_lines(table.n_rows),
        'missing_indicator = true  # numeric columns with gaps also get a 0/1 "was missing" input',
        _column_list(table, "numeric"),
        _column_list(table, "categorical"),
        _column_list(table, "ignore"),
    ]
    objective = [
        "[objective]",
        f"task = {_q(table.task)}  # inferred from the target column",
        f"metric = {_q(metric)}  # {_METRIC_WHY[metric]}",
    ]
    if size_objective:
        objective.append('size_objective = "n_params"  # also minimise the parameter count: a Pareto front of metric vs size')
    else:
        objective += [
            '# size_objective = "n_params"  # uncomment to also minimise the parameter count (a Pareto front of',
            '#                              # metric vs size), and set [search] pruner = "none": such trials cannot be pruned',
        ]
    lines = [
        f"# Study for {csv_ref}: {table.n_rows:,} rows, {len(table.columns) + 1} columns.",
        "# Column kinds, the task and the ranges below were inferred from the data: review them, then",
        f"#     tuner run --study {name}",
        "",
        "[study]",
        f"name = {_q(name)}",
        f"description = {_q(f'{table.task} prediction of {table.target} from {Path(csv_ref).name}')}",
        "",
        *data,
        "",
        *objective,
        "",
        "[space]",
        "n_layers = [1, 3]",
        f"units = {{ low = {units_low}, high = {units_high}, log = true }}  # one width per hidden layer",
        "dropout = [0.0, 0.5]",
        'activation = ["relu", "elu", "gelu", "tanh"]',
        "learning_rate = { low = 1e-4, high = 1e-2, log = true }",
        f"batch_size = {json.dumps(scale['batch'])}",
        'optimizer = ["adam", "adamw", "rmsprop"]',
        "",
        "[training]",
        f"max_epochs = {scale['epochs']}",
        f"patience = {scale['patience']}  # early stopping on the validation metric",
        f"reduce_lr_patience = {TrainingConfig.reduce_lr_patience}  # learning rate x reduce_lr_factor after this many epochs without improvement (0: off)",
        f"reduce_lr_factor = {TrainingConfig.reduce_lr_factor}",
        'monitor = "auto"  # what both watch: the validation loss below 1,000 validation rows (a flat metric is a poor signal there), else the metric',
        "",
        "[search]",
        "trials = 40",
        'sampler = "tpe"',
        f"pruner = {_q('none' if size_objective else 'hyperband')}",
        "seed = 0",
        "",
    ]
    return "\n".join(lines)


__all__ = ["InitResult", "init_study", "render_study"]
