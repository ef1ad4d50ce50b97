"""From a run's monthly record to the tables and summary users read.

Both models (the vectorised :class:`~sim.core.model.RelationshipModel` and the agent-based reference in
:mod:`sim.core.reference`) produce the same monthly columns, so everything here works for either.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from sim.core.config import Config, from_mapping
from sim.core.model import RelationshipModel
from sim.core.schema import ACTIVITIES, QUADRANTS
from sim.outputs.accounts import CHANNELS, accounts, ledger, summary_figures

# The money of the summary, in this order (relsim run --json)
MONEY = ("revenue", "gross_margin", "relationship_cost", "acquisition_cost", "profit", "discounted_profit")


def yearly(monthly: pd.DataFrame) -> pd.DataFrame:
    """One row per simulated year.

    ``active`` is the customer count at the year's end (after its churn, before the next arrivals);
    ``retention`` is the share of the customers present at the year's start still present at its end;
    quadrant shares are averaged over the year's months.
    """
    frame = monthly.reset_index()
    frame["year"] = (frame["month"] - 1) // 12 + 1
    groups = frame.groupby("year")
    last = groups.last()
    sums = groups[["joined", "left", "revenue", "relationship_cost", "acquisition_cost", "profit"]].sum()
    customer_years = groups["active"].sum() / 12.0
    shares = groups[list(QUADRANTS)].sum().div(groups["active"].sum(), axis=0)
    table = pd.DataFrame(
        {
            "active": last["active"] - last["left"],
            "joined": sums["joined"],
            "left": sums["left"],
            "churn_rate": sums["left"] / customer_years,
            "retention": last["year_cohort_active"] / last["year_cohort_start"].where(last["year_cohort_start"] > 0),
            **{f"share_{name}": shares[name] for name in QUADRANTS},
            "revenue": sums["revenue"],
            "relationship_cost": sums["relationship_cost"],
            "acquisition_cost": sums["acquisition_cost"],
            "profit": sums["profit"],
            "cost_to_serve_per_customer": sums["relationship_cost"] / customer_years,
        }
    )
    return table


def summarise(monthly: pd.DataFrame, config: Config) -> dict[str, Any]:
    """The run's summary: the figures of ``relsim run --json`` (the accounts from :mod:`sim.outputs.accounts`)."""
    figures = accounts(ledger(monthly, config.discount_rate), config.margin)
    other = {key: _plain(value) for key, value in summary_figures(monthly).items()}  # NaN (nobody there): None
    per_year = yearly(monthly)
    cohort_end_of_year = monthly["initial_cohort_active"].iloc[11::12].to_numpy()
    return {
        "level": config.level,
        "segment": config.segment,
        "tier_level": config.tier_level,
        "tier_share": config.tier_share,
        "n_customers": config.n_customers,
        "years": config.years,
        "seed": config.seed,
        "retention_rate": _plain(figures["retention_rate"]),
        "churn_rate": figures["churn_rate"],
        "active_customers_end": int(figures["active_customers_end"]),
        "cost_to_serve_per_customer": figures["cost_to_serve_per_customer"],
        "cost_to_serve_by_activity": {name: figures[f"cost_to_serve_by_activity.{name}"] for name in ACTIVITIES},
        "cost_to_serve_by_channel": {name: figures[f"cost_to_serve_by_channel.{name}"] for name in CHANNELS},
        **{name: figures[name] for name in MONEY},
        "nps": other["nps"],
        "quadrant_shares": {name: other[f"quadrant_shares.{name}"] for name in QUADRANTS},
        "complaints_per_customer_year": other["complaints_per_customer_year"],
        "recovery_rate": other["recovery_rate"],
        "cohort_survival": [1.0, *(cohort_end_of_year / config.n_customers).tolist()],
        "yearly": [
            {"year": int(year), **{key: _plain(value) for key, value in row.items()}}
            for year, row in per_year.iterrows()
        ],
    }


def _ratio(numerator: float, denominator: float) -> float | None:
    """A share or mean that is undefined (None, JSON null) when nobody was there to measure."""
    return float(numerator) / float(denominator) if denominator else None


def _plain(value: Any) -> Any:
    """numpy scalars to Python numbers (NaN to None), so that summaries serialise to strict JSON."""
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if np.isfinite(value) else None
    return value


@dataclass
class RunResult:
    """Everything one run produced."""

    config: Config
    monthly: pd.DataFrame
    model: Any

    @property
    def yearly(self) -> pd.DataFrame:
        return yearly(self.monthly)

    @property
    def summary(self) -> dict[str, Any]:
        return summarise(self.monthly, self.config)


def run(config: Config | None = None, **params: Any) -> RunResult:
    """Run the model to its horizon: ``run(level="proactive", seed=3)`` or ``run(config)``."""
    config = from_mapping(params) if config is None else config.replace(**params) if params else config
    model = RelationshipModel(config).run()
    return RunResult(config, model.monthly(), model)


def run_summary(params: dict[str, Any]) -> dict[str, Any]:
    """A run as a pure function of its parameters (seed included), returning plain data; picklable for pools."""
    return run(from_mapping(params)).summary
