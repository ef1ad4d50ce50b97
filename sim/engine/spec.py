"""A sweep as data: the names of metrics and columns, the factors, and the TOML spec read into a validated
:class:`SweepSpec` (every error one :class:`~sim.errors.ConfigError` naming its key)."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from sim import __version__
from sim.core.config import FIELDS, ConfigError, from_mapping, load
from sim.core.levels import LEVEL_NAMES
from sim.engine import checks
from sim.files import read_toml

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


def read_spec(data: Mapping[str, Any], base_dir: Path | str = ".", source: str | None = None) -> SweepSpec:
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
    return spec


def read_spec_file(path: str | Path) -> SweepSpec:
    """Read a sweep spec file (paths inside it are relative to the file); :func:`sim.engine.sweep.load_spec` also
    checks every simulation's config."""
    path = Path(path)
    data, text = read_toml(path, "SPEC")
    spec = read_spec(data, base_dir=path.parent, source=str(path))
    return replace(spec, source_text=text)


