"""Typed inputs: a dataclass field whose metadata carries its unit and inclusive range (:func:`param`) or its
choices (:func:`choice`), and the one check every input goes through, whether a config field or a level parameter.

The check names the input by its key (``margin``, ``levels.partnership.structural_bond``) so that every error is
one line saying what is allowed; :func:`flat_levels` writes ``[levels.NAME]`` tables as such keys.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import field
from typing import Any

from sim.errors import ConfigError


def param(default: Any, unit: str, low: float | None, high: float | None, doc: str, **extra: Any) -> Any:
    """A config field with its documentation and inclusive range kept beside the default."""
    return field(default=default, metadata={"unit": unit, "low": low, "high": high, "doc": doc, **extra})


def choice(default: str, choices: tuple[str, ...], doc: str) -> Any:
    return field(default=default, metadata={"unit": "", "choices": choices, "doc": doc})


def kind(spec: dataclasses.Field) -> str:
    """``"bool"``, ``"int"``, ``"float"`` or ``"choice"`` (annotations are strings under postponed evaluation)."""
    if "choices" in spec.metadata:
        return "choice"
    for name, python_type in (("bool", bool), ("int", int), ("float", float)):
        if spec.type in (name, python_type):
            return name
    return "text"


def allowed(spec: dataclasses.Field, choices: Sequence[str] | None = None) -> str:
    """What the field accepts, in words (``choices`` overrides the field's own, e.g. the levels in effect)."""
    meta = spec.metadata
    what = kind(spec)
    if what == "choice":
        return "one of " + ", ".join(meta["choices"] if choices is None else choices)
    if what == "bool":
        return "true or false"
    if what == "int":
        return f"an integer from {meta['low']} to {meta['high']}"
    if what == "text":
        return "a string"
    return f"a number from {meta['low']:g} to {meta['high']:g}"


def check(key: str, spec: dataclasses.Field, value: Any, choices: Sequence[str] | None = None) -> Any:
    """The value, typed (an int is accepted for a float field), or a :class:`ConfigError` naming ``key``."""
    what, given = kind(spec), value
    if what == "choice":
        ok = isinstance(value, str) and value in (spec.metadata["choices"] if choices is None else choices)
    elif what == "bool":
        ok = isinstance(value, bool)
    elif what == "text":
        ok = isinstance(value, str)
    else:
        if what == "float" and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        number = (int,) if what == "int" else (float,)
        ok = isinstance(value, number) and not isinstance(value, bool) and math.isfinite(value)
        ok = ok and spec.metadata["low"] <= value <= spec.metadata["high"]
        if ok:  # plain Python numbers, numpy scalars too
            value = int(value) if what == "int" else float(value)
    if not ok:
        raise ConfigError(key, f"must be {allowed(spec, choices)}; got {given!r}")
    return value


def parse(key: str, spec: dataclasses.Field, text: str) -> Any:
    """A value typed from command-line text (``--set key=value``); the range is checked later, by :func:`check`."""
    what = kind(spec)
    if what in ("choice", "text"):
        return text
    if what == "bool":
        if text.lower() in ("true", "false"):
            return text.lower() == "true"
        raise ConfigError(key, f"must be {allowed(spec)}; got {text!r}")
    try:
        return int(text) if what == "int" else float(text)
    except ValueError:
        raise ConfigError(key, f"must be {allowed(spec)}; got {text!r}") from None


def flat_levels(values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` with a nested ``levels`` mapping ({name: {key: value}}) written as ``levels.NAME.KEY`` entries."""
    nested = values.get("levels")
    if not isinstance(nested, Mapping):
        if nested is not None and not isinstance(nested, tuple):
            raise ConfigError("levels", f"must be [levels.NAME] tables of level keys; got {nested!r}")
        return dict(values)
    flat = {key: value for key, value in values.items() if key != "levels"}
    for name, table in nested.items():
        if not isinstance(table, Mapping):
            raise ConfigError(f"levels.{name}", f"must be a table of level keys; got {table!r}")
        flat.update({f"levels.{name}.{key}": value for key, value in table.items()})
    return flat
