"""Parameter sweeps (issue 6): a spec as data, runs as pure functions, results as resumable Parquet.

The pieces, in the order ``relsim sweep SPEC.toml`` uses them (docs/SWEEPS.md explains the format and design):

- :func:`load_spec` reads a TOML spec into a validated :class:`SweepSpec` (base config, fixed fields, factors,
  design, replications, seed, outputs); every error is one :class:`~sim.core.config.ConfigError` naming its key;
- :func:`design` turns the factors into design points (grid, Latin hypercube, Sobol/Saltelli, Morris; the sampled
  designs come from SALib);
- :func:`plan` lists the simulations: points that differ only in ``margin`` share one simulation (margin enters
  only the accounts), each simulation's seed derives from the sweep seed and its index (SeedSequence spawning),
  and simulations are cut into chunks;
- :func:`run_chunk` runs one chunk: a pure, picklable function of plain data returning plain rows, so any
  evaluator (:mod:`sim.engine.evaluators`: in-process, process pool, Dask) gives bit-identical results;
- :func:`run_sweep` drives an evaluator and appends each finished chunk to ``parts/`` as one Parquet file,
  written atomically; a restarted sweep skips the chunks already written (resume), and a finished one is
  consolidated into ``runs.parquet``. ``manifest.json`` holds the spec and its hash;
- :func:`add_sweep_parser` and :func:`run_sweep_command` are the ``relsim sweep`` command.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import shutil
import sys
import time
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from sim import __version__
from sim.core.config import FIELDS, ConfigError, from_mapping, load
from sim.core.levels import LEVEL_NAMES
from sim.engine import checks
from sim.engine.evaluators import Evaluator, make_evaluator
from sim.files import atomic_write

# ----------------------------------------------------------------------------------------------------------------
# Names
# ----------------------------------------------------------------------------------------------------------------
DESIGNS = {"grid": "grid", "latin": "latin", "lhs": "latin", "sobol": "sobol", "saltelli": "sobol", "morris": "morris"}
CUSTOMERS = "customers"  # a virtual factor: the real firm's customers (simulated as a sample, totals scaled)
SWEEP_FIELDS = ("seed",)  # set by the sweep itself, per run
ACCOUNTING_FIELDS = ("margin",)  # enter only the accounts: points differing only in these share a simulation

# Totals of the real firm (scaled from a sampled population); computed from the monthly record without pandas.
TOTAL_METRICS = (
    "revenue",
    "gross_margin",
    "relationship_cost",
    "acquisition_cost",
    "profit",
    "discounted_profit",
    "discounted_revenue",
    "discounted_gross_margin",
    "discounted_relationship_cost",
    "discounted_acquisition_cost",
    "active_customers_end",
)
RATE_METRICS = ("retention_rate", "churn_rate", "cost_to_serve_per_customer")
# The rest of `relsim run --json`'s scalars; these need sim.outputs.results.summarise (slower), so only when asked for.
SUMMARY_METRICS = (
    "nps",
    "complaints_per_customer_year",
    "recovery_rate",
    *(f"cost_to_serve_by_activity.{a}" for a in ("question", "complaint", "welcome_call", "outreach")),
    "cost_to_serve_by_activity.account_management",
    "cost_to_serve_by_channel.agent",
    "cost_to_serve_by_channel.ivr",
    *(f"quadrant_shares.{q}" for q in ("loyalist", "hostage", "mercenary", "defector")),
)
METRICS = TOTAL_METRICS + RATE_METRICS + SUMMARY_METRICS
DERIVED = ("winner", "advantage", "lead")
DEFAULT_METRICS = ("discounted_profit", "profit", "retention_rate", "cost_to_serve_per_customer")

MANIFEST = "manifest.json"
PARTS = "parts"
RESULTS = "runs.parquet"
KEY_COLUMNS = ("run", "point", "replication", "seed")


# ----------------------------------------------------------------------------------------------------------------
# The specification
# ----------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Factor:
    """One varied input: a model field or ``customers``; explicit values, or a range (bounds, steps, scale)."""

    name: str
    values: tuple[Any, ...] | None = None  # a list, or a grid range already expanded
    low: float | None = None
    high: float | None = None
    scale: str = "linear"  # "log": evenly spaced (grid) or sampled uniformly (other designs) in log10

    @property
    def kind(self) -> str:
        """ "choice", "integer" or "number": how values are stored and rounded."""
        if self.name == CUSTOMERS:
            return "integer"
        spec = FIELDS[self.name]
        if "choices" in spec.metadata:
            return "choice"
        return "integer" if spec.type in ("int", int) else "number"

    @property
    def discrete(self) -> bool:
        return self.low is None

    def bounds(self) -> list[float]:
        """The factor's interval in the sampler's space: log10 for log scales, [0, k) for a list of k values."""
        if self.discrete:
            return [0.0, float(len(self.values or ()))]
        assert self.low is not None and self.high is not None
        if self.scale == "log":
            return [math.log10(self.low), math.log10(self.high)]
        return [float(self.low), float(self.high)]

    def value(self, x: float) -> Any:
        """The input value at sample coordinate ``x`` (inverse of :meth:`bounds`)."""
        if self.discrete:
            values = self.values or ()
            return values[min(int(x), len(values) - 1)]
        return self.cast(10.0**x if self.scale == "log" else x)

    def cast(self, value: Any) -> Any:
        if self.kind == "integer":
            return round(value)
        if self.kind == "number":
            return float(f"{float(value):.12g}") if isinstance(value, (int, float)) else value
        return value


@dataclass(frozen=True)
class SweepSpec:
    """A whole sweep as data (see docs/SWEEPS.md for the TOML format)."""

    factors: tuple[Factor, ...]
    base: Mapping[str, Any]  # every model field: defaults ← base_config ← [fixed]
    design: str = "grid"
    samples: int | None = None
    morris_levels: int = 4
    replications: int = 1
    seed: int = 0
    common_random_numbers: bool = False
    scenarios: tuple[tuple[str, Mapping[str, Any]], ...] = ()
    customers: int | None = None  # fixed real customer count (when `customers` is in [fixed])
    total_revenue: float | None = None
    sample_customers: int | None = None
    compare_levels: tuple[str, ...] = ()
    compare_metric: str = "discounted_profit"
    baseline: str | None = None
    metrics: tuple[str, ...] = DEFAULT_METRICS
    derived: tuple[str, ...] = ()
    chunk_size: int = 0  # simulations per Parquet part; 0: automatic
    name: str = "sweep"
    out: str | None = None
    base_config: str | None = None
    source: str | None = None
    source_text: str | None = None
    fixed: Mapping[str, Any] = field(default_factory=dict)

    @property
    def factor_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.factors)

    @property
    def uses_customers(self) -> bool:
        return self.customers is not None or CUSTOMERS in self.factor_names

    def problem(self) -> dict[str, Any]:
        """The SALib problem: one variable per factor, bounds in the sampler's space (log10 for log scales)."""
        return {
            "num_vars": len(self.factors),
            "names": [f.name if f.scale != "log" else f"log10_{f.name}" for f in self.factors],
            "bounds": [f.bounds() for f in self.factors],
        }

    def output_columns(self) -> list[str]:
        """Names of the output columns of every row."""
        if not self.compare_levels:
            return list(self.metrics)
        columns = [f"{metric}.{level}" for metric in self.metrics for level in self.compare_levels]
        if "winner" in self.derived:
            columns.append("winner")
        if "advantage" in self.derived:
            columns += [f"advantage.{level}" for level in self.compare_levels if level != self.baseline]
        if "lead" in self.derived:
            columns.append("lead")
        return columns

    def canonical(self) -> dict[str, Any]:
        """Everything that determines the results, as plain JSON data (the manifest's hash is over this)."""
        return {
            "relsim": __version__,
            "design": self.design,
            "samples": self.samples,
            "morris_levels": self.morris_levels if self.design == "morris" else None,
            "replications": self.replications,
            "seed": self.seed,
            "common_random_numbers": self.common_random_numbers,
            "base": dict(sorted(self.base.items())),
            "factors": [
                {
                    "name": f.name,
                    "values": list(f.values) if f.values else None,
                    "low": f.low,
                    "high": f.high,
                    "scale": f.scale,
                }
                for f in self.factors
            ],
            "scenarios": [[name, dict(sorted(values.items()))] for name, values in self.scenarios],
            "customers": self.customers,
            "total_revenue": self.total_revenue,
            "sample_customers": self.sample_customers,
            "compare": {"levels": list(self.compare_levels), "metric": self.compare_metric, "baseline": self.baseline},
            "metrics": list(self.metrics),
            "derived": list(self.derived),
            "chunk_size": self.chunk_size,
        }

    def hash(self) -> str:
        text = json.dumps(self.canonical(), sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


SECTIONS = ("sweep", "fixed", "vary", "scenarios", "compare", "outputs")
SWEEP_KEYS = (
    "name",
    "base_config",
    "out",
    "design",
    "samples",
    "morris_levels",
    "replications",
    "seed",
    "common_random_numbers",
    "total_revenue",
    "sample_customers",
    "chunk_size",
)


def _check_field_name(key: str, name: str, *, allow_customers: bool = True) -> None:
    if name in SWEEP_FIELDS:
        raise checks.fail(key, "set by the sweep for every run (from sweep.seed); not allowed here")
    if name == CUSTOMERS and allow_customers:
        return
    if name not in FIELDS:
        hint = " or customers" if allow_customers else ""
        raise checks.fail(key, f"unknown field; see `relsim fields` for the allowed names{hint}")


def _parse_factor(name: str, raw: Any, design: str) -> Factor:
    key = f"vary.{name}"
    _check_field_name(key, name)
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


def parse_spec(data: Mapping[str, Any], base_dir: Path | str = ".", source: str | None = None) -> SweepSpec:
    """A validated :class:`SweepSpec` from a TOML document's data; every error names its key."""
    base_dir = Path(base_dir)
    checks.no_unknown("", data, SECTIONS)
    sweep = checks.table("sweep", data.get("sweep", {}))
    checks.no_unknown("sweep.", sweep, SWEEP_KEYS)

    design_name = sweep.get("design", "grid")
    if design_name not in DESIGNS:
        raise checks.fail("sweep.design", f"must be one of {', '.join(DESIGNS)}; got {design_name!r}")
    design = DESIGNS[design_name]
    settings: dict[str, Any] = {
        "design": design,
        "replications": checks.integer("sweep.replications", sweep.get("replications", 1), 1, 1_000_000),
        "seed": checks.integer("sweep.seed", sweep.get("seed", 0), 0, 2**63 - 1),
        "chunk_size": checks.integer("sweep.chunk_size", sweep.get("chunk_size", 0), 0, 1_000_000),
        "morris_levels": checks.integer("sweep.morris_levels", sweep.get("morris_levels", 4), 2, 1000),
    }
    crn = sweep.get("common_random_numbers", False)
    if not isinstance(crn, bool):
        raise checks.fail("sweep.common_random_numbers", f"must be true or false; got {crn!r}")
    settings["common_random_numbers"] = crn
    for key in ("name", "out", "base_config"):
        if key in sweep and (not isinstance(sweep[key], str) or not sweep[key]):
            raise checks.fail(f"sweep.{key}", f"must be a non-empty string; got {sweep[key]!r}")
    if design == "grid":
        if "samples" in sweep:
            raise checks.fail(
                "sweep.samples", "only for sampled designs (latin, sobol, morris); a grid lists its values"
            )
    else:
        if "samples" not in sweep:
            raise checks.fail("sweep.samples", f"missing: design {design} needs the number of samples")
        samples = checks.integer("sweep.samples", sweep["samples"], 2 if design == "morris" else 1, 10_000_000)
        if design == "sobol" and samples & (samples - 1):
            raise checks.fail(
                "sweep.samples", f"must be a power of 2 for a Sobol sequence (e.g. 64, 128); got {samples}"
            )
        settings["samples"] = samples
    if "total_revenue" in sweep:
        settings["total_revenue"] = checks.number("sweep.total_revenue", sweep["total_revenue"], 1e-6, 1e15)
    if "sample_customers" in sweep:
        high = int(FIELDS["n_customers"].metadata["high"])
        settings["sample_customers"] = checks.integer("sweep.sample_customers", sweep["sample_customers"], 1, high)

    # The base: model defaults, a flat config file, then [fixed].
    base_config = None
    if "base_config" in sweep:
        base_config = base_dir / sweep["base_config"]
        if not base_config.is_file():
            raise checks.fail("sweep.base_config", f"file not found: {base_config}")
        try:
            base = load(base_config).as_dict()
        except ConfigError as error:
            raise checks.fail("sweep.base_config", f"{base_config}: {error}") from None
    else:
        base = from_mapping({}).as_dict()
    fixed = dict(checks.table("fixed", data.get("fixed", {})))
    customers = None
    for name, value in fixed.items():
        _check_field_name(f"fixed.{name}", name)
        if isinstance(value, (Mapping, list)):
            raise checks.fail(f"fixed.{name}", f"must be a single value (vary it in [vary]); got {value!r}")
    if CUSTOMERS in fixed:
        customers = checks.integer(f"fixed.{CUSTOMERS}", fixed.pop(CUSTOMERS), 1, 10**12)
    try:
        base = from_mapping({**base, **fixed}).as_dict()
    except ConfigError as error:
        raise checks.fail(f"fixed.{error.field}", checks.message(error)) from None

    vary = checks.table("vary", data.get("vary", {}))
    if not vary:
        raise checks.fail("vary", "at least one factor is needed")
    factors = tuple(_parse_factor(name, raw, design) for name, raw in vary.items())
    names = [f.name for f in factors]
    for name in names:
        if name in fixed or (name == CUSTOMERS and customers is not None):
            raise checks.fail(f"vary.{name}", "also set in [fixed]; give it in one place")
    if design == "morris" and len(factors) < 2:
        raise checks.fail("vary", "Morris screening needs at least two factors")

    uses_customers = customers is not None or CUSTOMERS in names
    for key in ("total_revenue", "sample_customers"):
        if key in settings and not uses_customers:
            raise checks.fail(f"sweep.{key}", "only with a `customers` factor or fixed value")
    if uses_customers:
        clash = [n for n in ("n_customers", "revenue_per_customer") if n in names or n in fixed]
        if "n_customers" in clash or ("revenue_per_customer" in clash and "total_revenue" in settings):
            where = "vary" if clash[0] in names else "fixed"
            raise checks.fail(f"{where}.{clash[0]}", "set from `customers` (and sweep.total_revenue); remove it")

    # Named markets: an outer factor whose values are sets of field overrides.
    scenarios_table = checks.table("scenarios", data.get("scenarios", {}))
    scenarios = []
    for scenario, overrides in scenarios_table.items():
        overrides = dict(checks.table(f"scenarios.{scenario}", overrides))
        for name in overrides:
            _check_field_name(f"scenarios.{scenario}.{name}", name, allow_customers=False)
            if name in names:
                raise checks.fail(f"scenarios.{scenario}.{name}", "is a factor in [vary]; a scenario cannot set it")
        try:
            from_mapping({**base, **overrides})
        except ConfigError as error:
            raise checks.fail(f"scenarios.{scenario}.{error.field}", checks.message(error)) from None
        scenarios.append((scenario, overrides))

    compare = checks.table("compare", data.get("compare", {}))
    checks.no_unknown("compare.", compare, ("levels", "metric", "baseline"))
    compare_levels: tuple[str, ...] = ()
    baseline = None
    compare_metric = "discounted_profit"
    if compare:
        levels = compare.get("levels")
        if not isinstance(levels, list) or len(levels) < 2:
            raise checks.fail("compare.levels", f"must be a list of at least two level names; got {levels!r}")
        for i, level in enumerate(levels):
            if level not in LEVEL_NAMES:
                raise checks.fail(f"compare.levels[{i}]", f"must be one of {', '.join(LEVEL_NAMES)}; got {level!r}")
        if len(set(levels)) != len(levels):
            raise checks.fail("compare.levels", "lists a level twice")
        compare_levels = tuple(levels)
        if "level" in names or "level" in fixed:
            raise checks.fail("vary.level" if "level" in names else "fixed.level", "set by [compare] levels; remove it")
        compare_metric = compare.get("metric", "discounted_profit")
        if compare_metric not in METRICS:
            raise checks.fail("compare.metric", f"unknown metric {compare_metric!r}; allowed: {', '.join(METRICS)}")
        baseline = compare.get("baseline", compare_levels[0])
        if baseline not in compare_levels:
            allowed = ", ".join(compare_levels)
            raise checks.fail("compare.baseline", f"must be one of compare.levels ({allowed}); got {baseline!r}")

    outputs = checks.table("outputs", data.get("outputs", {}))
    checks.no_unknown("outputs.", outputs, ("metrics", "derived"))
    metrics = outputs.get("metrics", list(DEFAULT_METRICS))
    if not isinstance(metrics, list) or not metrics:
        raise checks.fail("outputs.metrics", f"must be a non-empty list of metric names; got {metrics!r}")
    for i, metric in enumerate(metrics):
        if metric not in METRICS:
            raise checks.fail(f"outputs.metrics[{i}]", f"unknown metric {metric!r}; allowed: {', '.join(METRICS)}")
    if compare_levels and compare_metric not in metrics:
        metrics = [*metrics, compare_metric]  # kept so that analyses can recompute winners from the rows
    derived = outputs.get("derived", list(DERIVED) if compare_levels else [])
    if not isinstance(derived, list):
        raise checks.fail("outputs.derived", f"must be a list; got {derived!r}")
    for i, name in enumerate(derived):
        if name not in DERIVED:
            raise checks.fail(
                f"outputs.derived[{i}]", f"unknown derived output {name!r}; allowed: {', '.join(DERIVED)}"
            )
        if not compare_levels:
            raise checks.fail(f"outputs.derived[{i}]", f"{name} compares levels: add [compare] levels = [...]")

    spec = SweepSpec(
        factors=factors,
        base=base,
        scenarios=tuple(scenarios),
        customers=customers,
        compare_levels=compare_levels,
        compare_metric=compare_metric,
        baseline=baseline,
        metrics=tuple(dict.fromkeys(metrics)),
        derived=tuple(dict.fromkeys(derived)),
        name=sweep.get("name", Path(source).stem if source else "sweep"),
        out=sweep.get("out"),
        base_config=None if base_config is None else str(base_config),
        source=source,
        fixed={**fixed, **({CUSTOMERS: customers} if customers is not None else {})},
        **settings,
    )
    plan(spec)  # builds and validates every simulation's config before anything runs
    return spec


def load_spec(path: str | Path) -> SweepSpec:
    """Read and validate a sweep spec (paths inside it are relative to the file)."""
    path = Path(path)
    try:
        text = path.read_bytes().decode()
    except OSError as error:
        raise checks.fail("SPEC", f"cannot read {path}: {error.strerror or error}") from None
    except UnicodeDecodeError as error:
        raise checks.fail("SPEC", f"{path} is not UTF-8 text: {error}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise checks.fail("SPEC", f"{path} is not valid TOML: {error}") from None
    spec = parse_spec(data, base_dir=path.parent, source=str(path))
    return replace(spec, source_text=text)


# ----------------------------------------------------------------------------------------------------------------
# The design: points, simulations, seeds, chunks
# ----------------------------------------------------------------------------------------------------------------
def design(spec: SweepSpec) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """The design points of one scenario: the sampler's matrix X (points × factors) and each point's values.

    Grid: the Cartesian product of the factors' values (the last factor varies fastest; X holds value indices
    for lists and the values for ranges). Sampled designs come from SALib with the sweep seed, so the same spec
    always gives the same points (and sim.experiments.sensitivity can rebuild X for the analysis).
    """
    factors = spec.factors
    if spec.design == "grid":
        combos = list(itertools.product(*(f.values or () for f in factors)))
        # X: the value itself for numbers, the position in the list for choices (levels, tiers)
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


def run_seed(spec: SweepSpec, simulation: int, replication: int) -> int:
    """The model seed of one simulation: spawned from the sweep seed by (simulation, replication).

    With common random numbers every point of replication r gets the same seed, spawn key (r,): differences
    between points are then paired, as differences between levels already are (they share every run's seed).
    """
    key = (replication,) if spec.common_random_numbers else (simulation, replication)
    state = np.random.SeedSequence(spec.seed, spawn_key=key).generate_state(1, np.uint64)[0]
    return int(state >> np.uint64(1))  # the model accepts seeds up to 2**63 - 1


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


def plan(spec: SweepSpec) -> Plan:
    """Design points → simulations (sharing across margins) → chunks; every config validated once."""
    _, one = design(spec)
    scenarios = spec.scenarios or (("", {}),)
    points: list[dict[str, Any]] = []
    for name, _ in scenarios:
        points += [({"scenario": name} if spec.scenarios else {}) | p for p in one]
    shared = [n for n in spec.factor_names if n not in ACCOUNTING_FIELDS]
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
        _validate(spec, point, {**params, **({"level": first_level} if first_level else {})})
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
            tasks.append({"params": params, "seed": run_seed(spec, g, r), "replication": r, "targets": targets})
    for level in spec.compare_levels:  # each level once: the rest of its config was checked above
        _validate(spec, {}, {**spec.base, "level": level})
    for name in ACCOUNTING_FIELDS:  # shared simulations were checked at one value; check every other value once
        for value in {point[name] for point in points if name in point}:
            _validate(spec, {name: value}, {**spec.base, name: value})
    size = spec.chunk_size or max(1, min(32, math.ceil(len(tasks) / 256)))
    settings = {
        "metrics": list(spec.metrics),
        "levels": list(spec.compare_levels),
        "compare_metric": spec.compare_metric,
        "baseline": spec.baseline,
        "derived": list(spec.derived),
        "replications": replications,
    }
    chunks = [
        {"chunk": c, "settings": settings, "tasks": tasks[start : start + size]}
        for c, start in enumerate(range(0, len(tasks), size))
    ]
    return Plan(spec, points, chunks, runs=len(points) * replications, simulations=len(tasks))


def _params(spec: SweepSpec, point: Mapping[str, Any], scenario: Mapping[str, Any]) -> tuple[dict[str, Any], float]:
    """A point's model fields (without level when levels are compared) and the scale from sample to firm."""
    params = {**spec.base, **scenario, **{k: v for k, v in point.items() if k not in ("scenario", CUSTOMERS)}}
    scale = 1.0
    customers = point.get(CUSTOMERS, spec.customers)
    if customers is not None:
        simulated = min(customers, spec.sample_customers or customers)
        params["n_customers"] = simulated
        if spec.total_revenue is not None:
            params["revenue_per_customer"] = spec.total_revenue / customers
        scale = customers / simulated
    params.pop("seed", None)
    if spec.compare_levels:
        params.pop("level", None)
    return params, scale


def _validate(spec: SweepSpec, point: Mapping[str, Any], params: Mapping[str, Any]) -> None:
    try:
        from_mapping({**params, "seed": 0})
    except ConfigError as error:
        name = error.field
        if name in point:
            key = f"vary.{name}"
        elif name in ("n_customers", "revenue_per_customer") and spec.uses_customers:
            key = f"vary.{CUSTOMERS}" if CUSTOMERS in point else f"fixed.{CUSTOMERS}"
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


# ----------------------------------------------------------------------------------------------------------------
# One chunk: pure functions of plain data
# ----------------------------------------------------------------------------------------------------------------
_RECORD = (
    "revenue",
    "relationship_cost",
    "acquisition_cost",
    "active",
    "left",
    "year_cohort_start",
    "year_cohort_active",
)


def simulate(params: Mapping[str, Any], seed: int, summary: bool = False) -> dict[str, Any]:
    """Run the model once; the monthly series the metrics need (and the full summary if asked)."""
    from sim.core.model import RelationshipModel  # imported here: `import sim.engine.sweep` stays light for the CLI

    config = from_mapping({**params, "seed": seed})
    model = RelationshipModel(config).run()
    history = model.history
    series = {key: np.fromiter((month[key] for month in history), float, len(history)) for key in _RECORD}
    series["discount"] = (1.0 + config.discount_rate) ** (-np.arange(1, len(history) + 1, dtype=float) / 12.0)
    if summary:
        from sim.outputs.results import summarise

        series["summary"] = _flatten(summarise(model.monthly(), config))
    return series


def _flatten(summary: Mapping[str, Any]) -> dict[str, float]:
    flat: dict[str, float] = {}
    for key, value in summary.items():
        if isinstance(value, Mapping):
            for inner, number in value.items():
                flat[f"{key}.{inner}"] = math.nan if number is None else float(number)
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and value is not None:
            flat[key] = float(value)
        elif value is None:
            flat[key] = math.nan
    return flat


def metrics(series: Mapping[str, Any], margin: float, scale: float, names: Iterable[str]) -> dict[str, float]:
    """The named metrics of one simulation at ``margin``, totals scaled from the sample to the firm.

    Profit at margin m is m × revenue − relationship cost − acquisition cost, month by month, so one simulation
    gives the accounts of every margin (margin changes no customer's behaviour).
    """
    revenue, relationship, acquisition = series["revenue"], series["relationship_cost"], series["acquisition_cost"]
    discount = series["discount"]
    totals = {
        "revenue": revenue.sum(),
        "relationship_cost": relationship.sum(),
        "acquisition_cost": acquisition.sum(),
        "discounted_revenue": revenue @ discount,
        "discounted_relationship_cost": relationship @ discount,
        "discounted_acquisition_cost": acquisition @ discount,
    }
    totals["gross_margin"] = margin * totals["revenue"]
    totals["discounted_gross_margin"] = margin * totals["discounted_revenue"]
    totals["profit"] = totals["gross_margin"] - totals["relationship_cost"] - totals["acquisition_cost"]
    totals["discounted_profit"] = (
        totals["discounted_gross_margin"]
        - totals["discounted_relationship_cost"]
        - totals["discounted_acquisition_cost"]
    )
    totals["active_customers_end"] = series["active"][-1] - series["left"][-1]
    customer_years = series["active"].sum() / 12.0
    start, active = series["year_cohort_start"][11::12], series["year_cohort_active"][11::12]
    measured = start > 0
    retention = float((active[measured] / start[measured]).sum() / measured.sum()) if measured.any() else math.nan
    rates = {
        "retention_rate": retention,
        "churn_rate": float(series["left"].sum() / customer_years),
        "cost_to_serve_per_customer": float(totals["relationship_cost"] / customer_years),
    }
    out = {}
    for name in names:
        if name in totals:
            out[name] = float(scale * totals[name])
        elif name in rates:
            out[name] = rates[name]
        else:
            out[name] = series["summary"][name]
    return out


def run_task(task: Mapping[str, Any], settings: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One simulation per compared level (one in all without [compare]); one row per point it serves."""
    names = settings["metrics"]
    summary = any(name in SUMMARY_METRICS for name in names)
    levels = settings["levels"]
    runs = (
        {level: simulate({**task["params"], "level": level}, task["seed"], summary) for level in levels}
        if levels
        else {None: simulate(task["params"], task["seed"], summary)}
    )
    rows = []
    for target in task["targets"]:
        row = {
            "run": target["point"] * settings["replications"] + task["replication"],
            "point": target["point"],
            "replication": task["replication"],
            "seed": task["seed"],
            **target["values"],
        }
        if not levels:
            row.update(metrics(runs[None], target["margin"], target["scale"], names))
        else:
            per_level = {level: metrics(runs[level], target["margin"], target["scale"], names) for level in levels}
            for name in names:
                row.update({f"{name}.{level}": per_level[level][name] for level in levels})
            row.update(_derived(per_level, settings))
        rows.append(row)
    return rows


def _derived(per_level: Mapping[str, Mapping[str, float]], settings: Mapping[str, Any]) -> dict[str, Any]:
    levels, metric, derived = settings["levels"], settings["compare_metric"], settings["derived"]
    values = np.array([per_level[level][metric] for level in levels])
    order = np.argsort(-values, kind="stable")  # ties: the lower (cheaper) level wins
    out: dict[str, Any] = {}
    if "winner" in derived:
        out["winner"] = levels[int(order[0])]
    if "advantage" in derived:
        baseline = settings["baseline"]
        base = per_level[baseline][metric]
        out.update({f"advantage.{level}": per_level[level][metric] - base for level in levels if level != baseline})
    if "lead" in derived:
        out["lead"] = float(values[order[0]] - values[order[1]])
    return out


def run_chunk(chunk: Mapping[str, Any]) -> tuple[int, list[dict[str, Any]]]:
    """Every task of a chunk, in order: the unit an evaluator runs and a Parquet part stores."""
    settings = chunk["settings"]
    return chunk["chunk"], [row for task in chunk["tasks"] for row in run_task(task, settings)]


# ----------------------------------------------------------------------------------------------------------------
# Storage: manifest, atomic Parquet parts, consolidation
# ----------------------------------------------------------------------------------------------------------------
def _schema(plan_: Plan) -> Any:
    import pyarrow as pa

    spec = plan_.spec
    fields = [pa.field(name, pa.int64()) for name in KEY_COLUMNS]
    if spec.scenarios:
        fields.append(pa.field("scenario", pa.string()))
    kinds = {"choice": pa.string(), "integer": pa.int64(), "number": pa.float64()}
    fields += [pa.field(f.name, kinds[f.kind]) for f in spec.factors]
    fields += [pa.field(c, pa.string() if c == "winner" else pa.float64()) for c in spec.output_columns()]
    return pa.schema(fields)


def _part_name(chunk: int) -> str:
    return f"part-{chunk:06d}.parquet"


def _write_json(path: Path, data: Mapping[str, Any]) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(json.dumps(data, indent=2, default=str) + "\n"))


def _write_table(path: Path, table: Any) -> None:
    import pyarrow.parquet as pq

    atomic_write(path, lambda tmp: pq.write_table(table, tmp))


def read_manifest(out: Path | str) -> dict[str, Any] | None:
    path = Path(out) / MANIFEST
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise checks.fail("out", f"{path} is not a readable sweep manifest: {error}") from None


def check_out(out: Path, spec: SweepSpec) -> dict[str, Any] | None:
    """Refuse a folder that holds something else, or a sweep of a different spec; the manifest if resuming."""
    if out.exists() and not out.is_dir():
        raise checks.fail("out", f"{out} exists and is not a folder")
    manifest = read_manifest(out)
    if manifest is None:
        if out.is_dir() and any(out.iterdir()):
            raise checks.fail("out", f"{out} is not empty and holds no sweep manifest; choose another folder")
        return None
    if manifest.get("spec_hash") != spec.hash():
        raise checks.fail(
            "out",
            f"{out} holds a different sweep (manifest spec hash {manifest.get('spec_hash')}, this spec "
            f"{spec.hash()}): use another folder, or delete it to start again",
        )
    return manifest


def done_chunks(out: Path) -> set[int]:
    """Chunks already stored as complete part files (temporary files are ignored)."""
    parts = out / PARTS
    if not parts.is_dir():
        return set()
    return {int(p.name[5:11]) for p in parts.glob("part-*.parquet")}


def load_results(out: Path | str) -> Any:
    """The sweep's rows as a DataFrame, one per run, sorted by run key (finished or partial)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = Path(out)
    if (out / RESULTS).is_file():
        table = pq.read_table(out / RESULTS)
    else:
        files = sorted((out / PARTS).glob("part-*.parquet")) if (out / PARTS).is_dir() else []
        if not files:
            import pandas as pd

            return pd.DataFrame()
        table = pa.concat_tables([pq.read_table(f) for f in files])
    return table.sort_by("run").to_pandas()


@dataclass
class SweepResult:
    out: Path
    frame: Any  # pandas DataFrame
    runs: int
    new_runs: int
    seconds: float
    evaluator: str
    spec_hash: str

    @property
    def rate(self) -> float:
        return self.new_runs / self.seconds if self.seconds > 0 else math.nan


def run_sweep(
    spec: SweepSpec,
    out: Path | str | None = None,
    evaluator: Evaluator | None = None,
    progress: bool = False,
) -> SweepResult:
    """Run (or resume) a sweep into ``out``; returns every row. Chunks already stored are not run again."""
    try:
        import pyarrow as pa
    except ImportError:
        raise checks.fail("out", "storing sweep results needs pyarrow: pip install pyarrow") from None

    out = Path(out if out is not None else spec.out or "")
    if not str(out) or str(out) == ".":
        raise checks.fail("out", "no output folder: set sweep.out in the spec or pass --out")
    plan_ = plan(spec)
    manifest = check_out(out, spec)
    evaluator = evaluator or make_evaluator()
    schema = _schema(plan_)
    started = time.perf_counter()
    if manifest is not None and (out / RESULTS).is_file():  # finished (runs.parquet is written last but one)
        frame = _consolidate(out, plan_, manifest, 0.0, evaluator.describe())
        seconds = float(manifest.get("last_session_seconds") or 0.0)  # the time of the run that finished it
        return SweepResult(out, frame, plan_.runs, 0, seconds, manifest.get("evaluator", "?"), spec.hash())

    with evaluator:  # connect or start workers before anything is written: a failure leaves nothing behind
        (out / PARTS).mkdir(parents=True, exist_ok=True)
        for stale in (out / PARTS).glob(".tmp-*"):
            stale.unlink(missing_ok=True)  # a killed writer's leftovers; its chunk is simply run again
        if manifest is None:
            manifest = {
                "relsim_version": __version__,
                "spec_hash": spec.hash(),
                "name": spec.name,
                "spec_path": spec.source,
                "runs": plan_.runs,
                "simulations": plan_.simulations,
                "chunks": len(plan_.chunks),
                "columns": plan_.columns,
                "spec": spec.canonical(),
                "spec_text": spec.source_text,
                "complete": False,
            }
            _write_json(out / MANIFEST, manifest)
        done = done_chunks(out)
        pending = [chunk for chunk in plan_.chunks if chunk["chunk"] not in done]
        rows_per_chunk = {c["chunk"]: sum(len(t["targets"]) for t in c["tasks"]) for c in plan_.chunks}
        already = sum(rows_per_chunk[c] for c in done)
        bar = _progress_bar(plan_.runs, already, spec.name, progress)
        try:
            for _, (chunk_id, rows) in evaluator.evaluate(run_chunk, pending):
                table = pa.Table.from_pylist(rows, schema=schema)
                _write_table(out / PARTS / _part_name(chunk_id), table)
                bar.update(len(rows))
        finally:
            bar.close()
    seconds = time.perf_counter() - started
    frame = _consolidate(out, plan_, manifest, seconds, evaluator.describe())
    return SweepResult(out, frame, plan_.runs, plan_.runs - already, seconds, evaluator.describe(), spec.hash())


def _progress_bar(total: int, initial: int, name: str, enabled: bool) -> Any:
    from tqdm import tqdm  # a dependency of mesa

    return tqdm(
        total=total,
        initial=initial,
        desc=f"relsim sweep {name}",
        unit="run",
        file=sys.stderr,
        mininterval=0.5,
        smoothing=0.05,
        disable=not enabled,
    )


def _consolidate(out: Path, plan_: Plan, manifest: dict[str, Any], seconds: float, evaluator: str) -> Any:
    """All parts into one sorted ``runs.parquet`` after checking that every run is there exactly once; then the
    manifest is marked complete and the parts are removed (in that order, so a kill at any point is harmless)."""
    import pyarrow as pa

    finished = (out / RESULTS).is_file()
    frame = load_results(out)
    runs = frame["run"].to_numpy() if len(frame) else np.zeros(0, int)
    if len(runs) != plan_.runs or not np.array_equal(runs, np.arange(plan_.runs)):
        raise RuntimeError(f"{out}: expected runs 0..{plan_.runs - 1} once each, found {len(runs)} rows")
    if not finished:
        _write_table(out / RESULTS, pa.Table.from_pandas(frame, schema=_schema(plan_), preserve_index=False))
    if not finished or not manifest.get("complete"):  # (a committed manifest may outlive its ignored Parquet)
        manifest = {**manifest, "complete": True, "last_session_seconds": round(seconds, 3), "evaluator": evaluator}
        _write_json(out / MANIFEST, manifest)
    shutil.rmtree(out / PARTS, ignore_errors=True)
    return frame
