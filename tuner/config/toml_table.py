"""One table of a study file, read field by field: types, ranges and allowed values checked.

Every failure is a :class:`~tuner.errors.ConfigError` naming the file, the table and the field,
what was wrong and what is allowed; an unknown field gets a "did you mean" hint.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import Any

from tuner.config.schema import FloatRange, IntRange
from tuner.errors import ConfigError


class TomlTable:
    """Reads one TOML table, checking types and refusing unknown keys."""

    def __init__(self, raw: Any, where: str, name: str, known: Sequence[str]):
        self.where = where
        self.name = name
        if raw is None:
            raw = {}
        if not isinstance(raw, Mapping):
            self.fail(f"[{name}] must be a table")
        unknown = [k for k in raw if k not in known]
        if unknown:
            key = unknown[0]
            hint = difflib.get_close_matches(key, known, n=1)
            suggestion = f"did you mean '{hint[0]}'?" if hint else f"allowed: {', '.join(known)}"
            self.fail(f"[{name}] has unknown field '{key}'; {suggestion}")
        self.raw = raw

    def fail(self, message: str) -> None:
        raise ConfigError(f"{self.where}: {message}")

    def _label(self, key: str) -> str:
        return f"[{self.name}] {key}"

    def has(self, key: str) -> bool:
        return key in self.raw

    def number(
        self,
        key: str,
        default: Any,
        *,
        kind: type = float,
        low: float | None = None,
        high: float | None = None,
        low_open: bool = False,
        optional: bool = False,
    ) -> Any:
        if key not in self.raw:
            return default
        value = self.raw[key]
        if optional and value is None:
            return None
        ok = isinstance(value, int) and not isinstance(value, bool)
        if kind is float:
            ok = ok or isinstance(value, float)
        if not ok:
            self.fail(
                f"{self._label(key)} must be {'an integer' if kind is int else 'a number'}, got "
                f"{value!r}"
            )
        value = kind(value)
        if low is not None and (value < low or (low_open and value == low)):
            self.fail(f"{self._label(key)} must be {'>' if low_open else '>='} {low}, got {value}")
        if high is not None and value > high:
            self.fail(f"{self._label(key)} must be <= {high}, got {value}")
        return value

    def string(self, key: str, default: str | None, *, choices: Sequence[str] | None = None) -> Any:
        if key not in self.raw:
            return default
        value = self.raw[key]
        if not isinstance(value, str):
            self.fail(f"{self._label(key)} must be a string, got {value!r}")
        if choices is not None:
            self.check_choice(key, value, choices)
        return value

    def check_choice(self, key: str, value: Any, choices: Sequence[Any]) -> None:
        if value not in choices:
            listed = ", ".join(str(c) for c in choices)
            self.fail(f"{self._label(key)} has unknown value {value!r}; choose from: {listed}")

    def choices(
        self,
        key: str,
        default: tuple,
        *,
        kind: type,
        allowed: Sequence[Any] | None = None,
        low: float | None = None,
    ) -> tuple:
        if key not in self.raw:
            return default
        value = self.raw[key]
        if isinstance(value, (str, int)) and not isinstance(value, bool):
            value = [value]
        if not isinstance(value, list):
            self.fail(f"{self._label(key)} must be a list of choices, got {value!r}")
        if not value:
            self.fail(f"{self._label(key)} is an empty list; give at least one choice")
        for item in value:
            if kind is int and (not isinstance(item, int) or isinstance(item, bool)):
                self.fail(f"{self._label(key)} choices must be integers, got {item!r}")
            if kind is str and not isinstance(item, str):
                self.fail(f"{self._label(key)} choices must be strings, got {item!r}")
            if allowed is not None:
                self.check_choice(key, item, allowed)
            if low is not None and item < low:
                self.fail(f"{self._label(key)} choices must be >= {low}, got {item}")
        if len(set(value)) != len(value):
            self.fail(f"{self._label(key)} lists a choice twice: {value}")
        return tuple(value)

    def range(
        self, key: str, default: IntRange | FloatRange, *, kind: type, limits: tuple[float, float]
    ) -> Any:
        if key not in self.raw:
            return default
        low, high = limits
        value = self.raw[key]
        log = default.log
        label = self._label(key)
        if isinstance(value, Mapping):
            extra = set(value) - {"low", "high", "log"}
            if extra:
                self.fail(
                    f"{label} has unknown field '{sorted(extra)[0]}'; allowed: low, high, log"
                )
            if "low" not in value or "high" not in value:
                self.fail(f"{label} needs both 'low' and 'high'")
            lo, hi = value["low"], value["high"]
            log = value.get("log", log)
            if not isinstance(log, bool):
                self.fail(f"{label} log must be true or false, got {log!r}")
        elif isinstance(value, list):
            if len(value) == 0:
                self.fail(f"{label} is an empty range; write [low, high]")
            if len(value) != 2:
                self.fail(f"{label} must be [low, high], got {len(value)} values")
            lo, hi = value
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            lo = hi = value
        else:
            self.fail(f"{label} must be [low, high] or {{ low = …, high = … }}, got {value!r}")
        for bound in (lo, hi):
            is_num = isinstance(bound, (int, float)) and not isinstance(bound, bool)
            if not is_num or (kind is int and not isinstance(bound, int)):
                self.fail(
                    f"{label} bounds must be {'integers' if kind is int else 'numbers'}, got "
                    f"{bound!r}"
                )
        if lo > hi:
            self.fail(f"{label} is inverted: low ({lo}) > high ({hi}); swap the bounds")
        if lo < low or hi > high:
            self.fail(f"{label} must lie within [{low}, {high}], got [{lo}, {hi}]")
        if log and lo <= 0:
            self.fail(f"{label} uses a log scale, so low must be > 0, got {lo}")
        return (IntRange if kind is int else FloatRange)(kind(lo), kind(hi), log)


__all__ = ["TomlTable"]
