"""From a spec to runs: design points (grid, explicit points, Latin hypercube, Sobol/Saltelli, Morris via SALib), the
one seed rule (:func:`run_seed`), simulations shared across accounting-only factors and labels, and chunks."""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from sim.core.config import ConfigError, from_mapping
from sim.core.costs import size_dependent
from sim.core.inputs import segment_base
from sim.core.levels import LEVEL_NAMES, level_index
from sim.core.limits import check_design
from sim.core.schema import VARYING
from sim.engine import checks
from sim.engine.sweepspec import ACCOUNTING_FIELDS, CUSTOMERS, KEY_COLUMNS, SweepSpec


# ----------------------------------------------------------------------------------------------------------------
# The design: points, simulations, seeds, chunks
# ----------------------------------------------------------------------------------------------------------------
def design(spec: SweepSpec) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """The design points of one scenario: the sampler's matrix X (points × factors) and each point's values.

    Grid: the Cartesian product of the factors' values (the last factor varies fastest; X holds value indices
    for lists and the values for ranges); points: the spec's own points, in order (of every scenario: each point
    names its own). Sampled designs come from SALib with the sweep seed, so the same spec always gives the same
    points (and sim.experiments.sensitivity can rebuild X for the analysis).
    """
    factors = spec.factors
    if spec.design in ("grid", "points"):
        if spec.design == "grid":
            combos = list(itertools.product(*(f.values or () for f in factors)))
        else:
            combos = [tuple(point[name] for name in spec.factor_names) for point in spec.points]
        # X: the value itself for numbers, the position in the list for choices (levels, tiers, labels)
        x = np.array(
            [
                [(f.values or ()).index(v) if f.kind == "choice" else v for f, v in zip(factors, c, strict=True)]
                for c in combos
            ],
            dtype=float,
        ).reshape(len(combos), len(factors))
        return x, [dict(zip(spec.factor_names, c, strict=True)) for c in combos]
    problem = spec.problem()
    sample_seed = int(np.random.SeedSequence(spec.seed, spawn_key=(2**31,)).generate_state(1)[0])
    x = _salib_sample(spec, problem, sample_seed)
    points = [{f.name: f.value(v) for f, v in zip(factors, row, strict=True)} for row in x]
    return x, points


def _salib_sample(spec: SweepSpec, problem: dict[str, Any], seed: int) -> np.ndarray:
    try:
        if spec.design == "latin":
            from SALib.sample import latin

            return latin.sample(problem, spec.samples, seed=seed)
        if spec.design == "sobol":
            from SALib.sample import sobol

            return sobol.sample(problem, spec.samples, calc_second_order=False, seed=seed)
        from SALib.sample import morris

        return morris.sample(problem, spec.samples, num_levels=spec.morris_levels, seed=seed)
    except ImportError:
        raise checks.fail("sweep.design", f"{spec.design} needs SALib: pip install SALib") from None


def derive_seed(root: int, *key: int) -> int:
    """The one seed rule: a model seed spawned from a root seed by a key (SeedSequence spawn key).

    Every experiment derives its runs' seeds here, so a run's seed depends only on the root and its key, never
    on the order or the process in which runs are evaluated.
    """
    state = np.random.SeedSequence(root, spawn_key=key).generate_state(1, np.uint64)[0]
    return int(state >> np.uint64(1))  # the model accepts seeds up to 2**63 - 1


def run_seed(spec: SweepSpec, simulation: int, replication: int) -> int:
    """The model seed of one simulation: spawned from the sweep seed by (simulation, replication).

    With common random numbers every point of replication r gets the same seed, spawn key (r,): differences
    between points are then paired, as differences between levels already are (they share every run's seed).
    """
    key = (replication,) if spec.common_random_numbers else (simulation, replication)
    return derive_seed(spec.seed, *key)


@dataclass
class Plan:
    """Every simulation of a sweep, cut into chunks; rows are keyed by ``run = point × replications + r``."""

    spec: SweepSpec
    points: list[dict[str, Any]]  # over all scenarios; a point's values include "scenario" when there are any
    chunks: list[dict[str, Any]]
    runs: int
    simulations: int

    @property
    def columns(self) -> list[str]:
        scenario = ["scenario"] if self.spec.scenarios else []
        return [*KEY_COLUMNS, *scenario, *self.spec.factor_names, *self.spec.output_columns()]


_LAST_PLAN: dict[str, Plan] = {}  # the last plan made, by spec hash: loading a spec checks it, running it reuses it


def plan(spec: SweepSpec) -> Plan:
    """Design points → simulations (sharing across margins) → chunks; every config validated once. A pure
    function of the spec (of what its hash covers), so the last one is kept and handed out again."""
    key = spec.hash()
    held = _LAST_PLAN.get(key)
    if held is None:
        held = _plan(spec)
        _LAST_PLAN.clear()
        _LAST_PLAN[key] = held
    return dataclasses.replace(held, spec=spec)


def _plan(spec: SweepSpec) -> Plan:
    if spec.design == "points":  # explicit points each name their own scenario
        check_design("points", len(spec.points), [], 1, spec.replications)
    else:  # before building it
        sizes = [len(f.values or ()) for f in spec.factors]
        check_design(spec.design, spec.samples, sizes, len(spec.scenarios), spec.replications)
    _, one = design(spec)
    scenarios = spec.scenarios or (("", {}),)
    points: list[dict[str, Any]] = []
    if spec.design == "points":  # each point names its own scenario
        named = [{"scenario": p["scenario"]} if spec.scenarios else {} for p in spec.points]
        points = [scenario | values for scenario, values in zip(named, one, strict=True)]
    else:
        for name, _ in scenarios:
            points += [({"scenario": name} if spec.scenarios else {}) | p for p in one]
    shared = spec.model_factors  # points differing only in margin or labels share a simulation
    groups: dict[tuple[Any, ...], list[int]] = {}
    for index, point in enumerate(points):
        groups.setdefault((point.get("scenario"), *(point[n] for n in shared)), []).append(index)
    overrides = dict(scenarios)
    first_level = spec.compare_levels[0] if spec.compare_levels else None
    replications = spec.replications
    tasks = []
    for g, members in enumerate(groups.values()):
        point = points[members[0]]
        params, scale = _params(spec, point, overrides.get(point.get("scenario", ""), {}))
        if scale != 1.0:
            _whole_firm(params)
        _validate(spec, point, {**params, **({"level": first_level} if first_level else {})}, members[0])
        targets = [
            {
                "point": p,
                "margin": points[p].get("margin", params["margin"]),
                "scale": scale,
                "values": points[p],
            }
            for p in members
        ]
        for r in range(replications):
            tasks.append(
                {"params": params, "seed": run_seed(spec, g, r), "replication": r, "targets": targets, "simulation": g}
            )
    for level in spec.compare_levels:  # each level once: the rest of its config was checked above
        _validate(spec, {}, {**spec.base, "level": level})
    for name in ACCOUNTING_FIELDS:  # shared simulations were checked at one value; check every other value once
        first = {point[name]: index for index, point in reversed(list(enumerate(points))) if name in point}
        for value, index in first.items():
            _validate(spec, {name: value}, {**spec.base, name: value}, index)
    size = spec.chunk_size or automatic_chunk_size(len(tasks))
    settings = {
        "metrics": list(spec.metrics),
        "levels": list(spec.compare_levels),
        "compare_metric": spec.compare_metric,
        "baseline": spec.baseline,
        "derived": list(spec.derived),
        "replications": replications,
    }
    chunks = cut(batch_order(tasks, spec), settings, size)
    return Plan(spec, points, chunks, runs=len(points) * replications, simulations=len(tasks))


def batch_order(tasks: list[dict[str, Any]], spec: SweepSpec) -> list[dict[str, Any]]:
    """The tasks in the order chunks are cut from: alike simulations together, so that a chunk's batch holds runs
    of one structure, level and size (sim/core/batch.py): a batch of one level costs some 15 % less per run than
    a mixed one (fewer empty slots, no level's rules applied to rows that do not use them). The larger and the
    more service-intensive come first, so that the dearest chunks start first and the last ones are cheap.
    Which chunk a simulation lands in changes neither its seed nor its numbers; rows are sorted by run."""
    structural = [name for name in spec.factor_names if name not in VARYING]  # factors a batch cannot vary
    keys: dict[int, tuple[Any, ...]] = {}
    for task in tasks:
        params = task["params"]
        if id(params) not in keys:
            scenario = task["targets"][0]["values"].get("scenario", "")
            structure = (scenario, *(repr(params.get(name)) for name in structural))
            rank = -_level_rank(params.get("level"))
            keys[id(params)] = (structure, rank, -float(params.get("n_customers", 0)))
    return sorted(tasks, key=lambda task: keys[id(task["params"])])


def plan_order(tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The tasks in the design's order (how sweeps stored before :func:`batch_order` were cut)."""
    return sorted(tasks, key=lambda task: (task["simulation"], task["replication"]))


def _level_rank(level: Any) -> int:
    """A shipped level's place in Kotler's order (Partnership serves most); a level defined in a config: 0."""
    return level_index(level) + 1 if level in LEVEL_NAMES else 0


def automatic_chunk_size(simulations: int) -> int:
    """Simulations per chunk when the spec does not say: enough for a worker to step them together
    (sim/core/batch.py: a batch of 128–256 small runs costs about as much per run as a larger one), few enough for
    some 32 chunks to share the workers, so that the last ones end close together (measured on the 10,000-run scale
    sweep: 160 per chunk ends 4 % sooner than 256 on 2 workers)."""
    return max(1, min(160, math.ceil(simulations / 32)))


def legacy_chunk_size(simulations: int) -> int:
    """The automatic size of sweeps stored before batching (their manifests record no chunk size)."""
    return max(1, min(32, math.ceil(simulations / 256)))


def cut(tasks: list[dict[str, Any]], settings: dict[str, Any], size: int) -> list[dict[str, Any]]:
    """The tasks in chunks of ``size``, numbered in order: a chunk is a Parquet part and a unit of work."""
    return [
        {"chunk": c, "settings": settings, "tasks": tasks[start : start + size]}
        for c, start in enumerate(range(0, len(tasks), size))
    ]


def _params(spec: SweepSpec, point: Mapping[str, Any], scenario: Mapping[str, Any]) -> tuple[dict[str, Any], float]:
    """A point's model fields (without level when levels are compared) and the scale from sample to firm."""
    skip = ("scenario", CUSTOMERS, *spec.labels)
    changes = {**scenario, **{k: v for k, v in point.items() if k not in skip}}
    base = segment_base(spec.base) if "segment" in changes else spec.base  # the segment's profile, own fields kept
    params = {**base, **changes}
    scale = 1.0
    customers = point.get(CUSTOMERS, spec.customers)
    if customers is not None:
        # a point of a points design may name the sample it simulates
        simulated = point.get("n_customers") or min(customers, spec.sample_customers or customers)
        params["n_customers"] = simulated
        if spec.total_revenue is not None:
            params["revenue_per_customer"] = spec.total_revenue / customers
        scale = customers / simulated
    params.pop("seed", None)
    if spec.compare_levels:
        params.pop("level", None)
    return params, scale


def _whole_firm(params: Mapping[str, Any]) -> None:
    """A sample of the customers scaled up misstates mechanisms that depend on the number of customers."""
    try:
        found = size_dependent(from_mapping({**params, "seed": 0}))
    except ConfigError:
        return  # reported with its key by _validate
    if found:
        raise checks.fail(
            "sweep.sample_customers",
            f"cannot scale a sample up: {', '.join(found)} depend on the number of customers (remove "
            "sample_customers, or switch them off)",
        )


def _validate(spec: SweepSpec, point: Mapping[str, Any], params: Mapping[str, Any], index: int = 0) -> None:
    try:
        from_mapping({**params, "seed": 0})
    except ConfigError as error:
        name = error.field
        varied = f"points[{index}]" if spec.design == "points" else "vary"
        if name in point:
            key = f"{varied}.{name}"
        elif name in ("n_customers", "revenue_per_customer") and spec.uses_customers:
            key = f"{varied}.{CUSTOMERS}" if CUSTOMERS in point else f"fixed.{CUSTOMERS}"
        elif point.get("scenario") and name in dict(spec.scenarios).get(point["scenario"], {}):
            key = f"scenarios.{point['scenario']}.{name}"
        elif name in spec.fixed:
            key = f"fixed.{name}"
        elif spec.base_config:
            key = "sweep.base_config"
        else:
            key = name
        values = ", ".join(f"{k}={v!r}" for k, v in point.items())
        raise checks.fail(key, checks.message(error) + (f" (at {values})" if values else "")) from None
