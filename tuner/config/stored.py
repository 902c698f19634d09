"""A study's settings as its store records them, and the check that guards a resume.

Layout of the study attributes (names in :mod:`tuner.keys`):

- ``tuner_config``: the effective settings (data, objective, space, training, search),
  compact: no study name (the study has one), description, direction (the metric's) or
  [search] start (queued as the first trials when the study was created), ``None`` fields
  left out, a range as ``[low, high]`` when its scale is the default one. Read back with
  :func:`stored_config`.
- ``tuner_run``: the latest ``tuner run``'s run-level settings, ``{trials, timeout}``.
- ``tuner_data`` (CSV studies): the data file's path relative to the study file's folder, that
  folder (relative to the working directory when inside it), and the file's content hash, rows
  and columns. ``tuner_config`` holds the same relative path, so a moved checkout resumes; a
  file whose content changed is refused on resume, even with ``--accept-changes``.
- ``tuner_changes``: settings changed on resume with ``--accept-changes``, each entry
  ``{"from_trial": N, "changes": [[field, old, new], ...]}``: trial N and later ran under the
  new values.

Studies stored before ``tuner_run`` existed keep the creation settings in ``tuner_config``
and the latest run's in ``tuner_run_config``; both layouts are read.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tuner.config.changes import (
    FIXED_CHOICES,
    INCOMPARABLE,
    NOT_COMPARED,
    FieldChange,
    describe,
    diff_configs,
    revert,
)
from tuner.config.parse import config_from_dict
from tuner.config.schema import SearchSpace, StudyConfig
from tuner.data.csv_file import FileIdentity, file_digest, file_identity
from tuner.errors import ConfigError
from tuner.keys import CHANGES_ATTR, CONFIG_ATTR, DATA_ATTR, RUN_ATTR, RUN_CONFIG_ATTR

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


def _study_folder(config: StudyConfig) -> Path | None:
    """The folder of the study file ``config`` was read from, if it was read from one."""
    source = config.source
    return None if not source or source.startswith("<") else Path(source).resolve().parent


def _from_cwd(path: Path) -> str:
    """``path`` relative to the working directory where it is inside it, else absolute."""
    try:
        return path.relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return str(path)


def _stored_path(config: StudyConfig) -> str | None:
    """``[data] path`` as stored: relative to the study file's folder when there is one."""
    path, folder = config.data.path, _study_folder(config)
    if path is None or folder is None:
        return path
    return Path(os.path.relpath(path, folder)).as_posix()


def encode_settings(config: StudyConfig) -> dict[str, Any]:
    """``config`` as ``tuner_config`` stores it: compact, without run-level fields."""
    data = config.to_dict()
    if data["data"].get("path") is not None:
        data["data"]["path"] = _stored_path(config)
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


def _decode(raw: Mapping[str, Any], name: str, attrs: Mapping[str, Any]) -> StudyConfig:
    data = raw.get("data")
    path = data.get("path") if isinstance(data, Mapping) else None
    if isinstance(path, str) and not Path(path).is_absolute():
        # relative to the study file's folder, recorded relative to the working directory
        folder = (attrs.get(DATA_ATTR) or {}).get("study_dir") or "."
        raw = {**raw, "data": {**data, "path": str(Path(folder) / path)}}
    return config_from_dict({**raw, "name": name})


def stored_config(attrs: Mapping[str, Any], name: str) -> StudyConfig | None:
    """The study's effective settings (the latest run's), or None if tuner did not create it."""
    if RUN_ATTR in attrs:
        raw = attrs.get(CONFIG_ATTR)
        if raw is None:
            return None
        config = _decode(raw, name, attrs)
        run = attrs[RUN_ATTR] or {}
        search = dataclasses.replace(config.search, **{k: run[k] for k in _RUN_FIELDS if k in run})
        return dataclasses.replace(config, search=search)
    raw = attrs.get(RUN_CONFIG_ATTR) or attrs.get(CONFIG_ATTR)
    return None if raw is None else _decode(raw, name, attrs)


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
        return None if raw is None else _decode(raw, name, attrs)
    config = stored_config(attrs, name)
    if config is None:
        return None
    for entry in reversed(settings_changes(attrs)):
        if number < entry.from_trial:
            config = revert(config, entry.changes)
    return config


def data_record(attrs: Mapping[str, Any], config: StudyConfig, *, name: str) -> dict | None:
    """A CSV study's ``tuner_data`` for this run, or None for a built-in dataset.

    Raises :class:`ConfigError` (before anything is written) when the file's content differs
    from the one the study recorded, naming the file and what changed: trials scored on other
    rows cannot be ranked together, so ``--accept-changes`` does not cover it. A study stored
    before files were recorded gets its record now.
    """
    path = config.data.path
    if config.data.dataset != "csv" or path is None or not Path(path).is_file():
        return None  # a missing file is reported by whatever reads it
    digest = file_digest(path)
    before = attrs.get(DATA_ATTR) or {}
    if before.get("sha256") == digest:
        identity = FileIdentity.from_json(before)
    else:
        identity = file_identity(path, digest)
        if before.get("sha256"):
            change = FileIdentity.from_json(before).difference(identity)
            raise ConfigError(
                f"CSV file {_from_cwd(Path(path))} changed since study '{name}' first ran on it: "
                f"{change}; its trials were scored on the old rows and cannot be ranked with new "
                "ones, so --accept-changes cannot record this: restore the file, or use a new "
                "[study] name"
            )
    folder = _study_folder(config)
    return {
        "path": _stored_path(config),
        "study_dir": _from_cwd(folder) if folder is not None else None,
        **identity.to_json(),
    }


def resume_changes(
    stored: StudyConfig,
    new: StudyConfig,
    *,
    name: str,
    n_trials: int,
    accept: bool,
    data_recorded: bool = False,
) -> list[FieldChange]:
    """The settings that differ between the study's and this run's; refused unless ``accept``.

    Changes to [data] or [objective] are refused even with ``accept``: trials scored on other
    rows or by another metric cannot be ranked together; so are changed lists of choices
    (activation, batch_size, optimizer), which Optuna cannot draw from within one study.
    ``data_recorded``: the study recorded its CSV file's content, which is checked instead of
    its path.
    """
    # A CSV study with a recorded file is checked by content instead (see data_record): a file
    # moved with its checkout is the same data.
    skip = NOT_COMPARED | {"data.path"} if data_recorded else NOT_COMPARED
    changes = diff_configs(stored, new, skip=skip)
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
    data: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The study attributes to write for a run of ``config``, in writing order.

    ``attrs`` are the study's current attributes; ``changes`` (accepted) are appended to the
    change log as applying from trial ``from_trial``; ``data`` is the CSV study's
    ``tuner_data`` (see :func:`data_record`).
    """
    out: dict[str, Any] = {RUN_ATTR: run_record(config)}
    if data is not None and attrs.get(DATA_ATTR) != data:
        out[DATA_ATTR] = dict(data)
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
