"""The ``[data]`` fields of a study file that describe a CSV table, and ``class_weight``.

Read by :func:`tuner.config.parse.parse_config` into :class:`~tuner.config.schema.DataConfig`
keywords; the table itself is read by :mod:`tuner.data.tables`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tuner.data.tables import CSV_DATASET

#: Fields of ``[data]`` that only a CSV study uses.
TABLE_FIELDS = (
    "path",
    "target",
    "numeric",
    "categorical",
    "ignore",
    "missing_indicator",
    "positive_class",
)


def parse_table_fields(table: Any, dataset: str, source: str) -> dict[str, Any]:
    """Read the CSV fields of a ``[data]`` table (a ``config._Table``) into DataConfig keywords."""
    given = [k for k in TABLE_FIELDS if table.has(k)]
    out: dict[str, Any] = {"class_weight": _class_weight_field(table)}
    if dataset != CSV_DATASET:
        if given:
            table.fail(f'[data] {given[0]} only applies to dataset = "{CSV_DATASET}"; remove it')
        return out
    for key, what in (
        ("path", 'path = "table.csv" (relative to the study file\'s folder)'),
        ("target", 'target = "column to predict"'),
    ):
        if table.string(key, None) in (None, ""):
            table.fail(f'[data] {key} is missing; dataset = "{CSV_DATASET}" needs {what}')
    out["path"] = resolve_csv_path(table.raw["path"], source)
    out["target"] = table.raw["target"]
    seen: dict[str, str] = {}
    for kind in ("numeric", "categorical", "ignore"):
        names = _string_list(table, kind)
        for name in names:
            if name == out["target"]:
                table.fail(
                    f"[data] {kind} lists the target column '{name}'; the target is predicted, not "
                    f"an input — remove it from {kind}"
                )
            if name in seen:
                table.fail(
                    f"[data] column '{name}' is listed under both {seen[name]} and {kind}; keep it "
                    "in one list"
                )
            seen[name] = kind
        out[kind] = names
    indicator = table.raw.get("missing_indicator", True)
    if not isinstance(indicator, bool):
        table.fail(f"[data] missing_indicator must be true or false, got {indicator!r}")
    out["missing_indicator"] = indicator
    positive = table.raw.get("positive_class")
    if positive is not None and (
        isinstance(positive, bool) or not isinstance(positive, (str, int))
    ):
        table.fail(
            f'[data] positive_class must be a class label such as "yes" or 1, got {positive!r}'
        )
    out["positive_class"] = None if positive is None else str(positive)
    return out


def _string_list(table: Any, key: str) -> tuple[str, ...]:
    value = table.raw.get(key, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        table.fail(
            f'[data] {key} must be a list of column names, e.g. {key} = ["age", "bmi"]; got '
            f"{value!r}"
        )
    if len(set(value)) != len(value):
        twice = next(v for v in value if value.count(v) > 1)
        table.fail(f"[data] {key} lists the column '{twice}' twice")
    return tuple(value)


def _class_weight_field(table: Any) -> str | tuple[tuple[str, float], ...] | None:
    value = table.raw.get("class_weight")
    if value is None:
        return None
    if value == "balanced":
        return "balanced"
    if isinstance(value, Mapping) and value:
        pairs = []
        for label, weight in value.items():
            if (
                isinstance(weight, bool)
                or not isinstance(weight, (int, float))
                or not weight > 0
                or not math.isfinite(weight)
            ):
                table.fail(
                    f"[data] class_weight for class '{label}' must be a positive number, got "
                    f"{weight!r}"
                )
            pairs.append((str(label), float(weight)))
        return tuple(pairs)
    table.fail(
        '[data] class_weight must be "balanced" or a table of class → weight, e.g. class_weight = '
        f"{{ yes = 10, no = 1 }}; got {value!r}"
    )
    return None


def resolve_csv_path(value: Any, source: str) -> str:
    """``[data] path`` as an absolute path; a relative one is relative to the study file's
    folder."""
    path = Path(str(value)).expanduser()
    if not path.is_absolute():
        base = Path(source).parent if source and not source.startswith("<") else Path.cwd()
        path = base / path
    return str(path.resolve())


__all__ = ["TABLE_FIELDS", "parse_table_fields", "resolve_csv_path"]
