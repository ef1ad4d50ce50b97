"""Checks shared by the experiment spec readers (matrix, sweep, sensitivity, phase).

Each returns the value when it is allowed and raises a :class:`~sim.core.config.ConfigError` naming the key and
what is allowed otherwise, so every spec file fails the same way: one line, before anything runs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from sim.core.config import ConfigError
from sim.core.levels import LEVEL_NAMES


def fail(key: str, message: str) -> ConfigError:
    return ConfigError(key, message)


def message(error: ConfigError) -> str:
    """The message of an error without its leading field name (to re-raise it under a longer key)."""
    text = str(error)
    return text.split(": ", 1)[1] if ": " in text else text


def integer(key: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise fail(key, f"must be an integer from {low:,} to {high:,}; got {value!r}")
    return value


def number(key: str, value: Any, low: float = -math.inf, high: float = math.inf, *, above_low: bool = False) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (low < value if above_low else low <= value) and value <= high
    if not ok:
        bound = "above" if above_low else "from"
        raise fail(
            key, f"must be a number {bound} {low:g} {'and at most' if above_low else 'to'} {high:g}; got {value!r}"
        )
    return float(value)


def level(key: str, value: Any) -> str:
    if value not in LEVEL_NAMES:
        raise fail(key, f"must be one of {', '.join(LEVEL_NAMES)}; got {value!r}")
    return value


def text(key: str, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise fail(key, f"must be a non-empty string; got {value!r}")
    return value


def table(key: str, value: Any) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise fail(key, f"must be a table; got {value!r}")
    return value


def no_unknown(prefix: str, values: Mapping[str, Any], allowed: Sequence[str]) -> None:
    unknown = sorted(set(values) - set(allowed))
    if unknown:
        raise fail(f"{prefix}{unknown[0]}", f"unknown key; allowed: {', '.join(allowed)}")
