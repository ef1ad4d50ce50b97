"""A run's config from the outside world: a TOML file, ``key=value`` overrides from the command line, a model's
keyword fields Mesa-style (:func:`resolve`), another seed (:func:`with_seed`), the names an input may have (a field
or a level parameter; what a change of segment keeps), and the list of fields ``relsim fields`` prints. Every
problem is one :class:`~sim.errors.ConfigError` naming its field."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sim.core import fields
from sim.core.config import FIELDS, LEVEL_KEYS, Config, from_mapping
from sim.core.fields import flat_levels
from sim.core.levels import PARAMETERS, SPECS
from sim.errors import ConfigError
from sim.files import read_toml


def segment_base(values: Mapping[str, Any]) -> dict[str, Any]:
    """A flat record (``as_dict``) reduced to what a change of segment keeps: the run's own fields (see
    :meth:`Config.overrides`) and its levels. Merge a new ``segment`` onto this, not onto the full record."""
    config = from_mapping(values)
    levels = {key: value for key, value in config.as_dict().items() if key.startswith("levels.")}
    return {**config.overrides(), **levels}


def field_spec(name: str) -> dataclasses.Field | None:
    """The field behind an input name: a config field, or the level parameter of ``levels.NAME.PARAMETER`` (any
    syntactically valid level name: whether the level exists is known only with the rest of the config)."""
    if name in FIELDS:
        return FIELDS[name]
    parts = name.split(".")
    if len(parts) == 3 and parts[0] == "levels" and parts[1] and parts[2] in SPECS:
        return SPECS[parts[2]]
    return None


def is_field(name: str) -> bool:
    """Whether ``name`` is an input a sweep may vary or fix (a config field or a level parameter)."""
    return field_spec(name) is not None


def parse_override(text: str) -> tuple[str, Any]:
    """Turn ``key=value`` from the command line into a typed pair (types come from the field)."""
    if "=" not in text:
        raise ConfigError(text or "--set", "expected key=value")
    name, raw = (part.strip() for part in text.split("=", 1))
    spec = field_spec(name)
    if spec is not None:
        return name, fields.parse(name, spec, raw)
    parts = name.split(".")
    if len(parts) == 3 and parts[0] == "levels" and parts[2] in LEVEL_KEYS:
        return name, raw
    if parts[0] == "levels":
        raise ConfigError(name, f"expected levels.NAME.KEY with KEY one of {', '.join((*LEVEL_KEYS, *PARAMETERS))}")
    raise ConfigError(name, "unknown field; see `relsim fields` for the allowed names")


def load(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """A config from an optional TOML file plus ``key=value`` overrides (which win)."""
    values: dict[str, Any] = {}
    if path is not None:
        values = read_toml(path, "--config")[0]  # size cap, UTF-8, TOML and nesting errors: one line each
        for name, value in values.items():
            if isinstance(value, dict) and name != "levels":
                raise ConfigError(name, "tables are not allowed (except [levels.NAME]); write fields at the top level")
        values = flat_levels(values)
    for text in overrides:
        name, value = parse_override(text)
        values[name] = value
    return from_mapping(values)


def describe_fields() -> list[dict[str, Any]]:
    """One record per field (name, default, unit, allowed values, meaning), for docs and `relsim fields`."""
    return [
        {
            "name": spec.name,
            "default": spec.default,
            "unit": spec.metadata["unit"],
            "allowed": fields.allowed(spec),
            "meaning": spec.metadata["doc"],
        }
        for spec in FIELDS.values()
    ]


def with_seed(config: Config, seed: int) -> Config:
    """The same checked config with another seed (nothing else to check: a seed is any whole number in range)."""
    if config.seed == seed:
        return config
    fields.check("seed", FIELDS["seed"], seed, None)
    copy = object.__new__(Config)
    copy.__dict__.update(config.__dict__)
    object.__setattr__(copy, "seed", seed)
    return copy


def resolve(config: Config | None, seed: int | None, params: Mapping[str, Any]) -> Config:
    """The config of a model built Mesa-style: a config, flat keyword fields, or both; ``seed`` wins."""
    changes = dict(params) if seed is None else {**params, "seed": seed}
    if config is None:
        return from_mapping(changes)
    return config.replace(**changes) if changes else config
