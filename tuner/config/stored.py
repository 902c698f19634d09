"""A study's settings as its store records them, and the check that guards a resume.

Layout of the study attributes (names in :mod:`tuner.keys`):

- ``tuner_config``: the effective settings (data, objective, space, training, search),
  compact: no study name (the study has one), description, direction (the metric's) or
  [search] start (queued as the first trials when the study was created), ``None`` fields
  left out, a range as ``[low, high]`` when its scale is the default one. Read back with
  :func:`stored_config`.
- ``tuner_run``: the latest ``tuner run``'s run-level settings, ``{trials, timeout}``.
- ``tuner_changes``: settings changed on resume with ``--accept-changes``, each entry
  ``{"from_trial": N, "changes": [[field, old, new], ...]}``: trial N and later ran under the
  new values.

Studies stored before ``tuner_run`` existed keep the creation settings in ``tuner_config``
and the latest run's in ``tuner_run_config``; both layouts are read.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tuner.config.changes import (
    FIXED_CHOICES,
    INCOMPARABLE,
    FieldChange,
    describe,
    diff_configs,
    revert,
)
from tuner.config.parse import config_from_dict
from tuner.config.schema import SearchSpace, StudyConfig
from tuner.errors import ConfigError
from tuner.keys import CHANGES_ATTR, CONFIG_ATTR, RUN_ATTR, RUN_CONFIG_ATTR

#: Fields of a stored config that the study itself holds, or that are recorded per run.
_NOT_STORED = {"name", "description"}
_RUN_FIELDS = ("trials", "timeout")
_CREATION_FIELDS = ("start",)


@dataclass(frozen=True)
class SettingsChange:
    """Settings changed on resume: trial ``from_trial`` and later ran under the new values."""

    from_trial: int
    changes: tuple[FieldChange, ...]

    def __str__(self) -> str:
        return describe(self.changes)


def encode_settings(config: StudyConfig) -> dict[str, Any]:
    """``config`` as ``tuner_config`` stores it: compact, without run-level fields."""
    data = config.to_dict()
    for key in _NOT_STORED:
        data.pop(key, None)
    for key in (*_RUN_FIELDS, *_CREATION_FIELDS):
        data["search"].pop(key, None)
    data["objective"].pop("direction")  # the metric's own (the only one a study file may give)
    defaults = SearchSpace()
    for key, value in data["space"].items():
        default = getattr(defaults, key)  # None for a recipe field, whose ranges are linear
        if isinstance(value, Mapping) and value.get("log") == (default.log if default else False):
            data["space"][key] = [value["low"], value["high"]]
    compact = {
        section: {k: v for k, v in fields.items() if v is not None}
        if isinstance(fields, Mapping)
        else fields
        for section, fields in data.items()
    }
    return json.loads(json.dumps(compact))  # as the store gives it back: lists, not tuples


def run_record(config: StudyConfig) -> dict[str, Any]:
    """``tuner_run``: the run-level settings of this run."""
    return {"trials": config.search.trials, "timeout": config.search.timeout}


def _decode(raw: Mapping[str, Any], name: str) -> StudyConfig:
    return config_from_dict({**raw, "name": name})


def stored_config(attrs: Mapping[str, Any], name: str) -> StudyConfig | None:
    """The study's effective settings (the latest run's), or None if tuner did not create it."""
    if RUN_ATTR in attrs:
        raw = attrs.get(CONFIG_ATTR)
        if raw is None:
            return None
        config = _decode(raw, name)
        run = attrs[RUN_ATTR] or {}
        search = dataclasses.replace(config.search, **{k: run[k] for k in _RUN_FIELDS if k in run})
        return dataclasses.replace(config, search=search)
    raw = attrs.get(RUN_CONFIG_ATTR) or attrs.get(CONFIG_ATTR)
    return None if raw is None else _decode(raw, name)


def settings_changes(attrs: Mapping[str, Any]) -> list[SettingsChange]:
    """The changes recorded with ``--accept-changes``, oldest first."""
    return [
        SettingsChange(
            int(entry["from_trial"]), tuple(FieldChange.from_json(c) for c in entry["changes"])
        )
        for entry in attrs.get(CHANGES_ATTR) or ()
    ]


def config_at_trial(attrs: Mapping[str, Any], name: str, number: int) -> StudyConfig | None:
    """The settings trial ``number`` ran under: the effective ones with later changes undone.

    Studies stored in the old layout give their creation settings.
    """
    if RUN_ATTR not in attrs:
        raw = attrs.get(CONFIG_ATTR)
        return None if raw is None else _decode(raw, name)
    config = stored_config(attrs, name)
    if config is None:
        return None
    for entry in reversed(settings_changes(attrs)):
        if number < entry.from_trial:
            config = revert(config, entry.changes)
    return config


def resume_changes(
    stored: StudyConfig, new: StudyConfig, *, name: str, n_trials: int, accept: bool
) -> list[FieldChange]:
    """The settings that differ between the study's and this run's; refused unless ``accept``.

    Changes to [data] or [objective] are refused even with ``accept``: trials scored on other
    rows or by another metric cannot be ranked together; so are changed lists of choices
    (activation, batch_size, optimizer), which Optuna cannot draw from within one study.
    """
    changes = diff_configs(stored, new)
    if not changes:
        return []
    bad = [c for c in changes if c.section in INCOMPARABLE]
    if bad:
        sections = " and ".join(dict.fromkeys(f"[{c.section}]" for c in bad))
        others = [c for c in changes if c not in bad]
        extra = f" (also changed: {describe(others)})" if others else ""
        raise ConfigError(
            f"study '{name}' in the store was created with a different {sections}: "
            f"{describe(bad)}{extra}; its trials and new ones would not be comparable, so "
            "--accept-changes cannot record this: "
            f"restore the original settings or use a new [study] name"
        )
    choices = [c for c in changes if c.field in FIXED_CHOICES]
    if choices:
        others = [c for c in changes if c not in choices]
        extra = f" (also changed: {describe(others)})" if others else ""
        raise ConfigError(
            f"study '{name}' cannot change its lists of choices: {describe(choices)}{extra}; "
            "Optuna keeps one list per parameter for the whole study, so --accept-changes cannot "
            "record this: restore the original "
            f"choices or use a new [study] name"
        )
    if not accept:
        earlier = (
            f"the {n_trials} earlier trial ran"
            if n_trials == 1
            else f"the {n_trials} earlier trials ran"
        )
        raise ConfigError(
            f"study '{name}' was run with other settings: {describe(changes)}; use a new [study] "
            f"name, or pass --accept-changes to record the change ({earlier} under the old "
            "settings)"
        )
    return changes


def settings_attrs(
    config: StudyConfig,
    attrs: Mapping[str, Any],
    *,
    changes: Sequence[FieldChange] = (),
    from_trial: int = 0,
) -> dict[str, Any]:
    """The study attributes to write for a run of ``config``, in writing order.

    ``attrs`` are the study's current attributes; ``changes`` (accepted) are appended to the
    change log as applying from trial ``from_trial``.
    """
    out: dict[str, Any] = {RUN_ATTR: run_record(config)}
    encoded = encode_settings(config)
    if attrs.get(CONFIG_ATTR) != encoded or RUN_ATTR not in attrs:
        out[CONFIG_ATTR] = encoded
    if changes:
        log = list(attrs.get(CHANGES_ATTR) or [])
        log.append({"from_trial": from_trial, "changes": [c.to_json() for c in changes]})
        out[CHANGES_ATTR] = log
    return out


def metric_names(config: StudyConfig) -> list[str]:
    """The study's objective names, e.g. ``["accuracy"]`` or ``["accuracy", "n_params"]``."""
    size = config.objective.size_objective
    return [config.objective.metric, *([size] if size else [])]


def stored_metric(attrs: Mapping[str, Any]) -> str | None:
    """The metric named in the stored settings (either layout), without parsing them."""
    raw = attrs.get(CONFIG_ATTR)
    objective = raw.get("objective") if isinstance(raw, Mapping) else None
    return objective.get("metric") if isinstance(objective, Mapping) else None
