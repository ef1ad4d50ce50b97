"""Reading what a sweep varies: the factors of [vary] (lists of values, or ranges on a linear or log scale) and a
points design's explicit [[points]]; every error one :class:`~sim.errors.ConfigError` naming its key. The rest of the
spec is read by :mod:`sim.engine.spec`."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np

from sim.core.config import FIELDS
from sim.core.inputs import is_field
from sim.engine import checks
from sim.engine.sweepspec import CUSTOMERS, KEY_COLUMNS, SWEEP_FIELDS, Factor


def check_field_name(key: str, name: str, *, allow_customers: bool = True) -> None:
    """Refuse ``name`` under ``key`` unless a spec may set it: a config field (not the sweep's own seed) or, where
    allowed, ``customers``."""
    if name in SWEEP_FIELDS:
        raise checks.fail(key, "set by the sweep for every run (from sweep.seed); not allowed here")
    if name == CUSTOMERS and allow_customers:
        return
    if not is_field(name):
        hint = " or customers" if allow_customers else ""
        raise checks.fail(key, f"unknown field; see `relsim fields` for the allowed names{hint}")


def varied_factors(data: Mapping[str, Any], design: str) -> tuple[Factor, ...]:
    """[vary]: the factors of a grid or sampled design."""
    if "points" in data:
        raise checks.fail("points", f"only for design = points; design {design} takes its factors from [vary]")
    vary = checks.table("vary", data.get("vary", {}))
    if not vary:
        raise checks.fail("vary", "at least one factor is needed")
    factors = tuple(_parse_factor(name, raw, design) for name, raw in vary.items())
    if design == "morris" and len(factors) < 2:
        raise checks.fail("vary", "Morris screening needs at least two factors")
    return factors


def _parse_factor(name: str, raw: Any, design: str) -> Factor:
    """One [vary] entry: a list of values, or a range {low, high[, steps][, scale]} (steps only for a grid)."""
    key = f"vary.{name}"
    check_field_name(key, name)
    probe = Factor(name)
    if isinstance(raw, list):
        if not raw:
            raise checks.fail(key, "empty list: give at least one value")
        # TOML writes 1 for 1.0: ints become floats for number fields; anything else is left to the model's checks
        values = tuple(
            float(v) if probe.kind == "number" and isinstance(v, int) and not isinstance(v, bool) else v for v in raw
        )
        for i, value in enumerate(values):
            if values.index(value) != i:
                raise checks.fail(key, f"lists {value!r} twice")
            if probe.kind != "choice" and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise checks.fail(f"{key}[{i}]", f"must be a number; got {value!r}")
        return Factor(name, values=values)
    if not isinstance(raw, Mapping):
        raise checks.fail(key, f"give a list of values or a range {{low, high[, steps][, scale]}}; got {raw!r}")
    checks.no_unknown(f"{key}.", raw, ("low", "high", "steps", "scale"))
    if probe.kind == "choice":
        raise checks.fail(key, "a choice field takes a list of values, not a range")
    for bound in ("low", "high"):
        if bound not in raw:
            raise checks.fail(f"{key}.{bound}", "missing")
    low, high = checks.number(f"{key}.low", raw["low"]), checks.number(f"{key}.high", raw["high"])
    scale = raw.get("scale", "linear")
    if scale not in ("linear", "log"):
        raise checks.fail(f"{key}.scale", f"must be linear or log; got {scale!r}")
    if scale == "log" and low <= 0:
        raise checks.fail(f"{key}.low", f"a log scale needs a low above 0; got {low:g}")
    if design == "grid":
        if "steps" not in raw:
            raise checks.fail(f"{key}.steps", "missing: a grid needs the number of values of each range")
        steps = checks.integer(f"{key}.steps", raw["steps"], 1, 1_000_000)
        if high < low or (steps > 1 and high == low):
            raise checks.fail(key, f"empty range: low {low:g} to high {high:g} in {steps} steps")
        if scale == "log":
            grid = np.logspace(math.log10(low), math.log10(high), steps)
        else:
            grid = np.linspace(low, high, steps)
        return Factor(name, values=tuple(dict.fromkeys(probe.cast(v) for v in grid.tolist())), scale=scale)
    if "steps" in raw:
        raise checks.fail(f"{key}.steps", f"only for design = grid; design {design} samples the range [low, high]")
    if not low < high:
        raise checks.fail(key, f"empty range: low {low:g} must be below high {high:g}")
    return Factor(name, low=low, high=high, scale=scale)


def explicit_points(data: Mapping[str, Any], sweep: Mapping[str, Any], scenarios: Mapping[str, Any]) -> tuple:
    """[[points]]: explicit design points, all with the same keys (fields, customers, labels, their scenario)."""
    if "vary" in data:
        raise checks.fail("vary", "design = points lists its points in [[points]], not [vary]")
    labels = sweep.get("labels", [])
    if not isinstance(labels, list) or not all(isinstance(label, str) and label for label in labels):
        raise checks.fail("sweep.labels", f"must be a list of column names; got {labels!r}")
    for i, label in enumerate(labels):
        if label in FIELDS or label in (CUSTOMERS, "scenario", *KEY_COLUMNS) or labels.index(label) != i:
            raise checks.fail(f"sweep.labels[{i}]", f"{label!r} is a field, a reserved column or listed twice")
    raw = data.get("points")
    if not isinstance(raw, list) or not raw:
        raise checks.fail("points", "design = points needs at least one [[points]] table")
    keys = [key for key in checks.table("points[0]", raw[0]) if key != "scenario"]
    factors = {key: Factor(key, label=key in labels) for key in keys}
    for key in keys:
        if key not in labels:
            check_field_name(f"points[0].{key}", key)
    points = []
    for i, point in enumerate(raw):
        point = checks.table(f"points[{i}]", point)
        missing = sorted(set(keys) - set(point)) or sorted(set(labels) - set(point))
        if missing:
            raise checks.fail(f"points[{i}].{missing[0]}", "missing: every point gives the same keys")
        checks.no_unknown(f"points[{i}].", point, [*keys, *(["scenario"] if scenarios else [])])
        values = {key: _point_value(f"points[{i}].{key}", factors[key], point[key]) for key in keys}
        if scenarios:
            if point.get("scenario") not in scenarios:
                allowed = ", ".join(scenarios)
                raise checks.fail(f"points[{i}].scenario", f"must be one of {allowed}; got {point.get('scenario')!r}")
            values = {"scenario": point["scenario"], **values}
        if CUSTOMERS in values and "n_customers" in values and values["n_customers"] > values[CUSTOMERS]:
            raise checks.fail(f"points[{i}].n_customers", f"simulates more than the {values[CUSTOMERS]} customers")
        points.append(values)
    columns = tuple(replace(factors[key], values=tuple(dict.fromkeys(p[key] for p in points))) for key in keys)
    return columns, tuple(points)


def _point_value(key: str, factor: Factor, value: Any) -> Any:
    if factor.label or factor.kind == "choice":
        if not isinstance(value, str) or not value:
            raise checks.fail(key, f"must be a non-empty string; got {value!r}")
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise checks.fail(key, f"must be a number; got {value!r}")
    if factor.kind == "integer" and not (isinstance(value, int) or float(value).is_integer()):
        raise checks.fail(key, f"must be a whole number; got {value!r}")
    return int(value) if factor.kind == "integer" else float(value)
