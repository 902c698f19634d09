"""``[space]``'s training-recipe fields (docs/recipe.md): read, and checked against the study.

Each field is optional: left out, it is None and the network is the plain one.
"""

from __future__ import annotations

from typing import Any

from tuner.config.choices import NORMALIZATIONS, NUMERIC_ENCODINGS, SCHEDULES, SPACE_LIMITS
from tuner.config.schema import (
    FloatRange,
    IntRange,
    ObjectiveConfig,
    SearchSpace,
    TrainingConfig,
)
from tuner.config.toml_table import TomlTable


def parse_recipe_fields(sp: TomlTable) -> dict[str, Any]:
    """The recipe fields of the ``[space]`` table ``sp``, as :class:`SearchSpace` arguments."""
    return {
        "weight_decay": _optional_range(sp, "weight_decay", FloatRange(0.0, 0.0)),
        "label_smoothing": _optional_range(sp, "label_smoothing", FloatRange(0.0, 0.0)),
        "normalization": sp.choices("normalization", None, kind=str, allowed=NORMALIZATIONS),
        "schedule": sp.choices("schedule", None, kind=str, allowed=SCHEDULES),
        "numeric_encoding": sp.choices(
            "numeric_encoding", None, kind=str, allowed=NUMERIC_ENCODINGS
        ),
        "heads": _optional_range(sp, "heads", IntRange(1, 1)),
    }


def _optional_range(sp: TomlTable, key: str, shape: IntRange | FloatRange) -> Any:
    """A recipe range (``[low, high]``, a table, or one fixed value); None when left out."""
    if not sp.has(key):
        return None
    kind = int if isinstance(shape, IntRange) else float
    return sp.range(key, shape, kind=kind, limits=SPACE_LIMITS[key])


def check_recipe_fields(
    sp: TomlTable, space: SearchSpace, objective: ObjectiveConfig, training: TrainingConfig
) -> None:
    """Refuse the recipe fields that the rest of the study rules out."""
    if space.label_smoothing is not None and objective.task == "regression":
        sp.fail(
            "[space] label_smoothing applies to classification, and this study is a "
            "regression; remove label_smoothing"
        )
    if space.uses_recipe_fields and training.fused == "on":
        sp.fail(
            '[training] fused = "on" trains the plain network only, and [space] sets recipe '
            'fields (weight_decay, normalization, …); set fused = "auto" or remove those fields'
        )


__all__ = ["check_recipe_fields", "parse_recipe_fields"]
