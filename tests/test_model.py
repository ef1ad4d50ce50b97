"""Invariants of every run, determinism, common random numbers and the Mesa contract."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim import RelationshipModel
from sim.core.levels import LEVEL_NAMES
from sim.core.schema import QUADRANTS, STAGES
from sim.outputs.results import run

RATE_COLUMNS = ("heard_good", "heard_bad", "quality", "attraction")
COUNT_COLUMNS = ("active", "joined", "left", "problems", "complaints", "recovered", "promoters", "detractors")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    level=st.sampled_from(LEVEL_NAMES),
    tier=st.sampled_from(("none", *LEVEL_NAMES)),
    n_customers=st.integers(1, 400),
    problem_rate=st.floats(0, 6),
    competition=st.floats(0, 1),
    margin=st.floats(0, 1),
    routing=st.floats(0, 1),
    seed=st.integers(0, 2**32),
)
def test_invariants_hold_for_any_valid_config(
    level, tier, n_customers, problem_rate, competition, margin, routing, seed
):
    result = run(
        level=level,
        tier_level=tier,
        tier_share=0.3 if tier != "none" else 0.0,
        n_customers=n_customers,
        years=2,
        problem_rate=problem_rate,
        competition=competition,
        margin=margin,
        ivr_routing_share=routing,
        seed=seed,
    )
    monthly = result.monthly
    # customers are conserved: next month's base is this month's, less leavers, plus arrivals
    np.testing.assert_array_equal(
        monthly["active"].iloc[1:].to_numpy(),
        (monthly["active"] - monthly["left"] + monthly["joined"]).iloc[:-1].to_numpy(),
    )
    assert (monthly[list(QUADRANTS)].sum(axis=1) == monthly["active"]).all()
    assert (monthly[list(STAGES)].sum(axis=1) == monthly["active"]).all()
    assert (monthly[list(STAGES)] >= 0).all().all()
    assert (monthly["promoters"] + monthly["detractors"] <= monthly["active"]).all()
    assert (monthly["recovered"] <= monthly["complaints"] + monthly["problems_detected"]).all()
    assert (monthly["initial_cohort_active"].diff().dropna() <= 0).all()
    for column in COUNT_COLUMNS:
        assert (monthly[column] >= 0).all(), column
    for column in RATE_COLUMNS:
        assert monthly[column].between(0, 1).all(), column
    cost_columns = [c for c in monthly.columns if c.startswith("cost_")] + ["relationship_cost", "acquisition_cost"]
    assert (monthly[cost_columns] >= 0).all().all()
    np.testing.assert_allclose(
        monthly[["cost_agent", "cost_ivr"]].sum(axis=1),
        monthly["relationship_cost"] - monthly["cost_account_management"],
        rtol=1e-9,
        atol=1e-6,
    )
    summary = result.summary
    json.dumps(summary, allow_nan=False)  # strict JSON even when every customer has gone
    assert summary["retention_rate"] is None or 0 <= summary["retention_rate"] <= 1
    assert all(0 <= share <= 1 for share in summary["cohort_survival"])
    if monthly["active"].iloc[-12:].sum() > 0:
        assert abs(sum(summary["quadrant_shares"].values()) - 1) < 1e-9
    people = result.model.population.active()
    assert np.all((people["commitment"] >= 0) & (people["commitment"] <= 1))


def test_same_config_and_seed_give_identical_output():
    first = run(level="proactive", n_customers=800, years=3, seed=9).monthly
    second = run(level="proactive", n_customers=800, years=3, seed=9).monthly
    pd.testing.assert_frame_equal(first, second)
    other = run(level="proactive", n_customers=800, years=3, seed=10).monthly
    assert not first.equals(other)


def test_levels_share_random_numbers_where_they_share_mechanisms():
    """Common random numbers: same seed, different level, same customers and same first-month events."""
    models = {level: RelationshipModel(level=level, n_customers=1_000, seed=4) for level in LEVEL_NAMES}
    values = [model.population.active()["value"] for model in models.values()]
    for other in values[1:]:
        np.testing.assert_array_equal(values[0], other)
    for model in models.values():
        model.step()
    problems = {model.record["problems"] for model in models.values()}
    assert len(problems) == 1


def test_model_takes_flat_keywords_and_a_seed_as_mesa_expects():
    model = RelationshipModel(level="basic", n_customers=50, years=1, seed=123)
    assert model.config.seed == 123 and model.config.level == "basic"
    model.run()
    assert model.steps == 12 and not model.running
    frame = model.datacollector.get_model_vars_dataframe()
    assert len(frame) == 12 and {"profit", "cost_to_serve", "share_hostage"} <= set(frame)
    np.testing.assert_allclose(frame["profit"].to_numpy(), model.monthly()["profit"].to_numpy())


def test_run_summary_is_json_ready():
    import json

    summary = run(level="reactive", n_customers=300, years=2, seed=1).summary
    text = json.dumps(summary)
    for key in (
        "retention_rate",
        "cost_to_serve_per_customer",
        "revenue",
        "relationship_cost",
        "acquisition_cost",
        "profit",
        "nps",
        "quadrant_shares",
        "cohort_survival",
        "yearly",
    ):
        assert key in summary
    assert set(summary["quadrant_shares"]) == {"loyalist", "hostage", "mercenary", "defector"}
    assert len(summary["cohort_survival"]) == 3 and summary["cohort_survival"][0] == 1.0
    assert [record["year"] for record in summary["yearly"]] == [1, 2]
    assert {"active", "left", "share_hostage"} <= set(summary["yearly"][0])
    assert json.loads(text)["retention_rate"] == summary["retention_rate"]
