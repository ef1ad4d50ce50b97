"""The verdict experiment's specification: experiments/verdict.toml read into a validated :class:`VerdictSpec`.

Kotler's cells come from the matrix spec the file names (sim.experiments.kotler); the file adds the pre-specified
row mappings (which segment, how many customers and what revenue per customer stand for each row), the factorial
and the settings of the statistics. Every error is one line naming its key (``mappings.typical.few.segment``).
"""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sim.core.config import FIELDS, SEGMENTS
from sim.engine import checks
from sim.experiments.kotler import Cell, read_cells

SECTIONS = ("experiment", "quick", "mappings", "factorial", "hypercube")
EXPERIMENT_KEYS = (
    "cells",
    "years",
    "seed",
    "metric",
    "materiality",
    "alpha",
    "nominal_replications",
    "draws",
    "alternative_draws",
    "draw_replications",
    "elasticity",
    "primary",
    "sensitivity_draws",
    "robustness_elasticities",
)
QUICK_KEYS = (
    "years",
    "nominal_replications",
    "draws",
    "alternative_draws",
    "draw_replications",
    "factorial_draws",
    "max_customers",
    "mappings",
    "sensitivity_draws",
    "hypercube_samples",
)
ROWS = ("many", "medium", "few")
PROFILE_KEYS = ("segment", "customers", "revenue_per_customer")
HYPERCUBE_KEYS = ("samples", "replications", "customers", "revenue_per_customer", "margin")
FACTORIAL_KEYS = ("customers", "rows", "revenue_per_customer", "segments", "margins", "columns", "draws")
METRICS = ("discounted_profit",)
MAX_CUSTOMERS = int(FIELDS["n_customers"].metadata["high"])


@dataclass(frozen=True)
class Unit:
    """A simulated firm: a segment, its customers (every one simulated) and revenue per customer-year."""

    segment: str
    customers: int
    revenue_per_customer: float

    @property
    def name(self) -> str:
        return f"{self.segment}/{self.customers}/{self.revenue_per_customer:g}"


@dataclass(frozen=True)
class RowMapping:
    name: str
    text: str
    rows: Mapping[str, Unit]  # Kotler's row -> the firm that stands for it


@dataclass(frozen=True)
class Factorial:
    customers: tuple[int, ...]
    rows: tuple[str, ...]
    revenue_per_customer: tuple[float, ...]
    segments: tuple[str, ...]
    margins: tuple[float, ...]
    columns: tuple[str, ...]
    draws: int

    def units(self) -> list[tuple[str, Unit]]:
        """(Kotler's row, firm) for every customers × value point; the segment follows the value."""
        return [
            (row, Unit(segment, customers, value))
            for customers, row in zip(self.customers, self.rows, strict=True)
            for value, segment in zip(self.revenue_per_customer, self.segments, strict=True)
        ]


@dataclass(frozen=True)
class Hypercube:
    """A Latin hypercube over customers and revenue per customer (log scales) and margin (linear), at the files'
    values; each point's segment, Kotler row and column are those of the nearest factorial value."""

    samples: int
    replications: int
    customers: tuple[int, int]
    revenue_per_customer: tuple[float, float]
    margin: tuple[float, float]


@dataclass(frozen=True)
class VerdictSpec:
    cells: tuple[Cell, ...]
    mappings: tuple[RowMapping, ...]
    factorial: Factorial | None
    years: int = 10
    seed: int = 0
    metric: str = "discounted_profit"
    materiality: float = 0.05
    alpha: float = 0.05
    nominal_replications: int = 10
    draws: int = 48
    alternative_draws: int = 16
    draw_replications: int = 2
    elasticity: tuple[float, float] = (0.0, 1.0)
    primary: str = "typical"
    sensitivity_draws: int = 0  # draws of the primary mapping's firms in all (beyond ``draws``: one replication)
    robustness_elasticities: tuple[float, ...] = ()
    hypercube: Hypercube | None = None
    quick: Mapping[str, Any] = field(default_factory=dict)
    max_customers: int | None = None
    source: str | None = None
    source_hash: str | None = None
    mode: str = "full"

    def mapping(self, name: str) -> RowMapping:
        return next(m for m in self.mappings if m.name == name)

    def unit(self, unit: Unit) -> Unit:
        """The firm as simulated (fewer customers in --quick)."""
        if self.max_customers is None or unit.customers <= self.max_customers:
            return unit
        return replace(unit, customers=self.max_customers)

    def quick_spec(self) -> VerdictSpec:
        """The [quick] settings: fewer years, draws and replications, capped customers, fewer mappings."""
        q = dict(self.quick)
        names = q.pop("mappings", None) or [m.name for m in self.mappings]
        factorial_draws = q.pop("factorial_draws", None)
        samples = q.pop("hypercube_samples", None)
        hypercube = self.hypercube
        if hypercube is not None and samples is not None:
            hypercube = replace(hypercube, samples=samples) if samples else None
        factorial = self.factorial
        if factorial is not None and factorial_draws is not None:
            factorial = replace(factorial, draws=factorial_draws)
        mappings = tuple(m for m in self.mappings if m.name in names)
        return replace(self, **q, mappings=mappings, factorial=factorial, hypercube=hypercube, mode="quick")


def _positive(key: str, value: Any, low: int = 1) -> int:
    return checks.integer(key, value, low, 10**6)


def _profile(key: str, raw: Any) -> Unit:
    table = checks.table(key, raw)
    checks.no_unknown(f"{key}.", table, PROFILE_KEYS)
    for name in PROFILE_KEYS:
        if name not in table:
            raise checks.fail(f"{key}.{name}", "missing")
    segment = checks.text(f"{key}.segment", table["segment"])
    if segment not in SEGMENTS:
        raise checks.fail(f"{key}.segment", f"must be one of {', '.join(SEGMENTS)}; got {segment!r}")
    customers = checks.integer(f"{key}.customers", table["customers"], 1, MAX_CUSTOMERS)
    value = checks.number(f"{key}.revenue_per_customer", table["revenue_per_customer"], 0.0, 1e12, above_low=True)
    return Unit(segment, customers, value)


def _mappings(raw: Any) -> tuple[RowMapping, ...]:
    table = checks.table("mappings", raw)
    if not table:
        raise checks.fail("mappings", "at least one row mapping is needed")
    mappings = []
    for name, entry in table.items():
        entry = checks.table(f"mappings.{name}", entry)
        checks.no_unknown(f"mappings.{name}.", entry, ("text", *ROWS))
        rows = {}
        for row in ROWS:
            if row not in entry:
                raise checks.fail(f"mappings.{name}.{row}", "missing")
            rows[row] = _profile(f"mappings.{name}.{row}", entry[row])
        mappings.append(RowMapping(name, str(entry.get("text", "")), rows))
    return tuple(mappings)


def _list(key: str, raw: Any, length: int | None = None) -> list[Any]:
    if not isinstance(raw, list) or not raw:
        raise checks.fail(key, f"must be a non-empty list; got {raw!r}")
    if length is not None and len(raw) != length:
        raise checks.fail(key, f"must have {length} entries, one per value of the paired list; got {len(raw)}")
    return raw


def _factorial(raw: Any) -> Factorial | None:
    if raw is None:
        return None
    table = checks.table("factorial", raw)
    checks.no_unknown("factorial.", table, FACTORIAL_KEYS)
    customers = [checks.integer(f"factorial.customers[{i}]", c, 1, MAX_CUSTOMERS) for i, c in
                 enumerate(_list("factorial.customers", table.get("customers")))]  # fmt: skip
    values = [checks.number(f"factorial.revenue_per_customer[{i}]", v, 0.0, 1e12, above_low=True) for i, v in
              enumerate(_list("factorial.revenue_per_customer", table.get("revenue_per_customer")))]  # fmt: skip
    segments = _list("factorial.segments", table.get("segments"), len(values))
    for i, segment in enumerate(segments):
        if segment not in SEGMENTS:
            raise checks.fail(f"factorial.segments[{i}]", f"must be one of {', '.join(SEGMENTS)}; got {segment!r}")
    rows = _list("factorial.rows", table.get("rows"), len(customers))
    for i, row in enumerate(rows):
        if row not in ROWS:
            raise checks.fail(f"factorial.rows[{i}]", f"must be one of {', '.join(ROWS)}; got {row!r}")
    margins = [checks.number(f"factorial.margins[{i}]", m, 0.0, 1.0) for i, m in
               enumerate(_list("factorial.margins", table.get("margins")))]  # fmt: skip
    columns = [checks.text(f"factorial.columns[{i}]", c) for i, c in
               enumerate(_list("factorial.columns", table.get("columns"), len(margins)))]  # fmt: skip
    draws = checks.integer("factorial.draws", table.get("draws", 0), 0, 10**6)
    return Factorial(tuple(customers), tuple(rows), tuple(values), tuple(segments), tuple(margins), tuple(columns),
                     draws)  # fmt: skip


def _bounds(key: str, raw: Any, low: float, high: float) -> tuple[float, float]:
    values = _list(key, raw, 2)
    a, b = (checks.number(f"{key}[{i}]", v, low, high, above_low=True) for i, v in enumerate(values))
    if not a < b:
        raise checks.fail(key, f"must be [low, high] with low < high; got {values!r}")
    return a, b


def _hypercube(raw: Any, factorial: Factorial | None) -> Hypercube | None:
    if raw is None:
        return None
    table = checks.table("hypercube", raw)
    checks.no_unknown("hypercube.", table, HYPERCUBE_KEYS)
    if factorial is None:
        raise checks.fail("hypercube", "needs a [factorial]: its points take the segment, row and column of the "
                          "nearest factorial value")  # fmt: skip
    for name in HYPERCUBE_KEYS:
        if name not in table:
            raise checks.fail(f"hypercube.{name}", "missing")
    low, high = _bounds("hypercube.customers", table["customers"], 0.0, MAX_CUSTOMERS)
    return Hypercube(
        samples=_positive("hypercube.samples", table["samples"], 2),
        replications=_positive("hypercube.replications", table["replications"]),
        customers=(max(1, round(low)), round(high)),
        revenue_per_customer=_bounds("hypercube.revenue_per_customer", table["revenue_per_customer"], 0.0, 1e12),
        margin=_bounds("hypercube.margin", table["margin"], 0.0, 1.0),
    )


def _settings(raw: Any) -> dict[str, Any]:
    table = checks.table("experiment", raw)
    checks.no_unknown("experiment.", table, EXPERIMENT_KEYS)
    out: dict[str, Any] = {}
    for key in ("years",):
        if key in table:
            out[key] = checks.integer(f"experiment.{key}", table[key], 1, 100)
    if "seed" in table:
        out["seed"] = checks.integer("experiment.seed", table["seed"], 0, 2**63 - 1)
    if "metric" in table and table["metric"] not in METRICS:
        raise checks.fail("experiment.metric", f"must be one of {', '.join(METRICS)}; got {table['metric']!r}")
    for key in ("materiality", "alpha"):
        if key in table:
            out[key] = checks.number(f"experiment.{key}", table[key], 0.0, 0.5, above_low=True)
    for key in ("nominal_replications", "draw_replications"):
        if key in table:
            out[key] = _positive(f"experiment.{key}", table[key])
    for key in ("draws", "alternative_draws"):
        if key in table:
            out[key] = _positive(f"experiment.{key}", table[key], 0)
    if "elasticity" in table:
        bounds = _list("experiment.elasticity", table["elasticity"], 2)
        low, high = (checks.number(f"experiment.elasticity[{i}]", b, 0.0, 1.0) for i, b in enumerate(bounds))
        if not low < high:
            raise checks.fail("experiment.elasticity", f"must be [low, high] with low < high; got {bounds!r}")
        out["elasticity"] = (low, high)
    if "primary" in table:
        out["primary"] = checks.text("experiment.primary", table["primary"])
    if "sensitivity_draws" in table:
        out["sensitivity_draws"] = _positive("experiment.sensitivity_draws", table["sensitivity_draws"], 0)
    if "robustness_elasticities" in table:
        key = "experiment.robustness_elasticities"
        values = _list(key, table["robustness_elasticities"])
        out["robustness_elasticities"] = tuple(checks.number(f"{key}[{i}]", v, 0.0, 1.0) for i, v in enumerate(values))
    return out


def _quick(raw: Any, mappings: tuple[RowMapping, ...]) -> dict[str, Any]:
    table = checks.table("quick", raw or {})
    checks.no_unknown("quick.", table, QUICK_KEYS)
    out: dict[str, Any] = {}
    for key in QUICK_KEYS:
        if key not in table:
            continue
        if key == "mappings":
            names = _list("quick.mappings", table[key])
            known = [m.name for m in mappings]
            for i, name in enumerate(names):
                if name not in known:
                    raise checks.fail(f"quick.mappings[{i}]", f"must be one of {', '.join(known)}; got {name!r}")
            out[key] = list(names)
        else:
            low = 0 if key in ("draws", "alternative_draws", "factorial_draws", "sensitivity_draws",
                               "hypercube_samples") else 1  # fmt: skip
            high = MAX_CUSTOMERS if key == "max_customers" else 10**6
            out[key] = checks.integer(f"quick.{key}", table[key], low, high)
    return out


def parse_spec(data: Mapping[str, Any], base_dir: Path, source: str | None = None) -> VerdictSpec:
    """A validated spec from the TOML data; Kotler's cells are read from ``experiment.cells`` (relative to
    ``base_dir``)."""
    checks.no_unknown("", data, SECTIONS)
    settings = _settings(data.get("experiment", {}))
    cells_file = checks.text("experiment.cells", data.get("experiment", {}).get("cells", "matrix.toml"))
    path = base_dir / cells_file
    if not path.is_file():
        raise checks.fail("experiment.cells", f"file not found: {path}")
    cells = read_cells(path)
    mappings = _mappings(data.get("mappings"))
    primary = settings.get("primary", "typical")
    if primary not in [m.name for m in mappings]:
        raise checks.fail("experiment.primary", f"must name a mapping ({', '.join(m.name for m in mappings)}); "
                          f"got {primary!r}")  # fmt: skip
    for cell in cells:
        if cell.row not in ROWS:
            raise checks.fail(f"cells.{cell.name}.row", f"must be one of {', '.join(ROWS)}; got {cell.row!r}")
    quick = _quick(data.get("quick"), mappings)
    if primary not in quick.get("mappings", [primary]):
        raise checks.fail("quick.mappings", f"must include the primary mapping {primary!r}")
    factorial = _factorial(data.get("factorial"))
    return VerdictSpec(cells=cells, mappings=mappings, factorial=factorial, quick=quick, source=source,
                       hypercube=_hypercube(data.get("hypercube"), factorial), **settings)  # fmt: skip


def load_spec(path: str | Path) -> VerdictSpec:
    path = Path(path)
    try:
        raw = path.read_bytes()
        data = tomllib.loads(raw.decode())
    except OSError as error:
        raise checks.fail("--spec", f"cannot read {path}: {error.strerror or error}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise checks.fail("--spec", f"{path} is not valid TOML: {error}") from None
    spec = parse_spec(data, path.parent, source=str(path))
    return replace(spec, source_hash=hashlib.sha256(raw).hexdigest()[:16])
