"""Kotler's relationship levels as data: read from ``levels.toml`` (shipped with the package), overridable per run.

A level says *what* the firm does for a customer after the sale; *which* customers get which level is decided
elsewhere (:mod:`sim.core.population` assigns a level to every customer from the run's config). The five levels
of the file are cumulative in capability, as Kotler describes them: each keeps what the level below does and adds
to it. The file documents every parameter (unit, accepted range) and, per level, its value with a plausible
range and its provenance (sourced, calibrated or an assumption, with a short source text).

The levels in effect for a run are part of its :class:`~sim.core.config.Config` (``config.levels``): a run config
overrides a parameter or adds a level in a ``[levels.NAME]`` table (:func:`define_levels`). The model reads the
levels from the config, never from this module's defaults. docs/MODEL.md (section 2) says how to add a level.
"""

from __future__ import annotations

import dataclasses
import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sim.core.fields import check, kind
from sim.core.priors import Prior, clip, draw, read_prior
from sim.errors import ConfigError
from sim.files import read_toml

LEVELS_FILE = Path(__file__).with_name("levels.toml")
PROVENANCES = ("sourced", "calibrated", "assumption")
DISPLAY = ("label", "colour", "text")  # how a level is shown; not part of what a run computes
MAX_LEVELS = 255  # the level code is stored per customer as uint8
# Colours of levels that bring none of their own, in order (none of them is a colour of the shipped levels).
FALLBACK_COLOURS = ("#8c564b", "#e377c2", "#17becf", "#bcbd22", "#d62728", "#393b79", "#637939", "#843c39")
_NAME = re.compile(r"[a-z][a-z0-9_]*\Z")
_COLOUR = re.compile(r"#[0-9a-fA-F]{6}\Z")


def _read(path: Path) -> dict[str, Any]:
    return read_toml(path, "levels")[0]


_SHIPPED = _read(LEVELS_FILE)


def _parameter(name: str, default: Any) -> Any:
    """A level parameter whose unit, range and meaning come from the ``[parameters]`` table of levels.toml."""
    schema = _SHIPPED.get("parameters", {}).get(name)
    if not isinstance(schema, dict):
        raise ConfigError(f"parameters.{name}", f"missing in {LEVELS_FILE.name}")
    return field(default=default, metadata=schema)


@dataclass(frozen=True)
class Level:
    """What a relationship level does after the sale (the parameters are documented in levels.toml).

    ``label``, ``colour``, ``text`` and ``based_on`` only say how the level is shown and where it came from: they do
    not take part in comparisons, so two configs that differ only in them are equal (and give equal results).
    """

    name: str
    inbound_channel: bool = _parameter("inbound_channel", False)
    resolution_probability: float = _parameter("resolution_probability", 0.0)
    quick_resolution_share: float = _parameter("quick_resolution_share", 0.0)
    welcome_call: bool = _parameter("welcome_call", False)
    welcome_call_detection: float = _parameter("welcome_call_detection", 1.0)
    quality_feedback: bool = _parameter("quality_feedback", False)
    outreach_per_year: int = _parameter("outreach_per_year", 0)
    problem_detection: float = _parameter("problem_detection", 0.0)
    customisation_value: float = _parameter("customisation_value", 0.0)
    structural_bond: float = _parameter("structural_bond", 0.0)
    account_management: bool = _parameter("account_management", False)
    fixed_cost: float = _parameter("fixed_cost", 0.0)
    label: str = field(default="", compare=False)
    colour: str = field(default="", compare=False)
    text: str = field(default="", compare=False)
    based_on: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.match(self.name) or self.name == "none":
            raise ConfigError(
                f"levels.{self.name}", "a level name is lower-case letters, digits and _, starting with a letter"
            )
        for name, spec in SPECS.items():  # typed in place: an int given for a float becomes a float
            object.__setattr__(self, name, check(f"levels.{self.name}.{name}", spec, getattr(self, name)))
        for name in (*DISPLAY, "based_on"):
            if not isinstance(getattr(self, name), str):
                raise ConfigError(f"levels.{self.name}.{name}", f"must be a string; got {getattr(self, name)!r}")
        if self.colour and not _COLOUR.match(self.colour):
            raise ConfigError(f"levels.{self.name}.colour", f"must be a colour like #1f77b4; got {self.colour!r}")

    @property
    def outreach_interval_months(self) -> int:
        """Months between two outreach contacts to the same customer (0 = no outreach)."""
        return 12 // self.outreach_per_year if self.outreach_per_year else 0

    @property
    def title(self) -> str:
        """The label, or the name written as words."""
        return self.label or self.name.replace("_", " ").capitalize()


SPECS: dict[str, dataclasses.Field] = {
    spec.name: spec for spec in dataclasses.fields(Level) if spec.name != "name" and spec.name not in DISPLAY
}
del SPECS["based_on"]
PARAMETERS: tuple[str, ...] = tuple(SPECS)


@dataclass(frozen=True)
class Note:
    """Where a shipped level's parameter value comes from, the range it plausibly lies in and, where the evidence
    gives one, its prior (:mod:`sim.core.priors`)."""

    provenance: str
    source: str
    low: float | None = None
    high: float | None = None
    prior: Prior | None = None


# ----------------------------------------------------------------------------------------------------------------
# Reading levels.toml
# ----------------------------------------------------------------------------------------------------------------
def _check_schema(parameters: Any) -> None:
    if not isinstance(parameters, dict):
        raise ConfigError("parameters", "missing: levels.toml needs a [parameters.NAME] table per level parameter")
    for name in parameters:
        if name not in SPECS:
            raise ConfigError(f"parameters.{name}", f"not a level parameter; the model has {', '.join(PARAMETERS)}")
    for name, spec in SPECS.items():
        meta = parameters.get(name, {})
        numeric = ("low", "high") if kind(spec) in ("int", "float") else ()
        for key in ("unit", "meaning", *numeric):
            if key not in meta:
                raise ConfigError(f"parameters.{name}.{key}", "missing")
        if numeric and not all(isinstance(meta[k], (int, float)) and not isinstance(meta[k], bool) for k in numeric):
            raise ConfigError(f"parameters.{name}", "low and high must be numbers")


def read_note(
    key: str, spec: dataclasses.Field, entry: Any, provenances: tuple[str, ...] = PROVENANCES
) -> tuple[Any, Note]:
    """The value and note of one documented ``{ value, range, provenance, source, prior }`` entry (a level's
    parameter here, a segment's value in :mod:`sim.core.segments`); numbers need a range, and may have a prior."""
    if not isinstance(entry, dict):
        raise ConfigError(key, "must be a table { value = ..., range = [low, high], provenance = ..., source = ... }")
    numeric = kind(spec) in ("int", "float")
    allowed = ("value", "provenance", "source", *(("range", "prior") if numeric else ()))
    for name in entry:
        if name not in allowed:
            raise ConfigError(f"{key}.{name}", f"unknown key; allowed: {', '.join(allowed)}")
    for name in allowed:
        if name not in entry and name != "prior":
            raise ConfigError(f"{key}.{name}", "missing")
    value = check(key, spec, entry["value"])
    if entry["provenance"] not in provenances:
        raise ConfigError(f"{key}.provenance", f"must be one of {', '.join(provenances)}; got {entry['provenance']!r}")
    if not isinstance(entry["source"], str) or not entry["source"].strip():
        raise ConfigError(f"{key}.source", "must say where the value comes from, or why it is assumed")
    if not numeric:
        return value, Note(entry["provenance"], entry["source"])
    bounds = entry["range"]
    if not isinstance(bounds, list) or len(bounds) != 2:
        raise ConfigError(f"{key}.range", f"must be [low, high]; got {bounds!r}")
    low, high = (check(f"{key}.range", spec, bound) for bound in bounds)
    if not low <= value <= high:
        raise ConfigError(f"{key}.range", f"must contain the value {value!r}; got {bounds!r}")
    prior = read_prior(f"{key}.prior", entry["prior"]) if "prior" in entry else None
    return value, Note(entry["provenance"], entry["source"], low, high, prior)


def _note(key: str, spec: dataclasses.Field, entry: Any) -> tuple[Any, Note]:
    """A level parameter's entry: a number with a plausible range wider than one point needs a prior; a fixed one
    (low = high) has none."""
    value, note = read_note(key, spec, entry)
    if note.low is not None and note.prior is None and note.low < note.high:
        raise ConfigError(f"{key}.prior", "missing: a value with a plausible range needs a prior")
    if note.prior is not None and note.low == note.high:
        raise ConfigError(f"{key}.prior", "a fixed value (range low = high) has no prior")
    return value, note


def read_levels(data: Mapping[str, Any]) -> tuple[dict[str, Level], dict[tuple[str, str], Note]]:
    """The levels and their notes from a levels.toml document; every error names its key."""
    for key in data:
        if key not in ("parameters", "levels"):
            raise ConfigError(key, "unknown table; levels.toml has [parameters.NAME] and [levels.NAME]")
    _check_schema(data.get("parameters"))
    tables = data.get("levels")
    if not isinstance(tables, dict) or not tables:
        raise ConfigError("levels", "missing: levels.toml needs at least one [levels.NAME] table")
    levels: dict[str, Level] = {}
    notes: dict[tuple[str, str], Note] = {}
    for name, table in tables.items():
        if not isinstance(table, dict):
            raise ConfigError(f"levels.{name}", "must be a table")
        for key in table:
            if key not in SPECS and key not in DISPLAY:
                raise ConfigError(f"levels.{name}.{key}", f"unknown key; a level has {', '.join(DISPLAY + PARAMETERS)}")
        values: dict[str, Any] = {}
        for key in (*DISPLAY, *PARAMETERS):
            if key not in table:
                raise ConfigError(f"levels.{name}.{key}", "missing: the shipped levels document every key")
            if key in SPECS:
                values[key], notes[name, key] = _note(f"levels.{name}.{key}", SPECS[key], table[key])
            else:
                values[key] = table[key]
        levels[name] = Level(name, **values)
    _check_priors_above(levels, notes)
    if len(levels) > MAX_LEVELS:
        raise ConfigError("levels", f"at most {MAX_LEVELS} levels")
    return levels, notes


def _check_priors_above(levels: Mapping[str, Level], notes: Mapping[tuple[str, str], Note]) -> None:
    """A prior ``above`` another level must name an earlier level of the file (draws go in file order)."""
    order = list(levels)
    for (name, parameter), note in notes.items():
        if note.prior is None or note.prior.above is None:
            continue
        base = note.prior.above
        if base not in order[: order.index(name)]:
            earlier = ", ".join(order[: order.index(name)]) or "none"
            raise ConfigError(
                f"levels.{name}.{parameter}.prior.above", f"must be an earlier level ({earlier}); got {base!r}"
            )


LEVELS, NOTES = read_levels(_SHIPPED)
LEVEL_NAMES: tuple[str, ...] = tuple(LEVELS)  # the shipped levels, in Kotler's order
DEFAULT_LEVELS: tuple[Level, ...] = tuple(LEVELS.values())


def level_index(name: str) -> int:
    """Position of a shipped level in :data:`LEVEL_NAMES` (a config's own order: ``config.level_code``)."""
    return LEVEL_NAMES.index(name)


# ----------------------------------------------------------------------------------------------------------------
# The levels of a run: overrides and new levels on top of a table
# ----------------------------------------------------------------------------------------------------------------
def define_levels(base: Sequence[Level], changes: Mapping[str, Mapping[str, Any]]) -> tuple[Level, ...]:
    """``base`` with ``changes`` applied: ``{name: {parameter or display key: value, ...}}``.

    A change to an existing level overrides its parameters. A new level starts from ``based_on`` (an existing level,
    with this mapping's overrides already applied) or gives every parameter itself; new levels come after the
    existing ones, in the order given. ``based_on`` is resolved here: a later change to the level it copied does not
    reach the copy.
    """
    table = {level.name: level for level in base}
    new = [name for name in changes if name not in table]
    for name in [*(n for n in changes if n in table), *new]:
        entries = dict(changes[name])
        for key in entries:
            if key not in SPECS and key not in DISPLAY and key != "based_on":
                allowed = ", ".join(("based_on", *DISPLAY, *PARAMETERS))
                raise ConfigError(f"levels.{name}.{key}", f"unknown level key; allowed: {allowed}")
        based_on = entries.pop("based_on", None)
        if name in table:
            if based_on is not None:
                raise ConfigError(f"levels.{name}.based_on", f"{name} exists already; based_on is for a new level")
            start = table[name]
        elif based_on is not None:
            if based_on not in table:
                allowed = ", ".join(n for n in table if n != name)
                raise ConfigError(f"levels.{name}.based_on", f"must be one of {allowed}; got {based_on!r}")
            parent = table[based_on]
            start = dataclasses.replace(parent, name=name, label="", colour="", based_on=based_on)
            origin = parent.title.replace("{", "{{").replace("}", "}}")
            entries.setdefault("text", (parent.text or "**{label}**") + f" (A level of this run, based on {origin}.)")
        else:
            missing = [p for p in PARAMETERS if p not in entries]
            if missing:  # named by the first key given, which is where the user wrote the level
                raise ConfigError(
                    f"levels.{name}.{next(iter(changes[name]))}",
                    f"no level {name} in {', '.join(table)}; a new level needs based_on = one of them, or every "
                    f"parameter (missing {len(missing)} of {len(PARAMETERS)}, e.g. {missing[0]})",
                )
            start = Level(name)
        if start == table.get(name) and all(same_value(getattr(start, k), v) for k, v in entries.items()):
            continue  # unchanged (a config's own record read back): keep the object
        table[name] = dataclasses.replace(start, **entries)
    if len(table) > MAX_LEVELS:
        raise ConfigError("levels", f"at most {MAX_LEVELS} levels; got {len(table)}")
    return tuple(table.values())


def same_value(old: Any, new: Any) -> bool:
    """Equal and of the same type (1 and 1.0 differ: a change of type is a change of the input)."""
    return type(old) is type(new) and old == new


def render_text(level: Level, values: Mapping[str, Any]) -> str:
    """The level's teacher text with its placeholders filled from its parameters, its label and ``values``."""
    fill = {**values, **{name: getattr(level, name) for name in PARAMETERS}, "label": level.title}
    try:
        return level.text.format_map(fill) if level.text else f"**{level.title}**"
    except (KeyError, ValueError, IndexError, AttributeError) as error:
        names = sorted(n for _, n, _, _ in string.Formatter().parse(level.text) if n and n not in fill)
        problem = f"unknown placeholder {{{names[0]}}}" if names else f"cannot fill a placeholder ({error})"
        raise ConfigError(f"levels.{level.name}.text", problem) from None


def level_colours(levels: Sequence[Level] = DEFAULT_LEVELS) -> dict[str, str]:
    """Each level's colour: its own, or the next of :data:`FALLBACK_COLOURS` for levels that have none."""
    colours: dict[str, str] = {}
    spare = 0
    for level in levels:
        if level.colour:
            colours[level.name] = level.colour
        else:
            colours[level.name] = FALLBACK_COLOURS[spare % len(FALLBACK_COLOURS)]
            spare += 1
    return colours


def describe_levels(levels: Sequence[Level] = DEFAULT_LEVELS) -> list[dict[str, Any]]:
    """One record per level, with every parameter's value, unit, accepted range, plausible range and provenance.

    A value that differs from levels.toml is marked ``run config``; a new level's unchanged values carry the note of
    the shipped level it is based on.
    """
    colours = level_colours(levels)
    records = []
    for level in levels:
        parameters = []
        for name, spec in SPECS.items():
            value = getattr(level, name)
            origin = level.name if level.name in LEVELS else level.based_on
            note = NOTES.get((origin, name))
            if note is None or getattr(LEVELS[origin], name) != value:
                low, high = (note.low, note.high) if note else (None, None)
                note = Note("run config", "set in the run config", low, high)
            elif origin != level.name:
                note = dataclasses.replace(note, source=f"as {origin}: {note.source}")
            parameters.append(
                {
                    "name": name,
                    "value": value,
                    "unit": spec.metadata["unit"],
                    "allowed": _allowed_range(spec),
                    "range": None if note.low is None else [note.low, note.high],
                    "provenance": note.provenance,
                    "source": note.source,
                    "prior": note.prior.as_dict() if note.prior else None,
                    "meaning": spec.metadata["meaning"],
                }
            )
        records.append(
            {
                "name": level.name,
                "label": level.title,
                "colour": colours[level.name],
                "based_on": level.based_on or None,
                "parameters": parameters,
            }
        )
    return records


def _allowed_range(spec: dataclasses.Field) -> str:
    if kind(spec) == "bool":
        return "true or false"
    return f"{spec.metadata['low']:g} to {spec.metadata['high']:g}"


def draw_levels(rng: Any, levels: Sequence[Level] = DEFAULT_LEVELS) -> tuple[Level, ...]:
    """The levels with every parameter that has a prior drawn from it (for the propagation of parameter
    uncertainty); others keep their values. A level a run added draws with the priors of the level it is based on.

    Levels are drawn in order, so a prior ``above`` a level adds to that level's draw. Draws are clipped to each
    parameter's accepted range (whole numbers rounded); ``rng`` is a numpy Generator.
    """
    drawn: dict[str, Level] = {}
    for level in levels:
        origin = level.name if level.name in LEVELS else level.based_on
        changes: dict[str, Any] = {}
        for name, spec in SPECS.items():
            note = NOTES.get((origin, name))
            if note is None or note.prior is None:
                continue
            value = float(draw(note.prior, rng))
            if note.prior.above is not None:
                base = drawn.get(note.prior.above) or LEVELS[note.prior.above]
                value += getattr(base, name)
            changes[name] = clip(spec, value)
        drawn[level.name] = dataclasses.replace(level, **changes) if changes else level
    return tuple(drawn.values())
