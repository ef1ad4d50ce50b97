"""Reading a sweep spec: TOML data into a validated :class:`~sim.engine.sweepspec.SweepSpec`, every error one
:class:`~sim.errors.ConfigError` naming its key. What the sweep varies ([vary], [[points]]) is read by
:mod:`sim.engine.factors`. The data names are re-exported from :mod:`sim.engine.sweepspec`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from sim.core.config import FIELDS, ConfigError, from_mapping
from sim.core.inputs import load, segment_base
from sim.engine import checks
from sim.engine.factors import check_field_name, explicit_points, varied_factors
from sim.engine.sweepspec import (
    ACCOUNTING_FIELDS,
    CUSTOMERS,
    DEFAULT_METRICS,
    DERIVED,
    DESIGNS,
    KEY_COLUMNS,
    MANIFEST,
    METRICS,
    PARTS,
    RATE_METRICS,
    RESULTS,
    SUMMARY_METRICS,
    TOTAL_METRICS,
    Factor,
    SweepSpec,
)
from sim.files import read_toml

__all__ = [
    "ACCOUNTING_FIELDS",
    "CUSTOMERS",
    "DEFAULT_METRICS",
    "DERIVED",
    "DESIGNS",
    "KEY_COLUMNS",
    "MANIFEST",
    "METRICS",
    "PARTS",
    "RATE_METRICS",
    "RESULTS",
    "SUMMARY_METRICS",
    "TOTAL_METRICS",
    "Factor",
    "SweepSpec",
    "read_spec",
    "read_spec_file",
]

SECTIONS = ("sweep", "fixed", "vary", "points", "scenarios", "compare", "outputs")
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
    "labels",
)


def _settings(sweep: Mapping[str, Any]) -> dict[str, Any]:
    """[sweep]: the design and how it is run."""
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
    if design in ("grid", "points"):
        if "samples" in sweep:
            raise checks.fail(
                "sweep.samples", f"only for sampled designs (latin, sobol, morris); a {design} lists its values"
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
    if "labels" in sweep and design != "points":
        raise checks.fail("sweep.labels", "only for design = points (labels name explicit points)")
    return settings


def _base(sweep: Mapping[str, Any], data: Mapping[str, Any], base_dir: Path) -> tuple[dict, dict, int | None, Any]:
    """The base config (model defaults, a flat config file, then [fixed]), [fixed] itself, its customers and the
    base config's path."""
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
        check_field_name(f"fixed.{name}", name)
        if isinstance(value, (Mapping, list)):
            raise checks.fail(f"fixed.{name}", f"must be a single value (vary it in [vary]); got {value!r}")
    if CUSTOMERS in fixed:
        customers = checks.integer(f"fixed.{CUSTOMERS}", fixed.pop(CUSTOMERS), 1, 10**12)
    try:
        start = segment_base(base) if "segment" in fixed else base  # a segment's profile under the base's own fields
        base = from_mapping({**start, **fixed}).as_dict()
    except ConfigError as error:
        raise checks.fail(f"fixed.{error.field}", checks.message(error)) from None
    return base, fixed, customers, base_config


def _scenarios(data: Mapping[str, Any], base: Mapping[str, Any], names: list[str]) -> tuple:
    """[scenarios]: named markets, each a set of field overrides."""
    scenarios = []
    for scenario, overrides in checks.table("scenarios", data.get("scenarios", {})).items():
        overrides = dict(checks.table(f"scenarios.{scenario}", overrides))
        for name in overrides:
            check_field_name(f"scenarios.{scenario}.{name}", name, allow_customers=False)
            if name in names:
                raise checks.fail(f"scenarios.{scenario}.{name}", "is a factor in [vary]; a scenario cannot set it")
        try:
            from_mapping({**base, **overrides})
        except ConfigError as error:
            raise checks.fail(f"scenarios.{scenario}.{error.field}", checks.message(error)) from None
        scenarios.append((scenario, overrides))
    return tuple(scenarios)


def _compare(data: Mapping[str, Any], names: list[str], fixed: Mapping[str, Any], base: Mapping[str, Any]) -> tuple:
    """[compare]: the levels simulated at every point, the metric that ranks them and the baseline."""
    compare = checks.table("compare", data.get("compare", {}))
    checks.no_unknown("compare.", compare, ("levels", "metric", "baseline"))
    if not compare:
        return (), "discounted_profit", None
    levels = compare.get("levels")
    if not isinstance(levels, list) or len(levels) < 2:
        raise checks.fail("compare.levels", f"must be a list of at least two level names; got {levels!r}")
    known = from_mapping(base).level_names  # the levels in effect: a base_config may add some
    for i, level in enumerate(levels):
        if level not in known:
            raise checks.fail(f"compare.levels[{i}]", f"must be one of {', '.join(known)}; got {level!r}")
    if len(set(levels)) != len(levels):
        raise checks.fail("compare.levels", "lists a level twice")
    if "level" in names or "level" in fixed:
        raise checks.fail("vary.level" if "level" in names else "fixed.level", "set by [compare] levels; remove it")
    metric = compare.get("metric", "discounted_profit")
    if metric not in METRICS:
        raise checks.fail("compare.metric", f"unknown metric {metric!r}; allowed: {', '.join(METRICS)}")
    baseline = compare.get("baseline", levels[0])
    if baseline not in levels:
        raise checks.fail("compare.baseline", f"must be one of compare.levels ({', '.join(levels)}); got {baseline!r}")
    return tuple(levels), metric, baseline


def _outputs(data: Mapping[str, Any], compare_levels: tuple, compare_metric: str) -> tuple:
    """[outputs]: the metrics kept per run (per level when comparing) and the derived outputs."""
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
    return tuple(dict.fromkeys(metrics)), tuple(dict.fromkeys(derived))


def read_spec(data: Mapping[str, Any], base_dir: Path | str = ".", source: str | None = None) -> SweepSpec:
    """A validated :class:`SweepSpec` from a TOML document's data; every error names its key."""
    checks.no_unknown("", data, SECTIONS)
    sweep = checks.table("sweep", data.get("sweep", {}))
    checks.no_unknown("sweep.", sweep, SWEEP_KEYS)
    settings = _settings(sweep)
    design = settings["design"]
    base, fixed, customers, base_config = _base(sweep, data, Path(base_dir))

    points: tuple[Mapping[str, Any], ...] = ()
    if design == "points":
        declared = checks.table("scenarios", data.get("scenarios", {}))
        factors, points = explicit_points(data, sweep, declared)
    else:
        factors = varied_factors(data, design)
    names = [f.name for f in factors if not f.label]
    for name in names:
        if name in fixed or (name == CUSTOMERS and customers is not None):
            where = "vary" if design != "points" else "points[0]"
            raise checks.fail(f"{where}.{name}", "also set in [fixed]; give it in one place")

    uses_customers = customers is not None or CUSTOMERS in names
    for key in ("total_revenue", "sample_customers"):
        if key in settings and not uses_customers:
            raise checks.fail(f"sweep.{key}", "only with a `customers` factor or fixed value")
    if uses_customers:  # n_customers (and with total_revenue, revenue_per_customer) follow from customers
        for name in ("n_customers", "revenue_per_customer"):
            if name == "revenue_per_customer" and "total_revenue" not in settings:
                continue
            varied = name in names and not (design == "points" and name == "n_customers")  # a point's sample
            if varied or name in fixed:
                where = ("points[0]" if design == "points" else "vary") if varied else "fixed"
                raise checks.fail(f"{where}.{name}", "set from `customers` (and sweep.total_revenue); remove it")

    compare_levels, compare_metric, baseline = _compare(data, names, fixed, base)
    metrics, derived = _outputs(data, compare_levels, compare_metric)
    return SweepSpec(
        factors=factors,
        base=base,
        scenarios=_scenarios(data, base, names),
        customers=customers,
        compare_levels=compare_levels,
        compare_metric=compare_metric,
        baseline=baseline,
        metrics=metrics,
        derived=derived,
        name=sweep.get("name", Path(source).stem if source else "sweep"),
        out=sweep.get("out"),
        base_config=None if base_config is None else str(base_config),
        source=source,
        fixed={**fixed, **({CUSTOMERS: customers} if customers is not None else {})},
        points=points,
        **settings,
    )


def read_spec_file(path: str | Path) -> SweepSpec:
    """Read a sweep spec file (paths inside it are relative to the file); :func:`sim.engine.sweep.load_spec` also
    checks every simulation's config."""
    path = Path(path)
    data, text = read_toml(path, "SPEC")
    spec = read_spec(data, base_dir=path.parent, source=str(path))
    return replace(spec, source_text=text)
