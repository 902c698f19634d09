"""``[search] start``: known-good configurations the search tries first.

Each entry names some fields of ``[space]`` (``n_layers``, ``units``, ``dropout``,
``activation``, ``learning_rate``, ``batch_size``, ``optimizer``, and the recipe fields that
``[space]`` names, e.g. ``weight_decay`` or ``heads``); fields left out are drawn by
the sampler. ``units`` is one width for every layer or a list of widths, one per layer. Every
value is checked against the study's space when the file is read. :func:`start_params` turns an
entry into the parameters Optuna's ``study.enqueue_trial`` takes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from tuner.config.schema import FloatRange, IntRange, SearchSpace
from tuner.errors import ConfigError

#: A start entry: (space field, value) pairs; ``units`` may be a tuple of per-layer widths.
StartEntry = tuple[tuple[str, Any], ...]

_FIELDS = tuple(f.name for f in dataclasses.fields(SearchSpace))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_value(where: str, key: str, value: Any, allowed: Any) -> Any:
    """``value`` if the space allows it, else a ConfigError naming the field."""
    label = f"{where} {key} = {value!r}"
    if isinstance(allowed, (IntRange, FloatRange)):
        is_int = isinstance(allowed, IntRange)
        if not (_is_int(value) or (not is_int and isinstance(value, float))):
            raise ConfigError(f"{label} must be {'an integer' if is_int else 'a number'}")
        if not allowed.low <= value <= allowed.high:
            raise ConfigError(
                f"{label} is outside [space] {key} [{allowed.low}, {allowed.high}]; change the "
                "value or widen the space"
            )
        return int(value) if is_int else float(value)
    if value not in allowed or isinstance(value, bool):
        raise ConfigError(
            f"{label} is not one of the [space] {key} choices: {', '.join(map(str, allowed))}"
        )
    return value


def _parse_entry(entry: Any, where: str, space: SearchSpace) -> StartEntry:
    if not isinstance(entry, Mapping):
        raise ConfigError(
            f"{where} must be a table like {{ n_layers = 2, units = 256 }}, got {entry!r}"
        )
    unknown = [k for k in entry if k not in _FIELDS]
    if unknown:
        raise ConfigError(
            f"{where} has unknown field '{unknown[0]}'; allowed: {', '.join(_FIELDS)}"
        )
    out: dict[str, Any] = {}
    for key, value in entry.items():
        if key == "units" and isinstance(value, list):
            if not value:
                raise ConfigError(f"{where} units is an empty list; give one width per layer")
            out[key] = tuple(_check_value(where, key, v, space.units) for v in value)
        elif getattr(space, key) is None:
            raise ConfigError(
                f"{where} {key} = {value!r} sets a field that [space] leaves out; add {key} to "
                "[space] or remove it from this entry"
            )
        else:
            out[key] = _check_value(where, key, value, getattr(space, key))
    units = out.get("units")
    if isinstance(units, tuple):
        n_layers = out.setdefault(
            "n_layers", _check_value(where, "n_layers", len(units), space.n_layers)
        )
        if n_layers != len(units):
            raise ConfigError(
                f"{where} units lists {len(units)} widths but n_layers = {n_layers}; give one "
                "width per layer"
            )
    return tuple(out.items())


def parse_start(raw: Any, space: SearchSpace, source: str) -> tuple[StartEntry, ...]:
    """Validate ``[search] start`` (a list of tables) against the study's space."""
    if isinstance(raw, Mapping):
        raw = [raw]
    if not isinstance(raw, list):
        raise ConfigError(
            f"{source}: [search] start must be a list of tables like "
            f"[{{ n_layers = 2, units = 256 }}], got {raw!r}"
        )
    return tuple(
        _parse_entry(entry, f"{source}: [search] start[{i}]", space) for i, entry in enumerate(raw)
    )


def start_params(entry: StartEntry, space: SearchSpace) -> dict[str, Any]:
    """The Optuna parameters of one start entry (``units`` becomes ``units_0`` … per layer)."""
    fields = dict(entry)
    params = {k: v for k, v in fields.items() if k != "units"}
    units = fields.get("units")
    if isinstance(units, tuple):
        params.update({f"units_{i}": w for i, w in enumerate(units)})
    elif units is not None:
        layers = fields.get("n_layers", space.n_layers.high)
        params.update({f"units_{i}": units for i in range(layers)})
    return params


__all__ = ["StartEntry", "parse_start", "start_params"]
