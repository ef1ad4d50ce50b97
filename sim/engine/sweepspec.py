"""A sweep as data: the names of metrics and columns, the factors and :class:`SweepSpec` (read from TOML by
:mod:`sim.engine.spec`, or built by an experiment such as the matrix)."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sim import __version__
from sim.core.inputs import field_spec
from sim.core.schema import QUADRANTS
from sim.outputs.accounts import RATES, TOTALS

# ----------------------------------------------------------------------------------------------------------------
# Names
# ----------------------------------------------------------------------------------------------------------------
DESIGNS = {
    "grid": "grid",
    "points": "points",
    "latin": "latin",
    "lhs": "latin",
    "sobol": "sobol",
    "saltelli": "sobol",
    "morris": "morris",
}
CUSTOMERS = "customers"  # a virtual factor: the real firm's customers (simulated as a sample, totals scaled)
SWEEP_FIELDS = ("seed",)  # set by the sweep itself, per run
ACCOUNTING_FIELDS = ("margin",)  # enter only the accounts: points differing only in these share a simulation

# Totals of the real firm (scaled from a sampled population) and rates per customer: the accounts, computed from
# the monthly record without pandas (sim.outputs.accounts).
TOTAL_METRICS = TOTALS
RATE_METRICS = RATES
# The rest of `relsim run --json`'s scalars; these need sim.outputs.results.summarise (slower), so only when asked for.
SUMMARY_METRICS = (
    "nps",
    "complaints_per_customer_year",
    "recovery_rate",
    *(f"quadrant_shares.{q}" for q in QUADRANTS),
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
    """One varied input: a model field or ``customers``; explicit values, or a range (bounds, steps, scale).

    A label (explicit points only) is a text column that names points and never enters the model.
    """

    name: str
    values: tuple[Any, ...] | None = None  # a list, or a grid range already expanded
    low: float | None = None
    high: float | None = None
    scale: str = "linear"  # "log": evenly spaced (grid) or sampled uniformly (other designs) in log10
    label: bool = False

    @property
    def kind(self) -> str:
        """ "choice", "integer" or "number": how values are stored and rounded."""
        if self.label:
            return "choice"
        if self.name == CUSTOMERS:
            return "integer"
        spec = field_spec(self.name)
        assert spec is not None  # checked when the spec was read
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
    # design "points": every point's values (and its scenario's name when there are [scenarios]), in order
    points: tuple[Mapping[str, Any], ...] = ()

    @property
    def factor_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.factors)

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.factors if f.label)

    @property
    def model_factors(self) -> tuple[str, ...]:
        """Factors that enter a simulation's config (all but labels and the accounting-only fields)."""
        return tuple(f.name for f in self.factors if not f.label and f.name not in ACCOUNTING_FIELDS)

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
        data = {
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
        if self.design == "points":  # (only then: the hashes of other designs stay as they were)
            data["labels"] = list(self.labels)
            data["points"] = [dict(sorted(point.items())) for point in self.points]
        return data

    def hash(self) -> str:
        text = json.dumps(self.canonical(), sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]
