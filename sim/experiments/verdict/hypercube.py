"""The continuous Latin hypercube (issue 12, item 4a): customers, revenue per customer and margin sampled together
by the engine's Latin hypercube (SALib through sim.engine.plan.design), each point run at the files' values in the
segment that fits it.

The assignment rule is the factorial's, extended to continuous values: a point takes the segment of the nearest
factorial revenue per customer, Kotler's row of the nearest factorial number of customers (both on a log scale) and
his column of the nearest factorial margin. With the factorial's own values it gives the factorial's own segments,
rows and columns.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from sim.core.levels import LEVEL_NAMES
from sim.engine import api
from sim.engine.plan import design
from sim.experiments.verdict import analysis as stats
from sim.experiments.verdict.spec import Unit, VerdictSpec

FACTORS = ("n_customers", "revenue_per_customer", "margin")


def nearest(value: float, levels: Sequence[float], log: bool) -> int:
    """Index of the level nearest to ``value`` (in log10 when ``log``); a tie goes to the lower index."""
    f = math.log10 if log else float
    distances = [abs(f(value) - f(level)) for level in levels]
    return int(np.argmin(distances))


def sampler_spec(spec: VerdictSpec, seed: int) -> dict[str, Any]:
    """The Latin hypercube as an engine sweep (design "latin"): the engine draws its points."""
    h = spec.hypercube
    assert h is not None
    return {
        "sweep": {"name": "verdict-hypercube", "design": "latin", "samples": h.samples, "seed": seed,
                  "replications": h.replications},
        "fixed": {"years": spec.years},
        "vary": {
            "n_customers": {"low": h.customers[0], "high": h.customers[1], "scale": "log"},
            "revenue_per_customer": {"low": h.revenue_per_customer[0], "high": h.revenue_per_customer[1],
                                     "scale": "log"},
            "margin": {"low": h.margin[0], "high": h.margin[1]},
        },
        "compare": {"levels": list(LEVEL_NAMES), "metric": spec.metric},
    }  # fmt: skip


def sample(spec: VerdictSpec, seed: int) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """The sampler's matrix (log10 customers, log10 value, margin) and each point with its segment, Kotler's row,
    column and recommended level (customers capped in --quick, as every firm is)."""
    f = spec.factorial
    assert f is not None
    x, raw = design(api.as_spec(sampler_spec(spec, seed)))
    recommended = {(c.row, c.column): c.recommended for c in spec.cells}
    points = []
    for i, p in enumerate(raw):
        row = f.rows[nearest(p["n_customers"], f.customers, log=True)]
        column = f.columns[nearest(p["margin"], f.margins, log=False)]
        segment = f.segments[nearest(p["revenue_per_customer"], f.revenue_per_customer, log=True)]
        unit = spec.unit(Unit(segment, int(p["n_customers"]), float(p["revenue_per_customer"])))
        points.append({"sample": str(i), "segment": segment, "n_customers": unit.customers,
                       "revenue_per_customer": unit.revenue_per_customer, "margin": float(p["margin"]),
                       "kotler_row": row, "kotler_column": column,
                       "recommended": recommended.get((row, column), "")})  # fmt: skip
    return x, points


def hypercube_table(spec: VerdictSpec, points: list[dict[str, Any]], rows: pd.DataFrame) -> pd.DataFrame:
    """Per point: the best level, the regret of Kotler's, the TOST agreement, and the relative profit difference
    (Kotler's level − the best other level) / |best| (positive: his level wins by that share)."""
    records = []
    for p in points:
        if not p["recommended"]:
            continue
        k = LEVEL_NAMES.index(p["recommended"])
        profits = stats.profit_array(rows[rows["sample"] == p["sample"]].sort_values("replication"), spec.metric)
        out = stats.nominal_verdict(profits, k, spec.materiality, spec.alpha)
        means = profits.mean(axis=0)
        best = float(np.max(means))
        other = float(np.max(np.delete(means, k)))
        relative = (means[k] - other) / abs(best) if best != 0.0 else math.nan
        records.append({key: p[key] for key in ("sample", "segment", "n_customers", "revenue_per_customer", "margin",
                                                "kotler_row", "kotler_column", "recommended")}
                       | {"best": out["best"], "regret": out["regret"], "agrees": out["agrees"],
                          "relative_difference": float(relative)})  # fmt: skip
    return pd.DataFrame.from_records(records)


def hypercube_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per segment and Kotler row: points, how often each level is the best, and how often Kotler's level is the
    best or equivalent to it (TOST)."""
    if table.empty:
        return pd.DataFrame()
    groups = []
    for (segment, row), group in table.groupby(["segment", "kotler_row"], sort=False):
        wins = group["best"].value_counts()
        groups.append({"segment": segment, "kotler_row": row, "points": len(group),
                       **{f"best_{level}": int(wins.get(level, 0)) for level in LEVEL_NAMES},
                       "kotler_best": int((group["best"] == group["recommended"]).sum()),
                       "agrees": int(group["agrees"].sum())})  # fmt: skip
    return pd.DataFrame.from_records(groups)
