"""Field-by-field differences between two study configs, as resuming a study needs them.

A resumed study must run under the settings its earlier trials ran under. :func:`diff_configs`
names every field that differs (``training.max_epochs 2 -> 30``, ``space.units.high 256 ->
512``); :func:`revert` undoes a list of changes, which rebuilds the settings an earlier trial
ran under.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from tuner.config.schema import StudyConfig

#: The sections whose fields decide what a trial is: compared on resume, in this order.
SECTIONS = ("data", "objective", "space", "training", "search")
#: Sections whose change makes old and new trials incomparable (other data, another metric).
INCOMPARABLE = ("data", "objective")
#: Lists of choices: Optuna keeps one list per categorical parameter for the whole study, so
#: a study's trials can never be drawn from another one.
FIXED_CHOICES = frozenset({"space.activation", "space.batch_size", "space.optimizer"})
#: Fields that may differ on every run: the budget, the time limit, and the Keras backend
#: (which workers on other machines may choose for themselves).
RUN_LEVEL = frozenset(
    {"search.trials", "search.timeout", "training.backend", "training.fused", "training.pack"}
)
#: Fields used once, when the study is created: [search] start is queued then, never again.
CREATION_ONLY = frozenset({"search.start"})
#: Fields not compared on resume.
NOT_COMPARED = RUN_LEVEL | CREATION_ONLY


@dataclass(frozen=True)
class FieldChange:
    """One setting that differs: its dotted name and both values."""

    field: str  # e.g. "space.units.high"
    old: Any
    new: Any

    @property
    def section(self) -> str:
        return self.field.split(".", 1)[0]

    def __str__(self) -> str:
        return f"{self.field} {show_value(self.old)} -> {show_value(self.new)}"

    def to_json(self) -> list[Any]:
        """``[field, old, new]``, as a study attribute stores it."""
        return [self.field, _jsonable(self.old), _jsonable(self.new)]

    @classmethod
    def from_json(cls, raw: Sequence[Any]) -> FieldChange:
        field_name, old, new = raw
        return cls(str(field_name), _tupled(old), _tupled(new))


def show_value(value: Any) -> str:
    """A value as a one-line message shows it: ``none``, ``[relu, tanh]``, ``0.001``."""
    if value is None:
        return "none"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(show_value(v) for v in value) + "]"
    return str(value)


def describe(changes: Sequence[FieldChange]) -> str:
    """``a.b 1 -> 2, c.d x -> y``."""
    return ", ".join(str(c) for c in changes)


def _leaves(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    """(dotted name, value) for every field of a (nested) config dataclass."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            yield from _leaves(getattr(value, f.name), f"{path}.{f.name}")
    else:
        yield path, value


def diff_configs(
    old: StudyConfig, new: StudyConfig, *, skip: frozenset[str] = NOT_COMPARED
) -> list[FieldChange]:
    """Every field of :data:`SECTIONS` whose value differs between ``old`` and ``new``."""
    changes = []
    for section in SECTIONS:
        before = dict(_leaves(getattr(old, section), section))
        for name, value in _leaves(getattr(new, section), section):
            if name not in skip and before.get(name) != value:
                changes.append(FieldChange(name, before.get(name), value))
    return changes


def revert(config: StudyConfig, changes: Sequence[FieldChange]) -> StudyConfig:
    """``config`` with each change undone (its field set back to the old value)."""
    for change in changes:
        config = _replace_path(config, change.field.split("."), change.old)
    return config


def _replace_path(obj: Any, path: list[str], value: Any) -> Any:
    head, rest = path[0], path[1:]
    inner = value if not rest else _replace_path(getattr(obj, head), rest, value)
    return dataclasses.replace(obj, **{head: inner})


def _jsonable(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def _tupled(value: Any) -> Any:
    """JSON lists back to the tuples the config dataclasses hold."""
    if isinstance(value, list):
        return tuple(_tupled(v) for v in value)
    return value
