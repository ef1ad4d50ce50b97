"""The one accounts implementation (sim.outputs.accounts) against figures computed by hand on a tiny synthetic
record, and the property that lets one simulation give the accounts of every margin."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from sim.core.config import from_mapping
from sim.core.model import RelationshipModel
from sim.core.schema import ACTIVITIES
from sim.outputs.accounts import LEDGER_KEYS, RATES, TOTALS, accounts, ledger

MONTHS = 24
RATE = 0.1
# Per month: revenue 100, relationship cost 10 (question 4, complaint 1, outreach 2, account team 3; agents 6 of it,
# the IVR 1), acquisition 5; 12 customers served every month; one leaves at the end of each year; of the 12 present
# at a year's start, 9 are still there at the end of year 1 and 6 at the end of year 2.
PER_MONTH = {
    "revenue": 100.0,
    "relationship_cost": 10.0,
    "acquisition_cost": 5.0,
    "cost_question": 4.0,
    "cost_complaint": 1.0,
    "cost_welcome_call": 0.0,
    "cost_outreach": 2.0,
    "cost_account_management": 3.0,
    "cost_agent": 6.0,
    "cost_ivr": 1.0,
    "active": 12.0,
}


def record() -> list[dict[str, float]]:
    months = []
    for month in range(1, MONTHS + 1):
        year_end = month % 12 == 0
        months.append(
            {
                **dict.fromkeys(LEDGER_KEYS, 0.0),  # activities and concessions this record does not use
                **PER_MONTH,
                "month": month,
                "left": 1.0 if year_end else 0.0,
                "year_cohort_start": 12.0,
                "year_cohort_active": {12: 9.0, 24: 6.0}.get(month, 12.0),
            }
        )
    return months


def discount_sum() -> float:
    """Σ over months m = 1..24 of 1.1^(−m/12), as a geometric series."""
    q = (1.0 + RATE) ** (-1.0 / 12.0)
    return q * (1.0 - q**MONTHS) / (1.0 - q)


def test_totals_and_rates_by_hand():
    figures = accounts(ledger(record(), RATE), margin=0.3)
    assert set(figures) == set(TOTALS) | set(RATES)
    s = discount_sum()
    expected = {
        "revenue": 2400.0,
        "gross_margin": 720.0,
        "relationship_cost": 240.0,
        "acquisition_cost": 120.0,
        "profit": 720.0 - 240.0 - 120.0,
        "discounted_revenue": 100.0 * s,
        "discounted_gross_margin": 30.0 * s,
        "discounted_relationship_cost": 10.0 * s,
        "discounted_acquisition_cost": 5.0 * s,
        "discounted_profit": (30.0 - 10.0 - 5.0) * s,
        "discounted_account_team_cost": 3.0 * s,
        "active_customers_end": 11.0,  # 12 served in the last month, one of whom left
        "retention_rate": (9 / 12 + 6 / 12) / 2,
        "churn_rate": 2 / 24,  # two leavers over 24 customer-years
        "cost_to_serve_per_customer": 240.0 / 24,
        "cost_to_serve_by_activity.question": 4.0,
        "cost_to_serve_by_activity.complaint": 1.0,
        "cost_to_serve_by_activity.welcome_call": 0.0,
        "cost_to_serve_by_activity.outreach": 2.0,
        "cost_to_serve_by_activity.account_management": 3.0,
        "cost_to_serve_by_channel.agent": 6.0,
        "cost_to_serve_by_channel.ivr": 1.0,
    }
    unused = {f"cost_to_serve_by_activity.{a}" for a in ACTIVITIES} - set(expected)  # activities this record lacks
    expected.update(dict.fromkeys(unused, 0.0))
    assert set(expected) == set(figures)
    for name, value in expected.items():
        assert figures[name] == pytest.approx(value, rel=1e-12), name


def test_a_sample_scales_totals_but_not_rates():
    series = ledger(record(), RATE)
    one, fifty = accounts(series, 0.3), accounts(series, 0.3, scale=50.0)
    for name in TOTALS:
        assert fifty[name] == pytest.approx(50.0 * one[name], rel=1e-12), name
    for name in RATES:
        assert fifty[name] == one[name], name


def test_a_frame_and_a_list_of_months_give_the_same_ledger():
    months = record()
    frame = pd.DataFrame(months).set_index("month")
    from_list, from_frame = ledger(months, RATE), ledger(frame, RATE)
    assert set(from_list) == {*LEDGER_KEYS, "discount"}
    for key in from_list:
        np.testing.assert_array_equal(from_list[key], from_frame[key], err_msg=key)


def test_retention_is_undefined_when_nobody_starts_a_year():
    months = [{**month, "year_cohort_start": 0.0, "year_cohort_active": 0.0} for month in record()]
    assert math.isnan(accounts(ledger(months, RATE), 0.3)["retention_rate"])
    months[11]["year_cohort_start"], months[11]["year_cohort_active"] = 10.0, 8.0  # only year 1 measured
    assert accounts(ledger(months, RATE), 0.3)["retention_rate"] == pytest.approx(0.8)


def test_margin_changes_no_behaviour_so_one_run_gives_every_margins_accounts():
    params = {"n_customers": 300, "years": 2, "level": "proactive", "revenue_per_customer": 800.0, "seed": 5}
    runs = {m: RelationshipModel(from_mapping({**params, "margin": m})).run() for m in (0.2, 0.5)}
    low, high = (ledger(runs[m].history, runs[m].config.discount_rate) for m in (0.2, 0.5))
    for key in low:
        np.testing.assert_array_equal(low[key], high[key], err_msg=key)
    # and the accounts at a margin follow the model's own monthly profit at that margin
    monthly = runs[0.5].monthly()
    figures = accounts(low, 0.5)
    assert figures["profit"] == pytest.approx(monthly["profit"].sum(), rel=1e-12)
    assert figures["discounted_profit"] == pytest.approx(monthly["discounted_profit"].sum(), rel=1e-12)
    assert set(ACTIVITIES) == {name.split(".")[1] for name in RATES if name.startswith("cost_to_serve_by_activity")}


def test_concessions_come_off_the_margin_in_full():
    """Revenue is recorded after concessions to powerful buyers: at margin m, gross margin is m × (revenue +
    concessions) − concessions, so a $10 concession on $100 of recorded revenue at m = 0.3 leaves 0.3 × 110 − 10."""
    months = record()
    for month in months:
        month["concessions"] = 10.0
    figures = accounts(ledger(months, 0.0), margin=0.3)
    assert figures["gross_margin"] == pytest.approx(MONTHS * (0.3 * 110.0 - 10.0))
    assert figures["profit"] == pytest.approx(MONTHS * (0.3 * 110.0 - 10.0 - 10.0 - 5.0))
