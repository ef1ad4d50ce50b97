"""The accounts of one run: money, customers and cost to serve, from its monthly record.

The one implementation behind ``relsim run``'s summary, every sweep metric and every matrix row. It works on
plain arrays (no pandas), so a sweep worker pays only for numpy:

- :func:`ledger` takes the monthly series the accounts need from a record (a model's ``history``, a list of
  dicts, or its ``monthly()`` frame) and the discount factor of each month;
- :func:`accounts` turns a ledger into totals at a margin (scaled from a simulated sample to the real firm) and
  rates per customer (not scaled).

Profit at margin m is m × revenue − relationship cost − acquisition cost, month by month: margin changes no
customer's behaviour, so one simulation gives the accounts of every margin.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from sim.core.schema import ACTIVITIES, QUADRANTS

CHANNELS = ("agent", "ivr")
COSTS = (*(f"cost_{activity}" for activity in ACTIVITIES), *(f"cost_{channel}" for channel in CHANNELS))
LEDGER_KEYS = (
    "revenue",
    "relationship_cost",
    "acquisition_cost",
    "concessions",
    *COSTS,
    "active",
    "left",
    "year_cohort_start",
    "year_cohort_active",
)

# Totals of the firm: scaled by customers / simulated customers when a sample stands for the firm.
TOTALS = (
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
    "discounted_account_team_cost",
    "active_customers_end",
)
# Per customer (or per customer-year): the same for a sample as for the firm.
RATES = (
    "retention_rate",
    "churn_rate",
    "cost_to_serve_per_customer",
    *(f"cost_to_serve_by_activity.{activity}" for activity in ACTIVITIES),
    *(f"cost_to_serve_by_channel.{channel}" for channel in CHANNELS),
)


def ledger(record: Any, discount_rate: float) -> dict[str, np.ndarray]:
    """The monthly series of :data:`LEDGER_KEYS` and ``discount``, the factor (1 + rate)^(−month/12) of month 1, 2, …

    ``record`` is a list of monthly dicts (``model.history``), a frame with those columns (``model.monthly()``) or
    a mapping of arrays by month (a run of a batch, sim/core/batch.py).
    """
    if hasattr(record, "columns") or isinstance(record, Mapping):  # a frame, or arrays by key (a batched run)
        # Contiguous, as a list of months gives them: BLAS sums a strided vector in another order (last digits).
        series = {key: np.ascontiguousarray(record[key], dtype=float) for key in LEDGER_KEYS}
    else:
        series = {key: np.fromiter((month[key] for month in record), float, len(record)) for key in LEDGER_KEYS}
    months = len(series["revenue"])
    series["discount"] = (1.0 + discount_rate) ** (-np.arange(1, months + 1, dtype=float) / 12.0)
    return series


def annual_retention(series: Mapping[str, np.ndarray]) -> np.ndarray:
    """Per simulated year: the share of the customers present at its start still present at its end (NaN when
    nobody was there to measure)."""
    start, active = series["year_cohort_start"][11::12], series["year_cohort_active"][11::12]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(start > 0, active / np.where(start > 0, start, 1.0), math.nan)


def accounts(series: Mapping[str, np.ndarray], margin: float, scale: float = 1.0) -> dict[str, float]:
    """Every figure of :data:`TOTALS` (times ``scale``) and :data:`RATES` of one run at ``margin``."""
    sums = _margin_free(series)
    totals = {key: sums[key] for key in _SUMS}
    # Revenue is after concessions to powerful buyers, which come off the margin in full:
    # gross margin = m × (revenue + concessions) − concessions.
    conceded, discounted_conceded = sums["concessions"], sums["discounted_concessions"]
    totals["gross_margin"] = margin * (totals["revenue"] + conceded) - conceded
    totals["discounted_gross_margin"] = margin * (totals["discounted_revenue"] + discounted_conceded)
    totals["discounted_gross_margin"] -= discounted_conceded
    totals["profit"] = totals["gross_margin"] - totals["relationship_cost"] - totals["acquisition_cost"]
    totals["discounted_profit"] = (
        totals["discounted_gross_margin"]
        - totals["discounted_relationship_cost"]
        - totals["discounted_acquisition_cost"]
    )
    totals["active_customers_end"] = series["active"][-1] - series["left"][-1]  # after the last month's churn
    out = {name: float(scale * totals[name]) for name in TOTALS}
    # Scaled as scale × margin × revenue, the order in which the committed matrix results were computed
    # (tests/test_matrix_reference.py reproduces them digit for digit).
    if not conceded:
        out["gross_margin"] = float(scale * margin * totals["revenue"])
        out["discounted_gross_margin"] = float(scale * margin * totals["discounted_revenue"])

    out.update(sums["rates"])
    return out


_SUMS = (
    "revenue",
    "relationship_cost",
    "acquisition_cost",
    "discounted_revenue",
    "discounted_relationship_cost",
    "discounted_acquisition_cost",
    "discounted_account_team_cost",
)


def _margin_free(series: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """The sums and rates of a run that no margin changes, computed once per series (a sweep asks for a
    simulation's accounts at every margin it serves) and kept in it."""
    held = series.get(_MARGIN_FREE)
    if held is not None:
        return held
    revenue, relationship, acquisition = series["revenue"], series["relationship_cost"], series["acquisition_cost"]
    discount = series["discount"]
    sums: dict[str, Any] = {
        "revenue": revenue.sum(),
        "relationship_cost": relationship.sum(),
        "acquisition_cost": acquisition.sum(),
        "discounted_revenue": revenue @ discount,
        "discounted_relationship_cost": relationship @ discount,
        "discounted_acquisition_cost": acquisition @ discount,
        "discounted_account_team_cost": series["cost_account_management"] @ discount,
        "concessions": series["concessions"].sum(),
        "discounted_concessions": series["concessions"] @ discount,
    }
    customer_years = series["active"].sum() / 12.0
    retention = annual_retention(series)
    measured = ~np.isnan(retention)
    rates = {"retention_rate": float(retention[measured].sum() / measured.sum()) if measured.any() else math.nan}
    rates["churn_rate"] = _per(series["left"].sum(), customer_years)
    rates["cost_to_serve_per_customer"] = _per(sums["relationship_cost"], customer_years)
    for activity in ACTIVITIES:
        rates[f"cost_to_serve_by_activity.{activity}"] = _per(series[f"cost_{activity}"].sum(), customer_years)
    for channel in CHANNELS:
        rates[f"cost_to_serve_by_channel.{channel}"] = _per(series[f"cost_{channel}"].sum(), customer_years)
    sums["rates"] = rates
    if isinstance(series, dict):
        series[_MARGIN_FREE] = sums
    return sums


_MARGIN_FREE = "margin_free"  # the key under which a ledger keeps them


def summary_figures(record: Any) -> dict[str, float]:
    """The summary's figures beyond the accounts (``relsim run --json``; sweep metrics such as ``nps``), from a
    record in any form :func:`ledger` takes: NPS and quadrant shares over the last twelve months, complaints per
    customer-year and the share of handled problems recovered. Sums of counts, so exact in any order."""
    keys = ("active", "promoters", "detractors", "complaints", "problems_detected", "recovered", *QUADRANTS)
    if hasattr(record, "columns") or isinstance(record, Mapping):
        series = {key: np.asarray(record[key], dtype=float) for key in keys}
    else:
        series = {key: np.fromiter((month[key] for month in record), float, len(record)) for key in keys}
    last = {key: values[-12:].sum() for key, values in series.items()}
    served = last["active"]
    customer_years = series["active"].sum() / 12.0
    handled = series["complaints"].sum() + series["problems_detected"].sum()
    figures = {
        "nps": _share(100.0 * (last["promoters"] - last["detractors"]), served),
        "complaints_per_customer_year": float(series["complaints"].sum() / customer_years),
        "recovery_rate": float(series["recovered"].sum() / handled) if handled else 0.0,
    }
    figures.update({f"quadrant_shares.{name}": _share(last[name], served) for name in QUADRANTS})
    return figures


def _share(numerator: float, denominator: float) -> float:
    return float(numerator) / float(denominator) if denominator else math.nan


def _per(total: float, customer_years: float) -> float:
    return float(total / customer_years) if customer_years else math.nan
