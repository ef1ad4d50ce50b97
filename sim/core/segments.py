"""Customer segments as data: read from ``segments.toml`` (shipped with the package).

A segment is a profile of config-field values: what mass consumers, small businesses or key accounts are like
(complaint propensity, natural churn, contact costs, account teams, buyer power, ...), each value with a plausible
range, its provenance and source, and optionally a prior (docs/EVIDENCE.md, section 2). A run names its segment
(``segment = "key_account"``); the profile gives every segment field the run does not set itself, so explicit
fields win (:func:`sim.core.config.from_mapping`). ``generic`` is today's model: every mechanism off, every value
the config default, so a run that names no segment reproduces earlier results exactly.

This module reads and checks the file's structure; the values are checked against the config's fields by
:func:`read_segments`, which :mod:`sim.core.config` calls with its field table (the config depends on the segment
names, so the check cannot live in the other direction). Adding a segment is one ``[segments.NAME]`` table that
gives every field the generic segment gives, and a test.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sim.core.levels import Note, read_note
from sim.core.priors import clip, draw
from sim.errors import ConfigError
from sim.files import read_toml

SEGMENTS_FILE = Path(__file__).with_name("segments.toml")
DEFAULT_SEGMENT = "generic"
PROVENANCES = ("sourced", "calibrated", "assumption", "off")  # off: the mechanism is switched off (today's model)
INFO = ("label", "example", "text", "typical")  # what a segment says besides its values; changes no result
TYPICAL = ("revenue_per_customer", "revenue_range", "customers", "source")
# Fields that describe a run's design, not its customers: a segment cannot set them.
DESIGN = ("segment", "level", "tier_level", "tier_share", "n_customers", "years", "seed")
_NAME = re.compile(r"[a-z][a-z0-9_]*\Z")


def _read(path: Path) -> dict[str, Any]:
    return read_toml(path, "segments")[0]


SHIPPED = _read(SEGMENTS_FILE)


def segment_names(data: Mapping[str, Any]) -> tuple[str, ...]:
    """The segment names of a segments.toml document, in file order (the generic segment first)."""
    for key in data:
        if key != "segments":
            raise ConfigError(key, "unknown table; segments.toml has [segments.NAME] tables only")
    tables = data.get("segments")
    if not isinstance(tables, dict) or DEFAULT_SEGMENT not in tables:
        raise ConfigError(f"segments.{DEFAULT_SEGMENT}", "missing: the generic segment (today's model) is required")
    names = tuple(tables)
    if names[0] != DEFAULT_SEGMENT:
        raise ConfigError(f"segments.{names[0]}", f"the first segment must be {DEFAULT_SEGMENT} (today's model)")
    for name in names:
        if not _NAME.match(name):
            raise ConfigError(f"segments.{name}", "a segment name is lower-case letters, digits and _")
        if not isinstance(tables[name], dict):
            raise ConfigError(f"segments.{name}", "must be a table")
    return names


SEGMENT_NAMES: tuple[str, ...] = segment_names(SHIPPED)


@dataclass(frozen=True)
class Segment:
    """One customer segment: its profile (field → value), the note behind each value, and how it is shown."""

    name: str
    label: str
    example: str
    text: str
    values: Mapping[str, Any]
    notes: Mapping[str, Note]
    typical: Mapping[str, Any]

    @property
    def title(self) -> str:
        return self.label or self.name.replace("_", " ").capitalize()


def _entry(key: str, spec: dataclasses.Field, entry: Any) -> tuple[Any, Note]:
    """The value and note of one ``{ value, range, provenance, source, prior }`` entry of a segment."""
    value, note = read_note(key, spec, entry, PROVENANCES)
    if note.prior is not None and (note.prior.above is not None or note.low == note.high):
        raise ConfigError(f"{key}.prior", "a segment value's prior has no `above`, and a fixed value has no prior")
    return value, note


def _typical(key: str, entry: Any) -> dict[str, Any]:
    if not isinstance(entry, dict) or set(entry) != set(TYPICAL):
        raise ConfigError(key, f"must be a table with exactly {', '.join(TYPICAL)}")
    return dict(entry)


def read_segments(data: Mapping[str, Any], specs: Mapping[str, dataclasses.Field]) -> dict[str, Segment]:
    """The segments of a segments.toml document, their values checked against the config fields ``specs``.

    Every segment gives the same fields as the generic segment, and the generic segment's values are the config
    defaults (it is today's model). Every error is one line naming ``segments.NAME.KEY``.
    """
    names = segment_names(data)
    tables = data["segments"]
    fields = [key for key in tables[DEFAULT_SEGMENT] if key not in INFO]
    segments: dict[str, Segment] = {}
    for name in names:
        table = tables[name]
        for key in table:
            where = f"segments.{name}.{key}"
            if key in INFO:
                continue
            if key not in specs:
                raise ConfigError(where, "not a config field; see `relsim fields`")
            if key in DESIGN:
                raise ConfigError(where, "describes the run, not its customers: a segment cannot set it")
            if key not in fields:
                raise ConfigError(where, f"not in {DEFAULT_SEGMENT}; every segment gives the same fields")
        values: dict[str, Any] = {}
        notes: dict[str, Note] = {}
        for key in fields:
            where = f"segments.{name}.{key}"
            if key not in table:
                raise ConfigError(where, f"missing: every segment gives the fields of {DEFAULT_SEGMENT}")
            values[key], notes[key] = _entry(where, specs[key], table[key])
            if name == DEFAULT_SEGMENT and values[key] != specs[key].default:
                raise ConfigError(
                    where, f"must be the config default {specs[key].default!r} (the generic segment is today's model)"
                )
        info = {key: table.get(key, "") for key in ("label", "example", "text")}
        for key, value in info.items():
            if not isinstance(value, str):
                raise ConfigError(f"segments.{name}.{key}", f"must be a string; got {value!r}")
        typical = _typical(f"segments.{name}.typical", table["typical"]) if "typical" in table else {}
        segments[name] = Segment(name, **info, values=values, notes=notes, typical=typical)
    return segments


def describe_segments(segments: Mapping[str, Segment], specs: Mapping[str, dataclasses.Field]) -> list[dict[str, Any]]:
    """One record per segment with every value's unit, plausible range, provenance, source and prior."""
    records = []
    for segment in segments.values():
        values = []
        for name, value in segment.values.items():
            note = segment.notes[name]
            values.append(
                {
                    "name": name,
                    "value": value,
                    "unit": specs[name].metadata["unit"],
                    "range": None if note.low is None else [note.low, note.high],
                    "provenance": note.provenance,
                    "source": note.source,
                    "prior": note.prior.as_dict() if note.prior else None,
                    "meaning": specs[name].metadata["doc"],
                }
            )
        records.append(
            {
                "name": segment.name,
                "label": segment.title,
                "example": segment.example,
                "text": segment.text,
                "typical": dict(segment.typical) or None,
                "values": values,
            }
        )
    return records


def draw_segment(segment: Segment, rng: Any, specs: Mapping[str, dataclasses.Field]) -> dict[str, Any]:
    """The segment's values with every uncertain one drawn (for the propagation of parameter uncertainty): from its
    prior, or uniformly from its plausible range without one; fixed values and choices stay. Draws are clipped to
    each field's accepted range (whole numbers rounded); ``rng`` is a numpy Generator."""
    values = dict(segment.values)
    for name, note in segment.notes.items():
        if note.low is None or note.low == note.high:
            continue
        value = draw(note.prior, rng) if note.prior is not None else rng.uniform(note.low, note.high)
        values[name] = clip(specs[name], value)
    return values
