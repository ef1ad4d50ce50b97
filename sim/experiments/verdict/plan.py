"""The verdict on the one engine: the spec compiled to two sweeps of explicit points, run by sim.engine.

- **Nominal**: every firm (unit) at the files' values (the levels' and segments' defaults), ``nominal_replications``
  replications: the TOST, the regret at the defaults and the analytic reduction.
- **Draws**: every unit at ``D`` parameter draws (levels from their priors, the segment's uncertain values, the two
  cost elasticities uniform over the spec's range), ``draw_replications`` replications each: P(best), expected
  regret, Monte Carlo error apart from parameter uncertainty, and the sensitivity.
- **Sensitivity**: the primary mapping's units at the further draws ``D`` … ``sensitivity_draws − 1``, once each:
  enough draws for the regression of the global sensitivity.
- **Robustness**: the primary mapping's units at the files' values with both cost elasticities set to each of
  ``robustness_elasticities``, and in the ``generic`` segment (today's model) with the same customers and value.
- **Hypercube**: the Latin hypercube's points (sim.experiments.verdict.hypercube) at the files' values.

Every point compares all five levels in one task with one seed (common random numbers across levels). Draw ``d`` is
the same "world" for every unit: the level draw is keyed by ``d`` alone, a segment's draw by (segment, ``d``), so
the rows of a mapping are compared under the same level effects. Every random number comes from
:func:`sim.engine.plan.derive_seed` keyed by names and indices, never by worker or order.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.core.config import FIELDS, SEGMENTS
from sim.core.levels import DEFAULT_LEVELS, LEVEL_NAMES, NOTES, draw_levels
from sim.core.segments import draw_segment
from sim.engine import api
from sim.engine.evaluators import Evaluator, make_evaluator
from sim.engine.plan import derive_seed, plan
from sim.engine.sweep import sweep_rows
from sim.experiments.verdict import hypercube
from sim.experiments.verdict.spec import Unit, VerdictSpec

# What each run reports per level: profit, and the parts the analytic reduction needs.
OUTPUTS = (
    "discounted_profit",
    "discounted_revenue",
    "discounted_gross_margin",
    "discounted_relationship_cost",
    "discounted_acquisition_cost",
    "retention_rate",
)
ELASTICITIES = ("contact_cost_elasticity", "account_cost_elasticity")
# Stream keys of derive_seed: which sweep, and which kind of parameter draw.
NOMINAL_SWEEP, DRAW_SWEEP, LEVEL_DRAW, SEGMENT_DRAW, ELASTICITY_DRAW = range(5)
SENSITIVITY_SWEEP, HYPERCUBE_SWEEP, HYPERCUBE_SAMPLE = range(5, 8)
GENERIC = "generic"  # the segment of today's model: the robustness table's comparison
CHUNKS = 64


def level_parameters() -> list[tuple[str, str]]:
    """(level, parameter) of every level parameter with a prior: what a level draw changes."""
    return [(level, name) for (level, name), note in NOTES.items() if note.prior is not None]


def units(spec: VerdictSpec) -> dict[Unit, int]:
    """Every distinct firm of the mappings and the factorial (as simulated) and its number of parameter draws."""
    found: dict[Unit, int] = {}
    for mapping in spec.mappings:
        draws = spec.draws if mapping.name == spec.primary else spec.alternative_draws
        for unit in mapping.rows.values():
            unit = spec.unit(unit)
            found[unit] = max(found.get(unit, 0), draws)
    if spec.factorial is not None:
        for _, unit in spec.factorial.units():
            unit = spec.unit(unit)
            found[unit] = max(found.get(unit, 0), spec.factorial.draws)
    return found


def margins(spec: VerdictSpec) -> list[float]:
    """Every margin any cell or factorial point needs: one simulation gives them all."""
    values = {cell.margin for cell in spec.cells}
    if spec.factorial is not None:
        values |= set(spec.factorial.margins)
    return sorted(values)


def drawn_values(spec: VerdictSpec, segment: str, draw: int) -> dict[str, Any]:
    """The fields of parameter draw ``draw`` for a firm of ``segment``: the segment's values (uncertain ones drawn),
    the drawn level parameters (``levels.NAME.PARAMETER``) and the two cost elasticities."""
    segment_index = list(SEGMENTS).index(segment)
    rng = np.random.default_rng(derive_seed(spec.seed, SEGMENT_DRAW, segment_index, draw))
    values = draw_segment(SEGMENTS[segment], rng, FIELDS)
    rng = np.random.default_rng(derive_seed(spec.seed, LEVEL_DRAW, draw))
    levels = {level.name: level for level in draw_levels(rng)}
    values |= {f"levels.{level}.{name}": getattr(levels[level], name) for level, name in level_parameters()}
    rng = np.random.default_rng(derive_seed(spec.seed, ELASTICITY_DRAW, draw))
    low, high = spec.elasticity
    values |= {name: float(rng.uniform(low, high)) for name in ELASTICITIES}
    return values


def _unit_fields(unit: Unit) -> dict[str, Any]:
    return {"segment": unit.segment, "n_customers": unit.customers, "revenue_per_customer": unit.revenue_per_customer}


def _sweep_data(spec: VerdictSpec, points: list[dict[str, Any]], labels: list[str], seed: int, reps: int,
                crn: bool = False) -> dict:  # fmt: skip
    simulations = max(1, len(points) // len(margins(spec))) * reps
    return {
        "sweep": {
            "name": "verdict",
            "design": "points",
            "labels": labels,
            "replications": reps,
            "seed": seed,
            # crn: replication r of every point gets one seed (the nominal and robustness sweeps: a setting is compared
            # with the files' values on the same random numbers); else independent seeds per firm and draw. The
            # levels of a point always share its task's seed.
            "common_random_numbers": crn,
            "chunk_size": max(1, -(-simulations // CHUNKS)),
        },
        "fixed": {"years": spec.years},
        "points": points,
        "compare": {"levels": list(LEVEL_NAMES), "metric": spec.metric},
        "outputs": {"metrics": list(OUTPUTS)},
    }


def nominal_data(spec: VerdictSpec) -> dict[str, Any]:
    """The nominal sweep: every firm at the files' values."""
    points = [
        {"unit": unit.name, **_unit_fields(unit), "margin": margin} for unit in units(spec) for margin in margins(spec)
    ]
    seed = derive_seed(spec.seed, NOMINAL_SWEEP)
    return _sweep_data(spec, points, ["unit"], seed, spec.nominal_replications, crn=True)


def draw_data(spec: VerdictSpec) -> dict[str, Any] | None:
    """The draws sweep: every firm at each of its parameter draws (None when no firm has draws)."""
    points = []
    for unit, draws in units(spec).items():
        for draw in range(draws):
            values = drawn_values(spec, unit.segment, draw)
            for margin in margins(spec):
                points.append({"unit": unit.name, "draw": str(draw), **values, **_unit_fields(unit), "margin": margin})
    if not points:
        return None
    return _sweep_data(spec, points, ["unit", "draw"], derive_seed(spec.seed, DRAW_SWEEP), spec.draw_replications)


def primary_units(spec: VerdictSpec) -> list[Unit]:
    """The primary mapping's firms as simulated, once each."""
    return list(dict.fromkeys(spec.unit(u) for u in spec.mapping(spec.primary).rows.values()))


def sensitivity_data(spec: VerdictSpec) -> dict[str, Any] | None:
    """The further draws of the primary mapping's firms (one replication each) for the regression."""
    points = []
    for unit in primary_units(spec):
        for draw in range(spec.draws, spec.sensitivity_draws):
            values = drawn_values(spec, unit.segment, draw)
            for margin in margins(spec):
                points.append({"unit": unit.name, "draw": str(draw), **values, **_unit_fields(unit), "margin": margin})
    if not points:
        return None
    return _sweep_data(spec, points, ["unit", "draw"], derive_seed(spec.seed, SENSITIVITY_SWEEP), 1)


def robustness_settings(spec: VerdictSpec) -> dict[str, dict[str, Any]]:
    """The robustness table's settings: a name and the fields it changes from the files' values."""
    settings = {f"elasticity {e:g}": dict.fromkeys(ELASTICITIES, e) for e in spec.robustness_elasticities}
    generic = {"segment": GENERIC} | {name: SEGMENTS[GENERIC].values[name] for name in ELASTICITIES}
    return settings | {f"segment {GENERIC}": generic}  # every point names the same fields


def robustness_data(spec: VerdictSpec) -> dict[str, Any]:
    points = [
        {"unit": unit.name, "setting": name, **_unit_fields(unit), **fields, "margin": margin}
        for unit in primary_units(spec)
        for name, fields in robustness_settings(spec).items()
        for margin in margins(spec)
    ]
    seed = derive_seed(spec.seed, NOMINAL_SWEEP)  # the nominal sweep's seeds: paired with the files' values
    return _sweep_data(spec, points, ["unit", "setting"], seed, spec.nominal_replications, crn=True)


def hypercube_points(spec: VerdictSpec) -> list[dict[str, Any]]:
    return hypercube.sample(spec, derive_seed(spec.seed, HYPERCUBE_SAMPLE))[1] if spec.hypercube else []


def hypercube_data(spec: VerdictSpec) -> dict[str, Any] | None:
    if spec.hypercube is None:
        return None
    keys = ("sample", "segment", "n_customers", "revenue_per_customer", "margin")
    points = [{key: p[key] for key in keys} for p in hypercube_points(spec) if p["recommended"]]
    seed = derive_seed(spec.seed, HYPERCUBE_SWEEP)
    return _sweep_data(spec, points, ["sample"], seed, spec.hypercube.replications)


def sweeps(spec: VerdictSpec) -> dict[str, dict[str, Any]]:
    """Every sweep of the experiment by name (those with no points left out)."""
    data = {"nominal": nominal_data(spec), "draws": draw_data(spec), "sensitivity": sensitivity_data(spec),
            "robustness": robustness_data(spec), "hypercube": hypercube_data(spec)}  # fmt: skip
    return {name: d for name, d in data.items() if d is not None}


def check(spec: VerdictSpec) -> None:
    """Validate every sweep (every distinct config built through the model's checks) before anything runs."""
    for data in sweeps(spec).values():
        plan(api.as_spec(data))


def run_sweeps(
    spec: VerdictSpec,
    *,
    evaluator: Evaluator | None = None,
    workers: int | None = None,
    store: str | Path | None = None,
    progress: bool = False,
) -> tuple[dict[str, pd.DataFrame], dict[str, float]]:
    """Run every sweep on one evaluator; the engine's rows of each by name, and the timings.

    ``store``: a folder for the engine's resumable stores, one per sweep (``store/NAME/``), so that a rerun after
    an interruption continues where it stopped; without it the runs stay in memory (the same rows either way).
    """
    evaluator = evaluator or make_evaluator(workers)
    started = time.perf_counter()
    specs = {  # named apart, so that each sweep's progress bar says which it is
        name: api.as_spec({**data, "sweep": {**data["sweep"], "name": f"verdict {name}"}})
        for name, data in sweeps(spec).items()
    }
    timings = {"checks_s": time.perf_counter() - started}
    frames = {}
    with evaluator:
        for name, sweep_spec in specs.items():
            started = time.perf_counter()
            where = None if store is None else Path(store) / name
            frames[name], _ = sweep_rows(sweep_spec, evaluator, where, progress)
            timings[f"{name}_s"] = time.perf_counter() - started
    return frames, timings


def default_level_values() -> dict[str, float]:
    """The files' values of every drawn level parameter (the nominal runs use them)."""
    levels = {level.name: level for level in DEFAULT_LEVELS}
    return {f"levels.{level}.{name}": getattr(levels[level], name) for level, name in level_parameters()}
