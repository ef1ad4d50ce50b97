"""The matrix experiment (issue 5): is Kotler's recommended relationship level the most profitable one per cell?

Plain data in, DataFrames out. The pieces, in the order a run uses them (docs/MATRIX.md explains the design):

- :func:`load_spec` reads ``experiments/matrix.toml`` into a validated :class:`MatrixSpec` (nine cells, design
  settings, the shared market, the technology-heavy scenario and the tiered policies);
- :func:`build_tasks` lists the runs: cells that differ only in margin share one simulation (margin enters only
  the accounts), and replication ``r`` uses the same seed for every level, policy and scenario (common random
  numbers), so that differences between levels are paired;
- :func:`simulate` runs one task; it is a pure, picklable function of its parameters, so :func:`execute` can hand
  tasks to a process pool and get identical results whatever the number of workers;
- :func:`analyse` turns the runs into per-level summaries with t-intervals, per-cell verdicts, the bootstrap
  interval of the agreement score, the mechanism behind each disagreement and the two further claims;
- :func:`write_results` writes CSVs, two figures and ``REPORT.md`` atomically;
- :func:`add_matrix_parser` and :func:`run_matrix_command` are the ``relsim matrix`` command.
"""

from __future__ import annotations

import hashlib
import json
import math
import multiprocessing
import multiprocessing.context
import os
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import as_completed
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.core.config import FIELDS, ConfigError, from_mapping, load
from sim.core.levels import LEVEL_NAMES, level_index
from sim.core.model import RelationshipModel
from sim.engine import checks
from sim.engine.evaluators import process_pool
from sim.files import read_toml
from sim.outputs.results import yearly
from sim.outputs.stats import t_interval

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SPEC = Path("experiments") / "matrix.toml"
DEFAULT_OUT = Path("results") / "matrix"
QUICK_OUT = Path("out") / "matrix-quick"

SCENARIOS = ("uniform", "technology_heavy", "tiered")
METRIC_CHOICES = ("discounted_profit", "profit")
# Fields the experiment sets per run; a base config or [market] may not set them.
DESIGN_FIELDS = ("level", "tier_level", "tier_share", "n_customers", "years", "seed", "revenue_per_customer", "margin")
# Totals of the real firm (scaled from the sample); the other metrics are ratios and are not scaled.
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


# ----------------------------------------------------------------------------------------------------------------
# The specification: cells and settings as validated data
# ----------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Cell:
    """One cell of the matrix: a firm with ``customers`` customers worth ``revenue_per_customer`` a year each."""

    name: str
    row: str
    column: str
    customers: int
    revenue_per_customer: float
    margin: float
    recommended: str
    sample_customers: int
    also_acceptable: tuple[str, ...] = ()

    @property
    def scale(self) -> float:
        """Factor from the simulated sample to the real firm (1 when every customer is simulated)."""
        return self.customers / self.sample_customers


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

    def seeds(self) -> list[int]:
        return [replication_seed(self.base_seed, r) for r in range(self.replications)]


def replication_seed(base_seed: int, replication: int) -> int:
    """The model seed of replication ``r``: the same for every cell, level, policy and scenario (CRN).

    Derived through a SeedSequence keyed by (base_seed, r), so adding replications never changes the first ones.
    """
    state = np.random.SeedSequence(base_seed, spawn_key=(replication,)).generate_state(1, np.uint64)[0]
    return int(state >> np.uint64(1))  # the model accepts seeds up to 2**63 - 1


def _model_fields(prefix: str, table: Mapping[str, Any]) -> dict[str, Any]:
    """Model fields of a section, each a known field the experiment does not set itself."""
    for key in table:
        if key not in FIELDS:
            raise checks.fail(f"{prefix}.{key}", "unknown field; see `relsim fields` for the allowed names")
        if key in DESIGN_FIELDS:
            raise checks.fail(
                f"{prefix}.{key}", "set by the experiment (per cell or in [experiment]); not allowed here"
            )
    return dict(table)


def _file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def _base_market(base_config: Path | None) -> dict[str, Any]:
    """The model's defaults, or a flat config file's fields over them (validated by sim.core.config.load)."""
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


def parse_spec(data: Mapping[str, Any], base_dir: Path | str = ".", source: str | None = None) -> MatrixSpec:
    """A validated :class:`MatrixSpec` from the TOML's data; every error names its key (``cells.x.margin``)."""
    base_dir = Path(base_dir)
    checks.no_unknown("", data, ("experiment", "quick", "market", "technology_heavy", "tiered", "cells"))

    experiment = checks.table("experiment", data.get("experiment", {}))
    checks.no_unknown(
        "experiment.",
        experiment,
        ("replications", "years", "base_seed", "metric", "confidence", "bootstrap", "bootstrap_seed", "base_config"),
    )
    settings: dict[str, Any] = {
        "replications": checks.integer("experiment.replications", experiment.get("replications", 30), 1, 100_000),
        "years": checks.integer("experiment.years", experiment.get("years", 10), 1, 100),
        "base_seed": checks.integer("experiment.base_seed", experiment.get("base_seed", 0), 0, 2**63 - 1),
        "confidence": checks.number(
            "experiment.confidence", experiment.get("confidence", 0.95), 0.0, 1.0, above_low=True
        ),
        "bootstrap": checks.integer("experiment.bootstrap", experiment.get("bootstrap", 2000), 0, 1_000_000),
        "bootstrap_seed": checks.integer(
            "experiment.bootstrap_seed", experiment.get("bootstrap_seed", 1), 0, 2**63 - 1
        ),
    }
    if settings["confidence"] >= 1.0:
        raise checks.fail("experiment.confidence", f"must be below 1; got {settings['confidence']!r}")
    metric = experiment.get("metric", "discounted_profit")
    if metric not in METRIC_CHOICES:
        raise checks.fail("experiment.metric", f"must be one of {', '.join(METRIC_CHOICES)}; got {metric!r}")

    base_config = None
    if "base_config" in experiment:
        base_config = base_dir / checks.text("experiment.base_config", experiment["base_config"])
    market = _base_market(base_config)
    overrides = _model_fields("market", checks.table("market", data.get("market", {})))
    try:
        market = {k: v for k, v in from_mapping({**market, **overrides}).as_dict().items() if k not in DESIGN_FIELDS}
    except ConfigError as error:
        raise checks.fail(f"market.{error.field}", checks.message(error)) from None

    quick = checks.table("quick", data.get("quick", {}))
    checks.no_unknown("quick.", quick, ("replications", "years", "sample_customers"))
    quick_settings = {
        "replications": checks.integer("quick.replications", quick.get("replications", 4), 1, 100_000),
        "years": checks.integer("quick.years", quick.get("years", 5), 1, 100),
        "sample_customers": checks.integer(
            "quick.sample_customers", quick.get("sample_customers", 2000), 1, 10_000_000
        ),
    }

    tech = checks.table("technology_heavy", data.get("technology_heavy", {}))
    minimum_level = checks.level("technology_heavy.minimum_level", tech.get("minimum_level", "accountable"))
    if level_index(minimum_level) == 0:
        raise checks.fail(
            "technology_heavy.minimum_level", "must be above basic (the claim compares it with lower levels)"
        )
    tech_values: dict[str, Any] = {}
    tech_words: list[str] = []
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
            tech_values[name] = float(f"{market[name] * factor:.12g}")  # 0.3 × 3 = 0.9, not 0.8999…
            tech_words.append(f"{name} ×{factor:g} ({market[name]:g} → {tech_values[name]:g})")
        else:
            tech_values[name] = value
            tech_words.append(f"{name} = {value!r} (base {market[name]!r})")
    try:
        from_mapping({**market, **tech_values})
    except ConfigError as error:
        suffix = "_factor" if f"{error.field}_factor" in tech else ""
        raise checks.fail(f"technology_heavy.{error.field}{suffix}", checks.message(error)) from None

    tiered = checks.table("tiered", data.get("tiered", {}))
    checks.no_unknown("tiered.", tiered, ("top_share",))
    tier_share = checks.number("tiered.top_share", tiered.get("top_share", 0.2), 0.0, 1.0, above_low=True)
    if tier_share >= 1.0:
        raise checks.fail("tiered.top_share", f"must be below 1; got {tier_share!r}")

    cells_table = checks.table("cells", data.get("cells", {}))
    if not cells_table:
        raise checks.fail("cells", "at least one cell is needed")
    cells = tuple(_parse_cell(name, checks.table(f"cells.{name}", table)) for name, table in cells_table.items())
    seen: dict[tuple[str, str], str] = {}
    for cell in cells:
        if (cell.row, cell.column) in seen:
            raise checks.fail(
                f"cells.{cell.name}.column",
                f"row {cell.row!r} × column {cell.column!r} is already cell {seen[cell.row, cell.column]!r}",
            )
        seen[cell.row, cell.column] = cell.name

    spec = MatrixSpec(
        cells=cells,
        market=market,
        metric=metric,
        base_config=None if base_config is None else str(base_config),
        base_config_hash=None if base_config is None else _file_hash(base_config),
        market_overrides=overrides,
        technology_heavy=tech_values,
        technology_heavy_changes=tuple(tech_words),
        minimum_level=minimum_level,
        tier_share=tier_share,
        quick=quick_settings,
        source=source,
        **settings,
    )
    _check_runs(spec)
    return spec


def _parse_cell(name: str, table: Mapping[str, Any]) -> Cell:
    prefix = f"cells.{name}."
    allowed = (
        "row",
        "column",
        "customers",
        "revenue_per_customer",
        "margin",
        "sample_customers",
        "recommended",
        "also_acceptable",
    )
    checks.no_unknown(prefix, table, allowed)
    for key in ("row", "column", "customers", "revenue_per_customer", "margin", "recommended"):
        if key not in table:
            raise checks.fail(prefix + key, "missing")
    customers = checks.integer(prefix + "customers", table["customers"], 1, 10**12)
    sample = table.get("sample_customers", customers)
    sample_cap = int(FIELDS["n_customers"].metadata["high"])
    if "sample_customers" not in table and customers > sample_cap:
        raise checks.fail(prefix + "customers", f"above {sample_cap:,}: set sample_customers to simulate a sample")
    sample = checks.integer(prefix + "sample_customers", sample, 1, min(customers, sample_cap))
    also = table.get("also_acceptable", [])
    if not isinstance(also, list):
        raise checks.fail(prefix + "also_acceptable", f"must be a list of level names; got {also!r}")
    return Cell(
        name=name,
        row=checks.text(prefix + "row", table["row"]),
        column=checks.text(prefix + "column", table["column"]),
        customers=customers,
        revenue_per_customer=checks.number(
            prefix + "revenue_per_customer", table["revenue_per_customer"], 0.0, 1e12, above_low=True
        ),
        margin=checks.number(prefix + "margin", table["margin"], 0.0, 1.0),
        recommended=checks.level(prefix + "recommended", table["recommended"]),
        sample_customers=sample,
        also_acceptable=tuple(checks.level(f"{prefix}also_acceptable[{i}]", level) for i, level in enumerate(also)),
    )


def _check_runs(spec: MatrixSpec) -> None:
    """Build every distinct run's config once through the model's own validation, before anything runs."""
    seed = replication_seed(spec.base_seed, 0)
    for cell in spec.cells:
        for scenario in SCENARIOS:
            for _, level, tier_level in policies(scenario):
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


# ----------------------------------------------------------------------------------------------------------------
# The design: runs as plain data
# ----------------------------------------------------------------------------------------------------------------
def policies(scenario: str) -> list[tuple[str, str, str]]:
    """(policy label, level, tier_level) of every policy a scenario compares."""
    if scenario == "tiered":
        return [
            (f"{lower}+{upper}", lower, upper) for i, lower in enumerate(LEVEL_NAMES) for upper in LEVEL_NAMES[i + 1 :]
        ]
    return [(level, level, "none") for level in LEVEL_NAMES]


def run_config(
    spec: MatrixSpec, cell: Cell, level: str, seed: int, *, tier_level: str = "none", scenario: str = "uniform"
) -> Any:
    """The validated :class:`~sim.core.config.Config` of one run of a cell."""
    params = {
        **spec.market,
        **(spec.technology_heavy if scenario == "technology_heavy" else {}),
        "n_customers": cell.sample_customers,
        "revenue_per_customer": cell.revenue_per_customer,
        "margin": cell.margin,
        "level": level,
        "tier_level": tier_level,
        "tier_share": spec.tier_share if tier_level != "none" else 0.0,
        "years": spec.years,
        "seed": seed,
    }
    return from_mapping(params)


def _groups(cells: Sequence[Cell]) -> list[list[Cell]]:
    """Cells that differ only in margin: one simulation serves them all (margin enters only the accounts)."""
    groups: dict[tuple[int, float, int], list[Cell]] = {}
    for cell in cells:
        groups.setdefault((cell.customers, cell.revenue_per_customer, cell.sample_customers), []).append(cell)
    return list(groups.values())


def build_tasks(spec: MatrixSpec, scenarios: Sequence[str] = SCENARIOS) -> list[dict[str, Any]]:
    """Every run of the experiment as a plain dict that :func:`simulate` takes."""
    tasks = []
    seeds = spec.seeds()
    for scenario in scenarios:
        for group in _groups(spec.cells):
            for policy, level, tier_level in policies(scenario):
                for replication, seed in enumerate(seeds):
                    config = run_config(spec, group[0], level, seed, tier_level=tier_level, scenario=scenario)
                    tasks.append(
                        {
                            "scenario": scenario,
                            "policy": policy,
                            "level": level,
                            "tier_level": tier_level,
                            "replication": replication,
                            "config": config.as_dict(),
                            "cells": [{"cell": c.name, "margin": c.margin, "scale": c.scale} for c in group],
                        }
                    )
    return tasks


def simulate(task: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One simulation, reported for every cell it serves: a pure function of ``task`` (picklable for pools).

    Profit at margin m is m × revenue − relationship cost − acquisition cost, month by month, so the accounts of
    every margin follow from one run's revenue and costs (tests/test_matrix.py checks this against direct runs).
    Totals are scaled from the simulated sample to the real firm; ratios are not.
    """
    config = from_mapping(task["config"])
    monthly = RelationshipModel(config).run().monthly()
    discount = (1.0 + config.discount_rate) ** (-monthly.index.to_numpy(float) / 12.0)
    revenue = monthly["revenue"].to_numpy(float)
    relationship = monthly["relationship_cost"].to_numpy(float)
    acquisition = monthly["acquisition_cost"].to_numpy(float)
    account = monthly["cost_account_management"].to_numpy(float)
    per_year = yearly(monthly)
    sums = {
        "revenue": revenue.sum(),
        "discounted_revenue": revenue @ discount,
        "relationship_cost": relationship.sum(),
        "discounted_relationship_cost": relationship @ discount,
        "acquisition_cost": acquisition.sum(),
        "discounted_acquisition_cost": acquisition @ discount,
        "discounted_account_team_cost": account @ discount,
    }
    customer_years = float(monthly["active"].sum()) / 12.0
    retention = float(per_year["retention"].mean())
    cost_to_serve = sums["relationship_cost"] / customer_years if customer_years else 0.0
    records = []
    for target in task["cells"]:
        margin, scale = target["margin"], target["scale"]
        records.append(
            {
                "scenario": task["scenario"],
                "cell": target["cell"],
                "policy": task["policy"],
                "level": task["level"],
                "tier_level": task["tier_level"],
                "replication": task["replication"],
                "seed": config.seed,
                "discounted_profit": scale
                * (
                    margin * sums["discounted_revenue"]
                    - sums["discounted_relationship_cost"]
                    - sums["discounted_acquisition_cost"]
                ),
                "profit": scale * (margin * sums["revenue"] - sums["relationship_cost"] - sums["acquisition_cost"]),
                "revenue": scale * sums["revenue"],
                "gross_margin": scale * margin * sums["revenue"],
                "discounted_gross_margin": scale * margin * sums["discounted_revenue"],
                "relationship_cost": scale * sums["relationship_cost"],
                "discounted_relationship_cost": scale * sums["discounted_relationship_cost"],
                "acquisition_cost": scale * sums["acquisition_cost"],
                "discounted_acquisition_cost": scale * sums["discounted_acquisition_cost"],
                "discounted_account_team_cost": scale * sums["discounted_account_team_cost"],
                "customers_end": scale * float(per_year["active"].iloc[-1]),
                "retention_rate": retention,
                "cost_to_serve_per_customer": cost_to_serve,
            }
        )
    return records


def default_workers() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _pool_context() -> multiprocessing.context.BaseContext:
    """Fork on Linux: workers start at once with the model imported, and scripts need no ``__main__`` guard.

    An explicit context is needed because importing mesa (its batchrunner) switches the global default to spawn.
    """
    if sys.platform == "linux":
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def execute(tasks: Sequence[Mapping[str, Any]], workers: int = 1, progress: bool = False) -> pd.DataFrame:
    """Run the tasks (in-process for one worker, else on a process pool); one row per cell served per task.

    Results are placed by task index, so the frame is the same whatever the number of workers and the order in
    which runs finish. The largest runs start first so that workers finish together.
    """
    from tqdm import tqdm  # a dependency of mesa; imported here to keep `import sim.experiments.matrix` light

    def cost(task: Mapping[str, Any]) -> float:
        config = task["config"]
        return (
            config["n_customers"]
            * config["years"]
            * (1 + level_index(task["tier_level"] if task["tier_level"] != "none" else task["level"]))
        )

    order = sorted(range(len(tasks)), key=lambda i: -cost(tasks[i]))
    results: list[list[dict[str, Any]]] = [[] for _ in tasks]
    with tqdm(
        total=len(tasks), disable=not progress, desc="relsim matrix", unit="run", file=sys.stderr, mininterval=0.5
    ) as bar:
        if workers <= 1:
            for i in order:
                results[i] = simulate(tasks[i])
                bar.update()
        else:
            with process_pool(workers) as pool:  # workers ignore Ctrl+C, die with this process, stop on errors
                futures = {pool.submit(simulate, tasks[i]): i for i in order}
                for future in as_completed(futures):
                    results[futures[future]] = future.result()
                    bar.update()
    return pd.DataFrame([record for result in results for record in result])


# ----------------------------------------------------------------------------------------------------------------
# Statistics
# ----------------------------------------------------------------------------------------------------------------


def cube(runs: pd.DataFrame, cells: Sequence[str], policies_: Sequence[str], column: str) -> np.ndarray:
    """``column`` as an array (cell, policy, replication), replications in order (the pairing)."""
    table = runs.set_index(["cell", "policy", "replication"])[column].unstack("replication").sort_index(axis=1)
    index = pd.MultiIndex.from_product([list(cells), list(policies_)], names=["cell", "policy"])
    table = table.reindex(index)
    if table.isna().any().any():
        raise ValueError(f"incomplete design: missing runs for {column}")
    return table.to_numpy(float).reshape(len(cells), len(policies_), table.shape[1])


def verdicts(values: np.ndarray, recommended: np.ndarray, confidence: float = 0.95) -> dict[str, np.ndarray]:
    """Per cell: best policy (highest mean), paired difference best − recommended with its CI, agreement.

    ``values`` has shape (..., cells, policies, replications); leading axes (bootstrap resamples) broadcast.
    Agreement: the recommended policy is the best, or the paired CI of best − recommended includes 0.
    """
    means = values.mean(-1)
    best = means.argmax(-1)
    recommended = np.broadcast_to(recommended, best.shape)
    best_values = np.take_along_axis(values, best[..., None, None], axis=-2)[..., 0, :]
    recommended_values = np.take_along_axis(values, recommended[..., None, None], axis=-2)[..., 0, :]
    diff, low, high = t_interval(best_values - recommended_values, confidence)
    agreement = (best == recommended) | (low <= 0.0)
    return {"best": best, "diff": diff, "low": low, "high": high, "agreement": agreement}


def score_cells(
    runs: pd.DataFrame, recommended: Mapping[str, str], metric: str = "discounted_profit", confidence: float = 0.95
) -> pd.DataFrame:
    """Verdict per cell from uniform runs (columns cell, level, replication and ``metric``)."""
    cells = list(recommended)
    levels = [name for name in LEVEL_NAMES if name in set(runs["level"])]
    values = cube(runs.assign(policy=runs["level"]), cells, levels, metric)
    rec = np.array([levels.index(recommended[c]) for c in cells])
    result = verdicts(values, rec, confidence)
    means = values.mean(-1)
    return pd.DataFrame(
        {
            "best_level": [levels[i] for i in result["best"]],
            "recommended_level": [recommended[c] for c in cells],
            "best_mean": means[np.arange(len(cells)), result["best"]],
            "recommended_mean": means[np.arange(len(cells)), rec],
            "diff_mean": result["diff"],
            "diff_ci_low": result["low"],
            "diff_ci_high": result["high"],
            "agreement": result["agreement"],
        },
        index=pd.Index(cells, name="cell"),
    )


def bootstrap_agreement(
    values: np.ndarray, recommended: np.ndarray, n: int, seed: int, confidence: float = 0.95
) -> np.ndarray:
    """Agreement scores (cells agreeing) of ``n`` resamples of the replications.

    The same resampled replication indices are used for every cell and level, which keeps the pairing.
    """
    if n == 0:
        return np.zeros(0, int)
    replications = values.shape[-1]
    indices = np.random.default_rng(seed).integers(0, replications, size=(n, replications))
    scores = []
    for chunk in np.array_split(indices, max(1, n // 500)):  # bounded memory
        resampled = np.moveaxis(values[:, :, chunk], 2, 0)  # (resample, cell, level, replication)
        scores.append(verdicts(resampled, recommended, confidence)["agreement"].sum(-1))
    return np.concatenate(scores)


def _summary_frame(
    values: dict[str, np.ndarray], confidence: float, cells: Sequence[str], labels: Sequence[str], label: str
) -> pd.DataFrame:
    """Long frame (cell, label) with mean and CI of each named cube."""
    frame = pd.DataFrame({"cell": np.repeat(list(cells), len(labels)), label: np.tile(list(labels), len(cells))})
    for name, array in values.items():
        mean, low, high = t_interval(array, confidence)
        frame[f"{name}_mean"] = mean.ravel()
        frame[f"{name}_ci_low"] = low.ravel()
        frame[f"{name}_ci_high"] = high.ravel()
    return frame


# ----------------------------------------------------------------------------------------------------------------
# Analysis
# ----------------------------------------------------------------------------------------------------------------
@dataclass
class MatrixResult:
    """Everything a matrix run produced (``runs`` holds every replication; the rest is derived from it)."""

    spec: MatrixSpec
    runs: pd.DataFrame
    cells: pd.DataFrame  # one row per cell × level (cells.csv)
    verdicts: pd.DataFrame  # one row per cell
    agreement: int
    agreement_ci: tuple[float, float]
    bootstrap_scores: np.ndarray
    technology_heavy: pd.DataFrame  # cell × level (technology_heavy.csv)
    tiered: pd.DataFrame  # cell × tiered policy (tiered.csv)
    timings: dict[str, float] = field(default_factory=dict)
    workers: int = 1


def _cell_frame(spec: MatrixSpec) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "cell": [c.name for c in spec.cells],
            "row": [c.row for c in spec.cells],
            "column": [c.column for c in spec.cells],
            "customers": [c.customers for c in spec.cells],
            "sample_customers": [c.sample_customers for c in spec.cells],
            "revenue_per_customer": [c.revenue_per_customer for c in spec.cells],
            "margin": [c.margin for c in spec.cells],
        }
    )


def _level_values(runs: pd.DataFrame, spec: MatrixSpec, scenario: str, column: str) -> np.ndarray:
    names = [c.name for c in spec.cells]
    labels = [label for label, _, _ in policies(scenario)]
    return cube(runs[runs["scenario"] == scenario], names, labels, column)


def mechanism(cell: Cell, best: str, recommended: str, means: Mapping[str, Mapping[str, float]], years: int) -> str:
    """Why ``best`` beats ``recommended`` in a cell, in plain words, from the paired component differences.

    ``means[level][metric]`` are replication means. Money is per customer of the real firm's starting base per
    year, discounted, so that margin − relationship cost − acquisition cost adds up to the profit difference.
    """
    per = cell.customers * years
    b, k = means[best], means[recommended]
    margin = (b["discounted_gross_margin"] - k["discounted_gross_margin"]) / per
    cost = (b["discounted_relationship_cost"] - k["discounted_relationship_cost"]) / per
    acquisition = (b["discounted_acquisition_cost"] - k["discounted_acquisition_cost"]) / per
    team = (k["discounted_account_team_cost"] - b["discounted_account_team_cost"]) / per
    points = 100 * (b["retention_rate"] - k["retention_rate"])
    best_name, rec_name = best.capitalize(), recommended.capitalize()
    tally = (
        f"(per customer-year, discounted: margin {margin:+,.2f} $, relationship cost {cost:+,.2f} $"
        + (f", acquisition cost {acquisition:+,.2f} $" if abs(acquisition) > 0.005 else "")
        + f", profit {margin - cost - acquisition:+,.2f} $ for {best_name})"
    )
    serve = (
        f"cost to serve {k['cost_to_serve_per_customer']:,.2f} $ against {b['cost_to_serve_per_customer']:,.2f} $"
        " per customer served a year"
    )
    if level_index(best) > level_index(recommended) and margin > 0 and points > 0:
        text = (
            f"{rec_name} loses more customers (annual retention {k['retention_rate']:.1%} against "
            f"{b['retention_rate']:.1%} at {best_name}, {points:.1f} points lower); the margin lost "
            f"({margin:,.2f} $ per customer-year) is more than the {max(cost, 0):,.2f} $ per customer-year "
            f"that {best_name}'s relationship effort adds."
        )
    elif level_index(best) < level_index(recommended) and cost < 0:
        what = f"{rec_name}'s relationship costs ({serve}"
        what += f"; account team {team:,.2f} $ per customer-year)" if team > 0.005 else ")"
        if margin < 0:
            keeps = (
                f"the margin it keeps through higher retention ({-points:+.1f} points, "
                f"{-margin:,.2f} $ per customer-year)"
                if points < 0
                else f"the margin it adds ({-margin:,.2f} $ per customer-year; retention {-points:+.1f} points)"
            )
            text = f"{what} add {-cost:,.2f} $ per customer-year, more than {keeps}."
        else:
            text = f"{what} add {-cost:,.2f} $ per customer-year and earn no extra margin ({-points:+.1f} points)."
    else:
        text = (
            f"{best_name} against {rec_name}: annual retention {points:+.1f} points; {rec_name}'s {serve} at "
            f"{best_name}."
        )
    return f"{text} {tally}"


def analyse(
    spec: MatrixSpec, runs: pd.DataFrame, timings: Mapping[str, float] | None = None, workers: int = 1
) -> MatrixResult:
    """Tables, verdicts, bootstrap, mechanisms and the two further claims from the runs."""
    names = [c.name for c in spec.cells]
    levels = list(LEVEL_NAMES)
    conf = spec.confidence
    metric = spec.metric

    # --- the matrix: every cell × level -------------------------------------------------------------------
    uniform = {m: _level_values(runs, spec, "uniform", m) for m in METRICS}
    rec = np.array([level_index(c.recommended) for c in spec.cells])
    verdict = verdicts(uniform[metric], rec, conf)
    verdict_frame = pd.DataFrame(
        {
            "cell": names,
            "best_level": [levels[i] for i in verdict["best"]],
            "recommended_level": [c.recommended for c in spec.cells],
            "diff_mean": verdict["diff"],
            "diff_ci_low": verdict["low"],
            "diff_ci_high": verdict["high"],
            "agreement": verdict["agreement"],
        }
    )
    mechanisms = []
    for i, cell in enumerate(spec.cells):
        if verdict["agreement"][i]:
            mechanisms.append("")
            continue
        means = {lv: {m: float(uniform[m][i, j].mean()) for m in METRICS} for j, lv in enumerate(levels)}
        mechanisms.append(mechanism(cell, levels[verdict["best"][i]], cell.recommended, means, spec.years))
    verdict_frame["mechanism"] = mechanisms
    verdict_frame = _cell_frame(spec).merge(verdict_frame, on="cell")

    table = _summary_frame(
        {
            "profit": uniform[metric],
            "retention": uniform["retention_rate"],
            "cost_to_serve": uniform["cost_to_serve_per_customer"],
        },
        conf,
        names,
        levels,
        "level",
    )
    table = _cell_frame(spec).merge(table, on="cell")
    table.insert(table.columns.get_loc("level") + 1, "metric", metric)
    per_cell = verdict_frame.set_index("cell")
    table["best_level"] = table["cell"].map(per_cell["best_level"])
    table["recommended_level"] = table["cell"].map(per_cell["recommended_level"])
    table["is_best"] = table["level"] == table["best_level"]
    table["is_recommended"] = table["level"] == table["recommended_level"]
    for column in ("diff_mean", "diff_ci_low", "diff_ci_high", "agreement"):
        table[column] = table["cell"].map(per_cell[column])

    scores = bootstrap_agreement(uniform[metric], rec, spec.bootstrap, spec.bootstrap_seed, conf)
    tail = 100 * (1 - conf) / 2
    agreement_ci = (
        tuple(float(x) for x in np.percentile(scores, [tail, 100 - tail])) if len(scores) else (math.nan, math.nan)
    )

    return MatrixResult(
        spec=spec,
        runs=runs,
        cells=table,
        verdicts=verdict_frame,
        agreement=int(verdict["agreement"].sum()),
        agreement_ci=agreement_ci,  # type: ignore[arg-type]
        bootstrap_scores=scores,
        technology_heavy=_technology_heavy(spec, runs, uniform[metric]),
        tiered=_tiered(spec, runs, uniform[metric]),
        timings=dict(timings or {}),
        workers=workers,
    )


def _technology_heavy(spec: MatrixSpec, runs: pd.DataFrame, base: np.ndarray) -> pd.DataFrame:
    """Claim (1): with many problems and fast word of mouth, is Accountable or above the better choice?"""
    names = [c.name for c in spec.cells]
    levels = list(LEVEL_NAMES)
    conf = spec.confidence
    values = {m: _level_values(runs, spec, "technology_heavy", m) for m in (spec.metric, *RATIOS)}
    profit = values[spec.metric]
    means = profit.mean(-1)
    floor = level_index(spec.minimum_level)
    best = means.argmax(-1)
    best_high = floor + means[:, floor:].argmax(-1)
    best_low = means[:, :floor].argmax(-1)
    rows = np.arange(len(names))
    diff, low, high = t_interval(profit[rows, best_high] - profit[rows, best_low], conf)
    verdict = np.where(low > 0, "supported", np.where(high < 0, "contradicted", "indistinguishable"))
    table = _summary_frame(
        {
            "profit": profit,
            "retention": values["retention_rate"],
            "cost_to_serve": values["cost_to_serve_per_customer"],
        },
        conf,
        names,
        levels,
        "level",
    )
    per_cell = pd.DataFrame(
        {
            "cell": names,
            "best_level": [levels[i] for i in best],
            "best_level_base": [levels[i] for i in base.mean(-1).argmax(-1)],
            "best_is_at_least_minimum": best >= floor,
            "best_high_level": [levels[i] for i in best_high],
            "best_low_level": [levels[i] for i in best_low],
            "high_minus_low_mean": diff,
            "high_minus_low_ci_low": low,
            "high_minus_low_ci_high": high,
            "claim": verdict,
        }
    )
    table = _cell_frame(spec).merge(table, on="cell").merge(per_cell, on="cell")
    table.insert(table.columns.get_loc("level") + 1, "metric", spec.metric)
    table.insert(table.columns.get_loc("level"), "minimum_level", spec.minimum_level)
    return table


def _tiered(spec: MatrixSpec, runs: pd.DataFrame, uniform: np.ndarray) -> pd.DataFrame:
    """Claim (2): the best tiered policy (top share at a higher level) against the best uniform level, paired."""
    names = [c.name for c in spec.cells]
    labels = policies("tiered")
    conf = spec.confidence
    values = _level_values(runs, spec, "tiered", spec.metric)
    rows = np.arange(len(names))
    best_uniform = uniform.mean(-1).argmax(-1)
    reference = uniform[rows, best_uniform]  # (cell, replication)
    best_tiered = values.mean(-1).argmax(-1)
    diff, low, high = t_interval(values - reference[:, None, :], conf)  # every policy against the best uniform
    table = _summary_frame({"profit": values}, conf, names, [label for label, _, _ in labels], "policy")
    table.insert(2, "lower", np.tile([lo for _, lo, _ in labels], len(names)))
    table.insert(3, "upper", np.tile([up for _, _, up in labels], len(names)))
    table.insert(4, "top_share", spec.tier_share)
    table.insert(5, "metric", spec.metric)
    table["diff_vs_best_uniform_mean"] = diff.ravel()
    table["diff_vs_best_uniform_ci_low"] = low.ravel()
    table["diff_vs_best_uniform_ci_high"] = high.ravel()
    table["is_best_tiered"] = (np.arange(len(labels))[None, :] == best_tiered[:, None]).ravel()
    table["best_uniform_level"] = np.repeat([LEVEL_NAMES[i] for i in best_uniform], len(labels))
    table["best_uniform_mean"] = np.repeat(uniform.mean(-1)[rows, best_uniform], len(labels))
    best_low, best_high = low[rows, best_tiered], high[rows, best_tiered]
    verdict = np.where(best_low > 0, "tiered better", np.where(best_high < 0, "uniform better", "indistinguishable"))
    table["verdict"] = np.repeat(verdict, len(labels))
    return _cell_frame(spec).merge(table, on="cell")


def run_matrix(spec: MatrixSpec, workers: int | None = None, progress: bool = False) -> MatrixResult:
    """Run the whole experiment (all cells and levels, both further claims) and analyse it."""
    workers = default_workers() if workers is None else workers
    start = time.perf_counter()
    runs = execute(build_tasks(spec), workers=workers, progress=progress)
    simulated = time.perf_counter()
    result = analyse(spec, runs, workers=workers)
    result.timings = {"simulation_s": simulated - start, "analysis_s": time.perf_counter() - simulated}
    return result


# ----------------------------------------------------------------------------------------------------------------
# Output
# ----------------------------------------------------------------------------------------------------------------
def json_records(result: MatrixResult) -> list[dict[str, Any]]:
    """Per cell × level results for ``relsim matrix --json``."""
    columns = [
        "cell",
        "level",
        "profit_mean",
        "profit_ci_low",
        "profit_ci_high",
        "retention_mean",
        "cost_to_serve_mean",
        "best_level",
        "recommended_level",
        "agreement",
    ]
    frame = result.cells[columns].rename(columns={"retention_mean": "retention", "cost_to_serve_mean": "cost_to_serve"})
    records = frame.to_dict("records")
    for record in records:
        for key, value in record.items():
            if isinstance(value, np.generic):
                record[key] = value.item()
            if isinstance(record[key], float) and math.isnan(record[key]):
                record[key] = None
        record["metric"] = result.spec.metric
    return records


def money(value: float) -> str:
    """Dollars in millions, readable in a table."""
    if not math.isfinite(value):
        return "–"
    return f"{value / 1e6:,.2f}"


def interval(low: float, high: float, fmt: Any = money) -> str:
    if not (math.isfinite(low) and math.isfinite(high)):
        return "–"
    return f"[{fmt(low)}, {fmt(high)}]"


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=5, check=True
    ).stdout.strip()


def _git_revision() -> str | None:
    try:
        head = _git("rev-parse", "--short", "HEAD")
        dirty = _git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return None
    return head + (" (with uncommitted changes)" if dirty else "")


def _market_hash(spec: MatrixSpec) -> str:
    return hashlib.sha256(json.dumps(dict(spec.market), sort_keys=True).encode()).hexdigest()[:16]


def render_report(result: MatrixResult) -> str:
    """REPORT.md: the verdict in plain words, the tables, the two further claims and the parameter set."""
    spec = result.spec
    cells = {c.name: c for c in spec.cells}
    v = result.verdicts
    metric_words = "discounted profit (NPV" if spec.metric == "discounted_profit" else "profit (undiscounted"
    metric_words += f" over {spec.years} years, $M)"
    low, high = result.agreement_ci
    n = len(spec.cells)
    conf = f"{spec.confidence:.0%}"
    lines = [
        "# The matrix test: is Kotler's recommended level the most profitable one in each cell?",
        "",
        f"*{'Quick look (`relsim matrix --quick`): not a verdict.' if spec.mode == 'quick' else 'Full experiment.'}* "
        f"{spec.replications} replications × {n} cells × {len(LEVEL_NAMES)} levels, {spec.years} years, common random "
        f"numbers; metric: {metric_words}. Design and statistics: docs/MATRIX.md.",
        "",
        "## Verdict",
        "",
        f"**Kotler's recommendation holds in {result.agreement} of {n} cells** ({conf} bootstrap interval over "
        f"replications: {low:.0f} to {high:.0f}). A cell agrees when the recommended level is the most profitable "
        f"one or statistically indistinguishable from it (the paired {conf} CI of best − recommended includes 0).",
        "",
    ]
    disagree = v[~v["agreement"]]
    if len(disagree):
        lines.append("Where it does not hold:")
        lines.append("")
        for _, row in disagree.iterrows():
            cell = cells[row["cell"]]
            note = ""
            if row["best_level"] in cell.also_acceptable:
                note = f" (Kotler's table names {row['best_level'].capitalize()} as an alternative here.)"
            lines.append(
                f"- **{row['cell']}** ({cell.customers:,} customers × {cell.revenue_per_customer:,.0f} $, margin "
                f"{cell.margin:.0%}): the model's best is **{row['best_level']}**, "
                f"Kotler's is {row['recommended_level']}; best − recommended = {money(row['diff_mean'])} $M "
                f"{interval(row['diff_ci_low'], row['diff_ci_high'])}. "
                f"{row['mechanism']}{note}"
            )
        lines.append("")
    lines += [
        "Per customer-year figures are per customer of the firm's starting base per year, discounted, so that the "
        "components add up to the profit difference. The model's acquisition spend is fixed, the same at every "
        "level; bad word of mouth lowers what it wins, not what it costs.",
        "",
        "## The nine cells",
        "",
        "| cell | customers | revenue / customer | margin | Kotler | model's best | best − Kotler, $M "
        f"[{conf} CI] | agrees |",
        "|---|---:|---:|---:|---|---|---:|---|",
    ]
    for _, row in v.iterrows():
        lines.append(
            f"| {row['cell']} | {row['customers']:,} | {row['revenue_per_customer']:,.0f} $ | {row['margin']:.0%} | "
            f"{row['recommended_level']} | {row['best_level']} | {money(row['diff_mean'])} "
            f"{interval(row['diff_ci_low'], row['diff_ci_high'])} | {'yes' if row['agreement'] else '**no**'} |"
        )
    lines += [
        "",
        "![best level per cell beside Kotler's recommendation](heatmap.png)",
        "",
        "![profit by level per cell, with CIs](profit_by_level.png)",
        "",
        "### Per cell and level",
        "",
        f"Mean {metric_words.split(' (')[0]} in $M with its {conf} CI (t over replications), mean annual "
        "retention, and cost to serve ($ per customer served per year). ★ best, ◆ Kotler's recommendation.",
        "",
    ]
    for name, group in result.cells.groupby("cell", sort=False):
        cell = cells[name]
        lines += [
            f"**{name}**: {cell.customers:,} customers × {cell.revenue_per_customer:,.0f} $ a year, margin "
            f"{cell.margin:.0%}"
            + (f" (simulated: {cell.sample_customers:,}, totals × {cell.scale:g})" if cell.scale != 1 else ""),
            "",
            "| level | profit, $M | CI | retention | cost to serve, $ |",
            "|---|---:|---|---:|---:|",
        ]
        for _, row in group.iterrows():
            mark = ("★" if row["is_best"] else "") + ("◆" if row["is_recommended"] else "")
            lines.append(
                f"| {row['level']} {mark} | {money(row['profit_mean'])} | "
                f"{interval(row['profit_ci_low'], row['profit_ci_high'])} | {row['retention_mean']:.1%} | "
                f"{row['cost_to_serve_mean']:,.2f} |"
            )
        lines.append("")

    tech = result.technology_heavy.drop_duplicates("cell")
    held = int(tech["best_is_at_least_minimum"].sum())
    supported = int((tech["claim"] == "supported").sum())
    contradicted = int((tech["claim"] == "contradicted").sum())
    minimum = spec.minimum_level.capitalize()
    lines += [
        "## Technology-heavy products: at least Accountable?",
        "",
        f"The scenario changes the shared market: {'; '.join(spec.technology_heavy_changes)}. In {held} of {n} cells "
        f"the most profitable level is {minimum} or above. The best of {minimum}-or-above is statistically better "
        f"than the best of the lower levels (paired {conf} CI above 0) in {supported} cells, worse in "
        f"{contradicted}, indistinguishable in {n - supported - contradicted}.",
        "",
        f"| cell | best (base market) | best (technology-heavy) | ≥ {minimum}? | best high − best low, $M [{conf} CI] "
        "| claim |",
        "|---|---|---|---|---:|---|",
    ]
    for _, row in tech.iterrows():
        lines.append(
            f"| {row['cell']} | {row['best_level_base']} | {row['best_level']} | "
            f"{'yes' if row['best_is_at_least_minimum'] else 'no'} | "
            f"{row['best_high_level']} − {row['best_low_level']} = {money(row['high_minus_low_mean'])} "
            f"{interval(row['high_minus_low_ci_low'], row['high_minus_low_ci_high'])} | {row['claim']} |"
        )
    tiers = result.tiered[result.tiered["is_best_tiered"]]
    counts = tiers["verdict"].value_counts()
    lines += [
        "",
        "## Tiered policies: the most valuable customers at a higher level",
        "",
        f"Each pair of levels lower < upper ({len(policies('tiered'))} pairs) as a policy: the top "
        f"{spec.tier_share:.0%} of customers by value at the upper level, the rest at the lower. The best tiered "
        "policy beats the best "
        f"uniform level in {counts.get('tiered better', 0)} cells, loses in {counts.get('uniform better', 0)}, and "
        f"is indistinguishable in {counts.get('indistinguishable', 0)} (paired {conf} CI; choosing the best of ten "
        "policies favours the tiered side a little).",
        "",
        f"| cell | best uniform | its profit, $M | best tiered (top {spec.tier_share:.0%} / rest) | its profit, $M "
        f"| tiered − uniform, $M [{conf} CI] | verdict |",
        "|---|---|---:|---|---:|---:|---|",
    ]
    for _, row in tiers.iterrows():
        lines.append(
            f"| {row['cell']} | {row['best_uniform_level']} | {money(row['best_uniform_mean'])} | {row['upper']} / "
            f"{row['lower']} | {money(row['profit_mean'])} | {money(row['diff_vs_best_uniform_mean'])} "
            f"{interval(row['diff_vs_best_uniform_ci_low'], row['diff_vs_best_uniform_ci_high'])} | {row['verdict']} |"
        )
    seeds = spec.seeds()
    timings = result.timings
    overrides = ", ".join(f"{k} = {v!r}" for k, v in spec.market_overrides.items()) or "none"
    base = (
        f"base config `{spec.base_config}` (sha256 {spec.base_config_hash})"
        if spec.base_config
        else "the model defaults (sim.core.config.Config)"
    )
    lines += [
        "",
        "## Parameter set",
        "",
        f"- spec: `{spec.source or '(in memory)'}` (sha256 {spec.source_hash or '–'})"
        + (
            f", `--quick` design: at most {max(c.sample_customers for c in spec.cells):,} simulated customers a cell"
            if spec.mode == "quick"
            else ""
        ),
        f"- market: {base}; [market] overrides: {overrides}; resolved market parameters hash {_market_hash(spec)} "
        "(all values in parameters.json)",
        f"- discount rate {spec.market['discount_rate']:g}, competition {spec.market['competition']:g}, problem rate "
        f"{spec.market['problem_rate']:g}/year, partnership cost {spec.market['partnership_cost']:,.0f} $ a "
        "customer-year",
        f"- replications {spec.replications}, years {spec.years}, base seed {spec.base_seed}; replication r uses seed "
        f"SeedSequence({spec.base_seed}, spawn_key=(r,)) for every cell, level and scenario; first seeds: "
        + ", ".join(str(s) for s in seeds[:3])
        + ("…" if len(seeds) > 3 else ""),
        f"- bootstrap: {spec.bootstrap} resamples of the replications, seed {spec.bootstrap_seed}",
        "- sampling: "
        + "; ".join(
            f"{c.row} row {c.sample_customers:,} of {c.customers:,} customers simulated (totals × {c.scale:g})"
            for c in {c.row: c for c in spec.cells}.values()
        ),
        f"- run time: {timings.get('simulation_s', math.nan):.1f} s simulation + "
        f"{timings.get('analysis_s', math.nan):.1f} s analysis on {result.workers} "
        f"worker{'s' if result.workers != 1 else ''} ({len(result.runs):,} cell runs)",
        f"- code: relsim {_version()}" + (f", git {rev}" if (rev := _git_revision()) else ""),
        "",
    ]
    return "\n".join(lines)


def _version() -> str:
    from sim import __version__

    return __version__










