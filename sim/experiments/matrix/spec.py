"""The matrix experiment's specification: experiments/matrix.toml read into a validated :class:`MatrixSpec`.

Nine cells (Kotler's, from sim.experiments.kotler), the design settings, the market shared by every cell, the
technology-heavy scenario and the tiered policies; every error names its key (``cells.x.margin``), and every
distinct run's config is built once through the model's own validation before anything runs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

from sim.core.config import FIELDS, ConfigError, from_mapping
from sim.core.inputs import is_field, load
from sim.core.levels import LEVEL_NAMES, level_index
from sim.engine import checks
from sim.engine.plan import derive_seed
from sim.experiments.kotler import Cell, parse_cells
from sim.files import read_toml

SCENARIOS = ("uniform", "technology_heavy", "tiered")
METRIC_CHOICES = ("discounted_profit", "profit")
# Fields the experiment sets per run; a base config or [market] may not set them.
DESIGN_FIELDS = ("level", "tier_level", "tier_share", "n_customers", "years", "seed", "revenue_per_customer", "margin")
# The columns of a run (runs.csv.gz): totals of the real firm (scaled from the sample), then ratios (not scaled).
TOTALS = (
    "discounted_profit",
    "profit",
    "revenue",
    "gross_margin",
    "discounted_gross_margin",
    "relationship_cost",
    "discounted_relationship_cost",
    "acquisition_cost",
    "discounted_acquisition_cost",
    "discounted_account_team_cost",
    "customers_end",
)
RATIOS = ("retention_rate", "cost_to_serve_per_customer")
METRICS = TOTALS + RATIOS
EXPERIMENT_KEYS = (
    "replications",
    "years",
    "base_seed",
    "metric",
    "confidence",
    "bootstrap",
    "bootstrap_seed",
    "base_config",
)


@dataclass(frozen=True)
class MatrixSpec:
    """The whole experiment as data (see experiments/matrix.toml and docs/MATRIX.md)."""

    cells: tuple[Cell, ...]
    market: Mapping[str, Any]  # every model field except DESIGN_FIELDS: the market shared by all cells
    replications: int = 30
    years: int = 10
    base_seed: int = 0
    metric: str = "discounted_profit"
    confidence: float = 0.95
    bootstrap: int = 2000
    bootstrap_seed: int = 1
    base_config: str | None = None
    base_config_hash: str | None = None
    market_overrides: Mapping[str, Any] = field(default_factory=dict)
    technology_heavy: Mapping[str, Any] = field(default_factory=dict)  # resolved field values of the scenario
    technology_heavy_changes: tuple[str, ...] = ()  # the same in words, for the report
    minimum_level: str = "accountable"
    tier_share: float = 0.2
    quick: Mapping[str, int] = field(default_factory=dict)
    source: str | None = None
    source_hash: str | None = None
    mode: str = "full"

    def reduced(
        self,
        *,
        replications: int | None = None,
        years: int | None = None,
        sample_cap: int | None = None,
        mode: str | None = None,
    ) -> MatrixSpec:
        """A smaller version: fewer replications or years, at most ``sample_cap`` simulated customers a cell."""
        cells = self.cells
        if sample_cap is not None:
            cells = tuple(replace(c, sample_customers=min(c.sample_customers, sample_cap)) for c in cells)
        spec = replace(
            self,
            cells=cells,
            replications=self.replications if replications is None else replications,
            years=self.years if years is None else years,
            mode=self.mode if mode is None else mode,
        )
        _check_runs(spec)
        return spec

    def quick_spec(self) -> MatrixSpec:
        """The ``--quick`` design from the spec's [quick] section."""
        return self.reduced(
            replications=self.quick.get("replications", 4),
            years=self.quick.get("years", 5),
            sample_cap=self.quick.get("sample_customers", 2000),
            mode="quick",
        )

    @cached_property
    def levels(self) -> tuple[str, ...]:
        """The levels compared: those in effect in the market (the shipped five, then any a base config adds)."""
        return tuple(from_mapping(self.market).level_names)

    def seeds(self) -> list[int]:
        """Replication r's model seed, the same for every cell, level, policy and scenario (common random numbers):
        the engine's seed rule, SeedSequence(base_seed, spawn_key=(r,))."""
        return [derive_seed(self.base_seed, r) for r in range(self.replications)]


def policies(scenario: str, levels: Sequence[str] = LEVEL_NAMES) -> list[tuple[str, str, str]]:
    """(policy label, level, tier_level) of every policy a scenario compares, over ``levels`` (the spec's levels in
    effect: the shipped ones plus any its base config adds)."""
    if scenario == "tiered":
        return [(f"{lower}+{upper}", lower, upper) for i, lower in enumerate(levels) for upper in levels[i + 1 :]]
    return [(level, level, "none") for level in levels]


def run_fields(spec: MatrixSpec, cell: Cell, level: str, tier_level: str = "none") -> dict[str, Any]:
    """The fields the experiment sets for one run of a cell (the rest is the market, and the seed)."""
    return {
        "n_customers": cell.sample_customers,
        "revenue_per_customer": cell.revenue_per_customer,
        "margin": cell.margin,
        "level": level,
        "tier_level": tier_level,
        "tier_share": spec.tier_share if tier_level != "none" else 0.0,
        "years": spec.years,
    }


def run_config(
    spec: MatrixSpec, cell: Cell, level: str, seed: int, *, tier_level: str = "none", scenario: str = "uniform"
) -> Any:
    """The validated :class:`~sim.core.config.Config` of one run of a cell."""
    market = {**spec.market, **(spec.technology_heavy if scenario == "technology_heavy" else {})}
    return from_mapping({**market, **run_fields(spec, cell, level, tier_level), "seed": seed})


# ----------------------------------------------------------------------------------------------------------------
# Reading
# ----------------------------------------------------------------------------------------------------------------
def _model_fields(prefix: str, table: Mapping[str, Any]) -> dict[str, Any]:
    """Model fields of a section, each a known field the experiment does not set itself."""
    for key in table:
        if not is_field(key):
            raise checks.fail(f"{prefix}.{key}", "unknown field; see `relsim fields` for the allowed names")
        if key in DESIGN_FIELDS:
            raise checks.fail(
                f"{prefix}.{key}", "set by the experiment (per cell or in [experiment]); not allowed here"
            )
    return dict(table)


def _file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def _base_market(base_config: Path | None) -> dict[str, Any]:
    """The model's defaults, or a flat config file's fields over them (validated by sim.core.inputs.load)."""
    if base_config is None:
        values = from_mapping({}).as_dict()
    else:
        if not base_config.is_file():
            raise checks.fail(
                "experiment.base_config",
                f"file not found: {base_config} (produce it first, or remove the key to use the model defaults)",
            )
        try:
            values = load(base_config).as_dict()
        except ConfigError as error:
            raise checks.fail("experiment.base_config", f"{base_config}: {error}") from None
    return {name: value for name, value in values.items() if name not in DESIGN_FIELDS}


def _experiment(data: Mapping[str, Any]) -> dict[str, Any]:
    """[experiment]: the design and statistics settings."""
    experiment = checks.table("experiment", data.get("experiment", {}))
    checks.no_unknown("experiment.", experiment, EXPERIMENT_KEYS)
    get = experiment.get
    settings: dict[str, Any] = {
        "replications": checks.integer("experiment.replications", get("replications", 30), 1, 100_000),
        "years": checks.integer("experiment.years", get("years", 10), 1, 100),
        "base_seed": checks.integer("experiment.base_seed", get("base_seed", 0), 0, 2**63 - 1),
        "confidence": checks.number("experiment.confidence", get("confidence", 0.95), 0.0, 1.0, above_low=True),
        "bootstrap": checks.integer("experiment.bootstrap", get("bootstrap", 2000), 0, 1_000_000),
        "bootstrap_seed": checks.integer("experiment.bootstrap_seed", get("bootstrap_seed", 1), 0, 2**63 - 1),
        "metric": get("metric", "discounted_profit"),
    }
    if settings["confidence"] >= 1.0:
        raise checks.fail("experiment.confidence", f"must be below 1; got {settings['confidence']!r}")
    if settings["metric"] not in METRIC_CHOICES:
        raise checks.fail(
            "experiment.metric", f"must be one of {', '.join(METRIC_CHOICES)}; got {settings['metric']!r}"
        )
    return settings


def _quick(data: Mapping[str, Any]) -> dict[str, int]:
    quick = checks.table("quick", data.get("quick", {}))
    checks.no_unknown("quick.", quick, ("replications", "years", "sample_customers"))
    return {
        "replications": checks.integer("quick.replications", quick.get("replications", 4), 1, 100_000),
        "years": checks.integer("quick.years", quick.get("years", 5), 1, 100),
        "sample_customers": checks.integer(
            "quick.sample_customers", quick.get("sample_customers", 2000), 1, 10_000_000
        ),
    }


def _technology_heavy(data: Mapping[str, Any], market: Mapping[str, Any]) -> dict[str, Any]:
    """[technology_heavy]: fields set (``<field>``) or multiplied (``<field>_factor``) relative to the market."""
    tech = checks.table("technology_heavy", data.get("technology_heavy", {}))
    minimum_level = checks.level("technology_heavy.minimum_level", tech.get("minimum_level", "accountable"))
    if level_index(minimum_level) == 0:
        raise checks.fail(
            "technology_heavy.minimum_level", "must be above basic (the claim compares it with lower levels)"
        )
    values: dict[str, Any] = {}
    words: list[str] = []
    for key, value in tech.items():
        if key == "minimum_level":
            continue
        is_factor = key.endswith("_factor") and key.removesuffix("_factor") in FIELDS
        name = key.removesuffix("_factor") if is_factor else key
        _model_fields("technology_heavy", {name: value})
        if is_factor:
            if "choices" in FIELDS[name].metadata:
                raise checks.fail(f"technology_heavy.{key}", f"{name} is not a number and cannot be multiplied")
            factor = checks.number(f"technology_heavy.{key}", value, 0.0, 1e6)
            values[name] = float(f"{market[name] * factor:.12g}")  # 0.3 × 3 = 0.9, not 0.8999…
            words.append(f"{name} ×{factor:g} ({market[name]:g} → {values[name]:g})")
        else:
            values[name] = value
            words.append(f"{name} = {value!r} (base {market[name]!r})")
    try:
        from_mapping({**market, **values})
    except ConfigError as error:
        suffix = "_factor" if f"{error.field}_factor" in tech else ""
        raise checks.fail(f"technology_heavy.{error.field}{suffix}", checks.message(error)) from None
    return {"technology_heavy": values, "technology_heavy_changes": tuple(words), "minimum_level": minimum_level}


def _tier_share(data: Mapping[str, Any]) -> float:
    tiered = checks.table("tiered", data.get("tiered", {}))
    checks.no_unknown("tiered.", tiered, ("top_share",))
    share = checks.number("tiered.top_share", tiered.get("top_share", 0.2), 0.0, 1.0, above_low=True)
    if share >= 1.0:
        raise checks.fail("tiered.top_share", f"must be below 1; got {share!r}")
    return share


def parse_spec(data: Mapping[str, Any], base_dir: Path | str = ".", source: str | None = None) -> MatrixSpec:
    """A validated :class:`MatrixSpec` from the TOML's data; every error names its key (``cells.x.margin``)."""
    checks.no_unknown("", data, ("experiment", "quick", "market", "technology_heavy", "tiered", "cells"))
    settings = _experiment(data)
    experiment = data.get("experiment", {})
    base_config = None
    if "base_config" in experiment:
        base_config = Path(base_dir) / checks.text("experiment.base_config", experiment["base_config"])
    market = _base_market(base_config)
    overrides = _model_fields("market", checks.table("market", data.get("market", {})))
    try:
        market = {k: v for k, v in from_mapping({**market, **overrides}).as_dict().items() if k not in DESIGN_FIELDS}
    except ConfigError as error:
        raise checks.fail(f"market.{error.field}", checks.message(error)) from None
    quick = _quick(data)
    technology = _technology_heavy(data, market)
    tier_share = _tier_share(data)
    spec = MatrixSpec(
        cells=parse_cells(data.get("cells", {})),
        market=market,
        base_config=None if base_config is None else str(base_config),
        base_config_hash=None if base_config is None else _file_hash(base_config),
        market_overrides=overrides,
        tier_share=tier_share,
        quick=quick,
        source=source,
        **technology,
        **settings,
    )
    _check_runs(spec)
    return spec


def _check_runs(spec: MatrixSpec) -> None:
    """Build every distinct run's config once through the model's own validation, before anything runs."""
    seed = derive_seed(spec.base_seed, 0)
    for cell in spec.cells:
        for scenario in SCENARIOS:
            for _, level, tier_level in policies(scenario, spec.levels):
                try:
                    run_config(spec, cell, level, seed, tier_level=tier_level, scenario=scenario)
                except ConfigError as error:
                    raise checks.fail(_blame(error.field, cell), checks.message(error)) from None


def _blame(model_field: str, cell: Cell) -> str:
    """The spec key behind a model field's error."""
    if model_field == "n_customers":
        return f"cells.{cell.name}.sample_customers"
    if model_field in ("revenue_per_customer", "margin"):
        return f"cells.{cell.name}.{model_field}"
    if model_field in ("years", "seed"):
        return f"experiment.{model_field}"
    return f"market.{model_field}"


def load_spec(path: str | Path) -> MatrixSpec:
    """Read and validate a matrix spec file (paths inside it are relative to the file)."""
    path = Path(path)
    data, text = read_toml(path, "--spec")
    spec = parse_spec(data, base_dir=path.parent, source=str(path))
    return replace(spec, source_hash=hashlib.sha256(text.encode()).hexdigest()[:16])
