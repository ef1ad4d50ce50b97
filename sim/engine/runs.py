"""One chunk of a sweep: pure, picklable functions of plain data returning plain rows, so every evaluator
(in-process, process pool, Dask) gives bit-identical results."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from sim.core.config import from_mapping
from sim.engine.spec import SUMMARY_METRICS

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
    "concessions",
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
    gives the accounts of every margin (margin changes no customer's behaviour). Revenue is after concessions to
    powerful buyers, which come off the margin in full: gross margin = m × (revenue + concessions) − concessions.
    """
    revenue, relationship, acquisition = series["revenue"], series["relationship_cost"], series["acquisition_cost"]
    concessions, discount = series["concessions"], series["discount"]
    totals = {
        "revenue": revenue.sum(),
        "relationship_cost": relationship.sum(),
        "acquisition_cost": acquisition.sum(),
        "discounted_revenue": revenue @ discount,
        "discounted_relationship_cost": relationship @ discount,
        "discounted_acquisition_cost": acquisition @ discount,
    }
    if concessions.any():  # (a test keeps this equal to the model's own accounts)
        conceded, discounted_conceded = concessions.sum(), concessions @ discount
        totals["gross_margin"] = margin * (totals["revenue"] + conceded) - conceded
        totals["discounted_gross_margin"] = margin * (totals["discounted_revenue"] + discounted_conceded)
        totals["discounted_gross_margin"] -= discounted_conceded
    else:
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


