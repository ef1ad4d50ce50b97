"""One test per mechanism, each able to fail if its mechanism breaks.

Runs are small (2,000 customers, 5 years) and share seeds, so level comparisons use common random numbers.
"""

from __future__ import annotations

import numpy as np
import pytest

from sim import RelationshipModel
from sim.core.levels import LEVEL_NAMES, LEVELS
from tests.conftest import small_run


def _per_customer_year(result, column: str) -> float:
    return result.monthly[column].sum() / (result.monthly["active"].sum() / 12)


def test_basic_has_no_contact_no_voice_and_no_relationship_cost():
    monthly = small_run(level="basic").monthly
    for column in ("relationship_cost", "contacts_agent", "contacts_ivr", "complaints", "recovered"):
        assert monthly[column].sum() == 0, column
    assert monthly["problems"].sum() > 0  # problems happen; only exit remains


@pytest.mark.parametrize("level", LEVEL_NAMES)
def test_only_levels_with_a_channel_record_complaints(level):
    complaints = small_run(level=level).monthly["complaints"].sum()
    assert (complaints > 0) == LEVELS[level].inbound_channel


def test_handled_complaints_recover_and_keep_customers():
    basic, reactive = small_run(level="basic").summary, small_run(level="reactive").summary
    assert reactive["recovery_rate"] == pytest.approx(0.6, abs=0.05)  # Reactive's resolution probability
    assert reactive["retention_rate"] > basic["retention_rate"] + 0.02


def test_faster_better_resolution_recovers_more():
    slow = small_run(level="reactive", slow_recovery=0.0).summary
    fast = small_run(level="reactive", slow_recovery=1.0).summary
    assert fast["retention_rate"] > slow["retention_rate"]


def test_welcome_call_reaches_new_customers_and_finds_silent_dissatisfaction():
    accountable = small_run(level="accountable").monthly
    reactive = small_run(level="reactive").monthly
    assert reactive["cost_welcome_call"].sum() == 0
    # every customer who joined and stayed into their second month gets exactly one $5 call
    calls = accountable["cost_welcome_call"].sum() / 5.0
    joined_before_last_month = accountable["joined"].iloc[:-1].sum()
    assert 0.9 * joined_before_last_month <= calls <= joined_before_last_month
    assert accountable["silent_dissatisfaction_found"].sum() > 0


def test_accountable_feedback_raises_quality_over_time():
    quality = small_run(level="accountable").monthly["quality"]
    assert quality.iloc[0] < quality.iloc[23] < quality.iloc[-1]
    assert small_run(level="reactive").monthly["quality"].max() == 0.0
    # better quality means fewer problems per customer than at Reactive, with the same random numbers
    assert _per_customer_year(small_run(level="accountable"), "problems") < _per_customer_year(
        small_run(level="reactive"), "problems"
    )


def test_proactive_contacts_each_customer_about_four_times_a_year():
    result = small_run(level="proactive")
    contacts = _per_customer_year(result, "cost_outreach") / result.config.agent_contact_cost
    assert contacts == pytest.approx(4.0, rel=0.1)


def test_proactive_outreach_sells_more():
    """Cross-sales lift a customer's revenue above the base their value gives, never above the ceiling."""
    for level, lifted in (("accountable", False), ("proactive", True)):
        result = small_run(level=level)
        people = result.model.population.active()
        uplift = people["revenue"] / (people["value"] * result.config.revenue_per_customer / 12) - 1
        assert (uplift.mean() > 0.02) == lifted
        assert uplift.max() <= result.config.max_upsell + 1e-5


def test_unwanted_contact_annoys():
    welcome = small_run(level="proactive", contact_aversion_share=0.0).summary
    unwanted = small_run(level="proactive", contact_aversion_share=1.0).summary
    assert unwanted["retention_rate"] < welcome["retention_rate"]
    assert unwanted["revenue"] < welcome["revenue"]


def test_partnership_raises_switching_cost_and_costs_most():
    switching = {}
    for level in ("proactive", "partnership"):
        model = RelationshipModel(level=level, n_customers=2_000, years=1, seed=3)
        switching[level] = model.population.active()["switching_cost"].mean()
    assert switching["partnership"] > switching["proactive"] + 0.9
    costs = [small_run(level=level).summary["cost_to_serve_per_customer"] for level in LEVEL_NAMES]
    assert costs == sorted(costs) and costs[0] == 0.0
    assert costs[-1] == max(costs) > 10 * costs[-2]


def test_retention_rises_from_basic_to_partnership():
    retention = [small_run(level=level).summary["retention_rate"] for level in LEVEL_NAMES]
    assert retention[0] < retention[2] < retention[4]


def test_contact_cost_is_linear_in_the_price_per_contact():
    base = small_run(level="reactive").monthly
    doubled = small_run(level="reactive", agent_contact_cost=10.0).monthly
    # the price of a contact changes no behaviour, so the same contacts cost exactly twice as much
    np.testing.assert_array_equal(base["contacts_agent"], doubled["contacts_agent"])
    np.testing.assert_allclose(doubled["cost_agent"], 2 * base["cost_agent"])


def test_routing_to_ivr_moves_contacts_to_the_cheaper_channel():
    agent = small_run(level="reactive").summary
    ivr = small_run(level="reactive", ivr_routing_share=1.0).summary
    assert agent["cost_to_serve_by_channel"]["ivr"] == 0
    assert ivr["cost_to_serve_by_channel"]["agent"] == 0
    assert ivr["cost_to_serve_per_customer"] < 0.1 * agent["cost_to_serve_per_customer"]
    assert ivr["recovery_rate"] < agent["recovery_rate"]  # pushing people away from agents can backfire


def test_acquisition_cost_is_the_multiple_of_the_keeping_cost():
    result = small_run(level="basic")
    config = result.config
    per_customer = config.acquisition_cost_multiple * config.keeping_cost_share * config.revenue_per_customer
    expected = config.acquisition_rate * config.n_customers * per_customer * config.years
    assert result.summary["acquisition_cost"] == pytest.approx(expected)
    assert small_run(level="basic", acquisition_cost_multiple=10.0).summary["acquisition_cost"] == pytest.approx(
        2 * expected
    )


def test_more_problems_lose_more_customers():
    calm = small_run(level="reactive", problem_rate=0.1).summary
    troubled = small_run(level="reactive", problem_rate=1.5).summary
    assert troubled["retention_rate"] < calm["retention_rate"] - 0.05


def test_monopoly_makes_hostages_not_mercenaries():
    monthly = small_run(level="basic", competition=0.0).monthly
    assert monthly["mercenary"].sum() == 0 and monthly["defector"].sum() == 0
    assert monthly["hostage"].sum() > 0
    churn = small_run(level="basic", competition=0.0).summary["churn_rate"]
    assert churn == pytest.approx(0.05, abs=0.01)  # only natural churn is left


def test_hostages_go_when_a_competitor_enters():
    yearly = small_run(level="basic", competition=0.8, competitor_entry_year=3).yearly
    assert yearly.loc[3, "share_hostage"] > 0.05  # year 3 is the last monopoly year
    assert yearly.loc[4, "share_hostage"] < 0.5 * yearly.loc[3, "share_hostage"]
    assert yearly.loc[4, "churn_rate"] > 2 * yearly.loc[3, "churn_rate"]


def test_price_competition_makes_mercenaries():
    mild = small_run(level="reactive", competition=0.1).summary["quadrant_shares"]["mercenary"]
    fierce = small_run(level="reactive", competition=1.0, price_effect=5.0).summary["quadrant_shares"]["mercenary"]
    assert fierce > mild + 0.05


def test_bad_word_of_mouth_puts_prospects_off():
    quiet = small_run(level="basic", word_of_mouth=0.0).monthly
    loud = small_run(level="basic", negative_listeners=40.0).monthly
    assert quiet["heard_bad"].max() == 0 and quiet["joined_by_referral"].sum() == 0
    assert loud["heard_bad"].iloc[-1] > small_run(level="basic").monthly["heard_bad"].iloc[-1]
    assert loud["joined"].sum() < quiet["joined"].sum()


def test_good_word_of_mouth_brings_referrals():
    monthly = small_run(level="proactive").monthly
    assert monthly["joined_by_referral"].sum() > 0
    assert small_run(level="proactive", referral_conversion=0.0).monthly["joined_by_referral"].sum() == 0


def test_tiered_policy_pays_account_teams_only_for_the_top_tier():
    result = small_run(level="reactive", tier_level="partnership", tier_share=0.1, years=1)
    first = result.monthly.iloc[0]
    people = result.model.population
    assert first["cost_account_management"] == pytest.approx(
        round(first["cost_account_management"] / (5000 / 12)) * 5000 / 12
    )
    assert 150 <= first["cost_account_management"] / (5000 / 12) <= 250  # about 10% of 2,000 customers
    assert people.n > 0


def test_discounting_lowers_later_profit():
    monthly = small_run(level="reactive").monthly
    ratio = monthly["discounted_profit"] / monthly["profit"]
    assert ratio.iloc[0] == pytest.approx(1.1 ** (-1 / 12))
    assert ratio.iloc[-1] == pytest.approx(1.1 ** (-5))


def test_quadrant_labels_follow_satisfaction_and_loyalty():
    model = RelationshipModel(level="reactive", n_customers=1_000, years=1, seed=5, competition=0.0)
    model.step()
    satisfaction = model.population.active()["satisfaction"]
    satisfaction[:500] = 1.0
    satisfaction[500:] = -1.0
    labels = model.quadrant_labels()  # under a monopoly everyone is behaviourally loyal
    assert set(labels[:500]) == {"loyalist"} and set(labels[500:]) == {"hostage"}
    model = RelationshipModel(level="reactive", n_customers=1_000, years=1, seed=5, competition=1.0, price_effect=50)
    model.step()
    model.population.active()["satisfaction"][:] = 1.0
    assert set(model.quadrant_labels()) <= {"loyalist", "mercenary"}
    assert "mercenary" in set(model.quadrant_labels())


def test_lifecycle_new_customers_explore_and_old_ones_stabilise():
    model = RelationshipModel(level="reactive", n_customers=2_000, years=2, seed=6).run()
    stages = model.lifecycle_labels()
    tenure = model.population.active()["tenure"]
    assert set(stages[tenure >= 12]) <= {"stability", "decline"}
    assert set(stages[tenure < 3]) <= {"exploration", "decline"}
    assert {"exploration", "formation", "stability", "decline"} == set(stages)
