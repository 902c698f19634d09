"""``tuner init`` itself: check the arguments, read the table, write a study file that loads."""

from __future__ import annotations

import os
import re
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

from tuner.data.tables import Table, load_table
from tuner.errors import ConfigError, DatasetError, DataWarning
from tuner.init_study.decisions import init_notes, objective_choice, small_classes
from tuner.init_study.study_text import render_study

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

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


def init_study(
    csv: str | os.PathLike[str],
    target: str,
    *,
    name: str | None = None,
    out: str | os.PathLike[str] | None = None,
    size_objective: bool = False,
) -> InitResult:
    """Inspect ``csv`` and write a study file predicting ``target``; returns what was decided.

    ``out`` defaults to ``studies/NAME.toml`` (NAME: the CSV's file name); it must not exist.
    ``size_objective`` writes a two-objective study (metric, parameter count).
    """
    csv = Path(csv)
    name = name if name is not None else _name_from(csv)
    if not _NAME.fullmatch(name):
        raise ConfigError(
            f"study name {name!r} must start with a letter or digit and hold only letters, "
            "digits, '_', '.' and '-'; pass --name"
        )
    path = Path(out) if out is not None else Path("studies") / f"{name}.toml"
    if path.suffix != ".toml":
        raise ConfigError(f"--out {path} must end in .toml")
    if path.exists():
        raise ConfigError(
            f"{path} already exists; tuner init never overwrites a study file — choose another "
            f"--name or --out, or delete {path}"
        )
    if not csv.is_file():
        raise DatasetError(
            f"CSV file {csv} {'is not a file' if csv.exists() else 'does not exist'}; check the "
            "--csv path"
        )
    table = load_table(csv, target)
    metric, class_weight, positive = objective_choice(table)
    text = render_study(
        table,
        name,
        csv_ref=_relative(csv, path.parent),
        metric=metric,
        class_weight=class_weight,
        positive_class=positive,
        size_objective=size_objective,
    )
    from tuner.config.parse import parse_config

    parse_config(
        tomllib.loads(text), source=str(path), default_name=name
    )  # what we write must load
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with path.open("x", encoding="utf-8") as fh:
            fh.write(text)
    except FileExistsError:
        raise ConfigError(
            f"{path} already exists; tuner init never overwrites a study file — choose another "
            f"--name or --out, or delete {path}"
        ) from None
    cautions = (*table.notes, *(warning for _, warning in small_classes(table)))
    for caution in cautions:
        warnings.warn(caution, DataWarning, stacklevel=2)
    return InitResult(
        path, name, table, metric, class_weight, tuple(init_notes(table, positive)), cautions
    )


def _name_from(csv: Path) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", csv.stem).strip("_.-") or "table"


def _relative(csv: Path, folder: Path) -> str:
    """The CSV's path as the study file should hold it: relative to the file's folder."""
    target, base = csv.resolve(), folder.resolve()
    try:
        return Path(os.path.relpath(target, base)).as_posix()
    except ValueError:  # another drive (Windows)
        return target.as_posix()


__all__ = ["InitResult", "init_study"]
