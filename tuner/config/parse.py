"""Study files (TOML) → validated, frozen dataclasses.

A study file is validated once, up front, before anything touches the store. Every error
names the file, the table and the field, what was wrong and what is allowed.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tuner.config.choices import (
    ACTIVATIONS,
    DIRECTIONS,
    MAX_EPOCHS,
    MAX_FRACTION,
    MAX_HELD_OUT,
    MAX_PACK,
    MAX_SEED,
    MIN_SAMPLES,
    OPTIMIZERS,
    SIZE_OBJECTIVES,
    SPACE_LIMITS,
)
from tuner.config.recipe_fields import check_recipe_fields, parse_recipe_fields
from tuner.config.schema import (
    DataConfig,
    ObjectiveConfig,
    SearchConfig,
    SearchSpace,
    StudyConfig,
    TrainingConfig,
)
from tuner.config.start import parse_start
from tuner.config.table_fields import parse_table_fields
from tuner.config.toml_table import TomlTable
from tuner.data.datasets import DATASETS
from tuner.data.splits import FOLD_LIMITS, KFOLD_MODELS, VALIDATIONS
from tuner.data.tables import infer_table_task
from tuner.errors import ConfigError, StudyNotFoundError
from tuner.ml.backend import BACKENDS
from tuner.ml.metrics import METRICS, TASKS, default_metric, metrics_for_task
from tuner.ml.training import FUSED_CHOICES, MONITORS
from tuner.search.samplers import MULTI_OBJECTIVE_SAMPLERS, PRUNER_NAMES, SAMPLER_NAMES

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

#: Where built-in study files live: shipped inside the package, or ``studies/`` in a checkout.
_PACKAGED_STUDIES = Path(__file__).resolve().parent.parent / "_builtin_studies"
_CHECKOUT_STUDIES = Path(__file__).resolve().parents[2] / "studies"


def _dict_to_toml_shape(data: Mapping[str, Any]) -> dict[str, Any]:
    """Turn :meth:`StudyConfig.to_dict` output back into study-file shape."""
    space = {}
    for key, value in data["space"].items():
        space[key] = dict(value) if isinstance(value, Mapping) else list(value)
    search = {k: v for k, v in data["search"].items() if v is not None}
    return {
        "study": {"name": data["name"], "description": data.get("description", "")},
        "data": {k: v for k, v in data["data"].items() if v is not None and k != "task"},
        "objective": dict(data["objective"]),
        "space": space,
        "training": dict(data["training"]),
        "search": search,
    }


def config_from_dict(data: Mapping[str, Any]) -> StudyConfig:
    """Inverse of :meth:`StudyConfig.to_dict` (a config stored on a study)."""
    return parse_config(_dict_to_toml_shape(data), source="<stored study>")


def _pack(tr: TomlTable) -> int | None:
    """``[training] pack``: "auto" (None) or a number of trials trained at once."""
    value = tr.raw.get("pack", "auto")
    if value == "auto":
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_PACK:
        tr.fail(
            f'[training] pack must be "auto" or the number of trials trained at once, '
            f"1 to {MAX_PACK}; got {value!r}"
        )
    return int(value)


def with_overrides(config: StudyConfig, **overrides: Any) -> StudyConfig:
    """Apply command-line overrides; ``None`` values are ignored. Validated like the file."""
    search = {
        k: overrides[k]
        for k in ("trials", "timeout", "sampler", "pruner", "seed")
        if overrides.get(k) is not None
    }
    training = {
        k: overrides[k]
        for k in ("max_epochs", "patience", "backend", "pack")
        if overrides.get(k) is not None
    }
    data = config.to_dict()
    data["search"].update(search)
    data["training"].update(training)
    cfg = parse_config(_dict_to_toml_shape(data), source=config.source or "<overrides>")
    return dataclasses.replace(cfg, source=config.source)


# --------------------------------------------------------------------------- validation

_SECTIONS = ("study", "data", "objective", "space", "training", "search")


def parse_config(
    raw: Mapping[str, Any], source: str, default_name: str | None = None
) -> StudyConfig:
    """Validate a parsed study file and build a :class:`StudyConfig`."""
    top = TomlTable(raw, source, "top level", _SECTIONS)
    for section in _SECTIONS:
        if section in raw and not isinstance(raw[section], Mapping):
            top.fail(f"[{section}] must be a table")

    study = TomlTable(raw.get("study"), source, "study", ("name", "description"))
    name = study.string("name", default_name)
    if not name:
        study.fail('[study] name is missing; add name = "..."')
    description = study.string("description", "")

    data, data_t = _parse_data(raw, source)
    data, objective = _parse_objective(raw, source, data, data_t)
    space = _parse_space(raw, source)
    training = _parse_training(raw, source)
    check_recipe_fields(
        TomlTable(raw.get("space"), source, "space", _SPACE_FIELDS), space, objective, training
    )
    search = _parse_search(raw, source, objective.size_objective)
    if search.ensemble and data.validation == "kfold":
        top.fail(
            "[search] ensemble needs trials with models of their own, and a cross-validated "
            'trial stands for its folds; remove ensemble or set [data] validation = "holdout"'
        )
    if "start" in raw.get("search", {}):
        search = dataclasses.replace(
            search, start=parse_start(raw["search"]["start"], space, source)
        )
    return StudyConfig(
        name=name,
        description=description,
        data=data,
        objective=objective,
        space=space,
        training=training,
        search=search,
        source=source,
    )


def _parse_data(raw: Mapping[str, Any], source: str) -> tuple[DataConfig, TomlTable]:
    """``[data]``, and its reader (later checks that involve the objective fail through it)."""
    data_t = TomlTable(
        raw.get("data"),
        source,
        "data",
        [f.name for f in dataclasses.fields(DataConfig) if f.name != "task"],
    )
    dataset = data_t.string("dataset", None, choices=sorted(DATASETS))
    if dataset is None:
        data_t.fail(f"[data] dataset is missing; choose from: {', '.join(sorted(DATASETS))}")
    data = DataConfig(
        dataset=dataset,
        validation_fraction=data_t.number(
            "validation_fraction", 0.2, low=0.0, high=MAX_FRACTION, low_open=True
        ),
        test_fraction=data_t.number(
            "test_fraction", 0.2, low=0.0, high=MAX_FRACTION, low_open=True
        ),
        split_seed=data_t.number("split_seed", 0, kind=int, low=0),
        n_samples=data_t.number("n_samples", None, kind=int, low=MIN_SAMPLES, optional=True),
        **parse_table_fields(data_t, dataset, source),
        validation=data_t.string("validation", DataConfig.validation, choices=VALIDATIONS),
        folds=data_t.number(
            "folds", DataConfig.folds, kind=int, low=FOLD_LIMITS[0], high=FOLD_LIMITS[1]
        ),
        kfold_model=data_t.string("kfold_model", DataConfig.kfold_model, choices=KFOLD_MODELS),
    )
    for name in ("folds", "kfold_model"):
        if data.validation != "kfold" and data_t.has(name):
            data_t.fail(
                f'[data] {name} applies to cross-validation; set validation = "kfold" or remove '
                f"{name}"
            )
    if data.validation_fraction + data.test_fraction >= MAX_HELD_OUT:
        data_t.fail(
            f"validation_fraction + test_fraction must leave data to train on (< {MAX_HELD_OUT})"
        )
    return data, data_t


def _parse_objective(
    raw: Mapping[str, Any], source: str, data: DataConfig, data_t: TomlTable
) -> tuple[DataConfig, ObjectiveConfig]:
    """``[objective]``, checked against the dataset; ``data`` gains a CSV table's task."""
    dataset = data.dataset
    spec = DATASETS[dataset]
    obj_t = TomlTable(
        raw.get("objective"), source, "objective", ("task", "metric", "direction", "size_objective")
    )
    task = obj_t.string("task", spec.task, choices=TASKS)
    if spec.task is None:  # a CSV table: the task is inferred from the target unless given
        task = task or infer_table_task(data)
        data = dataclasses.replace(data, task=task)
    elif task != spec.task:
        obj_t.fail(
            f"[objective] task '{task}' does not fit dataset '{dataset}', which is {spec.task}; "
            f'set task = "{spec.task}"'
        )
    metric = obj_t.string("metric", default_metric(task), choices=sorted(METRICS))
    if metric not in metrics_for_task(task):
        obj_t.fail(
            f"[objective] metric '{metric}' does not fit a {task} task; choose from: "
            f"{', '.join(metrics_for_task(task))}"
        )
    if data.class_weight is not None and task == "regression":
        data_t.fail(
            "[data] class_weight applies to classification, and this study is a regression; "
            "remove class_weight"
        )
    size_objective = obj_t.string("size_objective", None, choices=SIZE_OBJECTIVES)
    natural = METRICS[metric].direction
    direction = obj_t.string("direction", natural, choices=DIRECTIONS)
    if direction != natural:
        obj_t.fail(
            f"[objective] direction '{direction}' is wrong for metric '{metric}', which is to "
            f'{natural}; remove direction or set it to "{natural}"'
        )
    return data, ObjectiveConfig(task, metric, direction, size_objective)


_SPACE_FIELDS = [f.name for f in dataclasses.fields(SearchSpace)]


def _parse_space(raw: Mapping[str, Any], source: str) -> SearchSpace:
    defaults = SearchSpace()
    sp = TomlTable(raw.get("space"), source, "space", _SPACE_FIELDS)
    return SearchSpace(
        n_layers=sp.range("n_layers", defaults.n_layers, kind=int, limits=SPACE_LIMITS["n_layers"]),
        units=sp.range("units", defaults.units, kind=int, limits=SPACE_LIMITS["units"]),
        dropout=sp.range("dropout", defaults.dropout, kind=float, limits=SPACE_LIMITS["dropout"]),
        activation=sp.choices("activation", defaults.activation, kind=str, allowed=ACTIVATIONS),
        learning_rate=sp.range(
            "learning_rate",
            defaults.learning_rate,
            kind=float,
            limits=SPACE_LIMITS["learning_rate"],
        ),
        batch_size=sp.choices("batch_size", defaults.batch_size, kind=int, low=1),
        optimizer=sp.choices("optimizer", defaults.optimizer, kind=str, allowed=OPTIMIZERS),
        **parse_recipe_fields(sp),
    )


def _parse_training(raw: Mapping[str, Any], source: str) -> TrainingConfig:
    tr = TomlTable(
        raw.get("training"),
        source,
        "training",
        [f.name for f in dataclasses.fields(TrainingConfig)],
    )
    training = TrainingConfig(
        max_epochs=tr.number(
            "max_epochs", TrainingConfig.max_epochs, kind=int, low=1, high=MAX_EPOCHS
        ),
        patience=tr.number("patience", TrainingConfig.patience, kind=int, low=1),
        reduce_lr_patience=tr.number(
            "reduce_lr_patience", TrainingConfig.reduce_lr_patience, kind=int, low=0
        ),
        reduce_lr_factor=tr.number("reduce_lr_factor", TrainingConfig.reduce_lr_factor, high=1.0),
        monitor=tr.string("monitor", TrainingConfig.monitor, choices=MONITORS),
        backend=tr.string("backend", None, choices=BACKENDS),
        fused=tr.string("fused", TrainingConfig.fused, choices=FUSED_CHOICES),
        pack=_pack(tr),
    )
    if training.reduce_lr_factor <= 0.0:
        tr.fail(
            "[training] reduce_lr_factor must be > 0 (the learning rate is multiplied by it), "
            f"got {training.reduce_lr_factor}; to turn the reduction off set "
            "reduce_lr_patience = 0"
        )
    if training.reduce_lr_factor == 1.0:
        tr.fail(
            "[training] reduce_lr_factor must be < 1 (the learning rate is multiplied by it); to "
            "turn the reduction off set reduce_lr_patience = 0"
        )
    return training


def _parse_search(raw: Mapping[str, Any], source: str, size_objective: str | None) -> SearchConfig:
    se = TomlTable(
        raw.get("search"), source, "search", [f.name for f in dataclasses.fields(SearchConfig)]
    )
    timeout = se.number("timeout", None, low=0.0, low_open=True, optional=True)
    pruner = se.string(
        "pruner", "none" if size_objective else SearchConfig.pruner, choices=PRUNER_NAMES
    )
    sampler = se.string("sampler", SearchConfig.sampler, choices=SAMPLER_NAMES)
    if size_objective and pruner != "none":
        se.fail(
            f"[search] pruner '{pruner}' cannot be used with [objective] size_objective: Optuna "
            'cannot prune two-objective trials; remove pruner or set pruner = "none"'
        )
    if size_objective and sampler not in MULTI_OBJECTIVE_SAMPLERS:
        se.fail(
            f"[search] sampler '{sampler}' cannot optimise two objectives ([objective] "
            f"size_objective); choose from: {', '.join(MULTI_OBJECTIVE_SAMPLERS)}"
        )
    return SearchConfig(
        trials=se.number("trials", SearchConfig.trials, kind=int, low=1),
        timeout=timeout,
        sampler=sampler,
        pruner=pruner,
        seed=se.number("seed", None, kind=int, low=0, high=MAX_SEED, optional=True),
        keep_models=se.number("keep_models", SearchConfig.keep_models, kind=int, low=0),
        ensemble=se.number("ensemble", SearchConfig.ensemble, kind=int, low=0),
    )


def load_config(path: str | os.PathLike[str]) -> StudyConfig:
    """Read and validate one study file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise StudyNotFoundError(f"study file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot be read ({exc})") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: malformed TOML: {exc}") from None
    return parse_config(raw, source=str(path), default_name=path.stem)


def study_dirs() -> list[Path]:
    """Folders searched for ``NAME.toml``, in order: ./studies, then the built-in ones."""
    dirs = [Path.cwd() / "studies"]
    for builtin in (_PACKAGED_STUDIES, _CHECKOUT_STUDIES):
        if builtin.is_dir() and builtin.resolve() not in [d.resolve() for d in dirs if d.exists()]:
            dirs.append(builtin)
    return dirs


def available_studies() -> list[str]:
    """Names of all study files that ``--study NAME`` can find."""
    names = {p.stem for d in study_dirs() if d.is_dir() for p in d.glob("*.toml")}
    return sorted(names)


def resolve_study(study: str | os.PathLike[str]) -> Path:
    """Find the study file for ``--study``: a path to a ``.toml`` file, or a study name."""
    text = str(study)
    if text.endswith(".toml") or os.sep in text or "/" in text:
        path = Path(text)
        if path.is_dir():
            files = sorted(p.name for p in path.glob("*.toml"))
            inside = f" (it holds: {', '.join(files[:8])})" if files else ""
            raise StudyNotFoundError(
                f"{text} is a folder{inside}; --study takes a study file (path/to/NAME.toml) or "
                "a study name"
            )
        if not path.is_file():
            raise StudyNotFoundError(f"study file {path} does not exist")
        return path
    for folder in study_dirs():
        candidate = folder / f"{text}.toml"
        if candidate.is_file():
            return candidate
    names = available_studies()
    hint = difflib.get_close_matches(text, names, n=1)
    extra = f" Did you mean '{hint[0]}'?" if hint else ""
    raise StudyNotFoundError(
        f"unknown study '{text}'.{extra} Available: {', '.join(names)} (or pass a path to a "
        ".toml file)"
    )
