"""The mechanisms through which the number and size of customers matter (sim/core/costs.py; docs/MODEL.md 7.10):
each is checked to do what it says, and to be absent when switched off."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim.core.config import from_mapping
from sim.core.costs import Books, account_team, concessions, learned_quality, staffing_factor
from sim.core.model import RelationshipModel


def _monthly(**params):
    return RelationshipModel(**{"years": 1, "seed": 2, **params}).run().monthly()


# -- fixed programme costs -------------------------------------------------------------------------------------
@pytest.mark.parametrize("customers", [50, 3_000])
def test_a_fixed_programme_cost_is_charged_once_per_used_level_per_month_whatever_the_customers(customers):
    config = from_mapping({"level": "reactive", "tier_level": "partnership", "tier_share": 0.1, "fixed_cost_scale": 2})
    expected = 2 * (config.level_named("reactive").fixed_cost + config.level_named("partnership").fixed_cost) / 12
    monthly = RelationshipModel(config.replace(n_customers=customers, years=1)).run().monthly()
    assert expected > 0 and (monthly["cost_fixed_programme"] == expected).all()
    assert (monthly["relationship_cost"] >= expected).all()


def test_fixed_programme_costs_are_off_at_scale_zero_and_at_a_level_without_a_programme():
    assert (_monthly(level="accountable", n_customers=200)["cost_fixed_programme"] == 0).all()
    assert (_monthly(level="basic", n_customers=200, fixed_cost_scale=1)["cost_fixed_programme"] == 0).all()


# -- scale economies in service --------------------------------------------------------------------------------
def test_square_root_staffing_makes_a_contact_cheaper_the_more_contacts_there_are():
    config = from_mapping({"staffing_safety_factor": 1.0})
    factors = [staffing_factor(config, contacts) for contacts in (100, 1_000, 10_000, 100_000)]
    assert factors == sorted(factors, reverse=True) and factors[-1] > 1.0 and factors[0] > 2.0
    load = 10_000 * 12 * config.contact_handle_minutes / 60 / 2000  # positions the load needs
    assert factors[2] == pytest.approx(1 + 1 / math.sqrt(load))
    assert staffing_factor(from_mapping({}).replace(staffing_safety_factor=0.0), 10) == 1.0


def test_a_larger_firm_pays_less_per_agent_contact_and_without_staffing_every_firm_pays_the_same():
    def per_contact(customers, beta):
        monthly = _monthly(level="accountable", n_customers=customers, staffing_safety_factor=beta)
        return monthly["cost_agent"].sum() / monthly["contacts_agent"].sum()

    assert per_contact(300, 1.0) > per_contact(6_000, 1.0) > 5.0
    assert per_contact(300, 0.0) == per_contact(6_000, 0.0) == 5.0


# -- cost to serve scaling with size ---------------------------------------------------------------------------
def test_contact_costs_scale_with_value_through_the_elasticity():
    value = np.array([0.2, 1.0, 5.0])
    who = np.arange(3)
    for elasticity, expected in ((0.0, 3.0), (1.0, 6.2), (0.5, sum(value**0.5))):
        books = Books(from_mapping({"contact_cost_elasticity": elasticity}), ("reactive",))
        books.contact("question", np.zeros(3, bool), value, who)
        assert books.costs["question"] == pytest.approx(5.0 * expected)
        assert books.contacts["agent"] == 3  # contacts are counted as contacts, whatever they cost


# -- account-manager capacity ----------------------------------------------------------------------------------
def test_account_teams_come_in_whole_managers_a_step_function_of_the_number_of_accounts():
    config = from_mapping({"accounts_per_manager": 6, "account_manager_cost": 120_000})
    costs = {n: account_team(config, np.ones(n))[:2] for n in (1, 6, 7, 12, 13)}
    assert costs == {1: (10_000, 1), 6: (10_000, 1), 7: (20_000, 2), 12: (20_000, 2), 13: (30_000, 3)}
    flat = from_mapping({})  # today's model: partnership_cost per customer-year
    assert account_team(flat, np.ones(7))[0] == 7 * flat.partnership_cost / 12


def test_account_workload_weighs_bigger_accounts_more_with_an_elasticity():
    config = from_mapping({"accounts_per_manager": 2, "account_cost_elasticity": 1.0, "account_manager_cost": 12})
    assert account_team(config, np.array([0.5, 0.5, 0.5, 0.5]))[1] == 1  # four small accounts: one manager
    assert account_team(config, np.array([3.0, 0.5]))[1] == 2  # one big one needs more


def test_the_model_records_the_managers_its_partners_need():
    monthly = _monthly(level="partnership", n_customers=20, accounts_per_manager=6, account_manager_cost=60_000)
    expected = np.ceil(monthly["active"] / 6 - 1e-9)
    assert (monthly["account_managers"] == expected).all()
    assert (monthly["cost_account_management"] == expected * 5_000).all()


# -- buyer power -----------------------------------------------------------------------------------------------
def test_buyer_power_takes_a_concession_from_large_customers_only():
    config = from_mapping({"buyer_power_concession": 0.1, "buyer_power_half_share": 0.05})
    revenue = np.array([1_000.0, *np.full(1_000, 1.0)])  # one account with half the firm's revenue
    total = float(revenue.sum())
    conceded = concessions(config, revenue, total)
    big = 0.1 * (1_000 / total) / (1_000 / total + 0.05) * 1_000
    small_rate = (conceded - big) / 1_000  # per dollar of the thousand small customers
    assert big / 1_000 > 0.09 and 0 < small_rate < 0.001
    many = concessions(config, np.ones(10_000), 10_000.0)
    few = concessions(config, np.ones(5), 5.0)
    assert many / 10_000 < 0.001 < 0.05 < few / 5  # the same accounts concede more the fewer they are


def test_buyer_power_lowers_revenue_and_margin_by_the_concession():
    params = {"level": "reactive", "n_customers": 8, "buyer_power_concession": 0.08}
    monthly = _monthly(**params)
    plain = _monthly(**{**params, "buyer_power_concession": 0.0})
    assert (monthly["concessions"] > 0).all() and (plain["concessions"] == 0).all()
    assert np.allclose(monthly["revenue"] + monthly["concessions"], plain["revenue"])
    assert np.allclose(plain["gross_margin"] - monthly["gross_margin"], monthly["concessions"])


# -- field service and warranty claims -------------------------------------------------------------------------
def test_each_handled_problem_is_charged_the_expected_cost_of_a_visit():
    monthly = _monthly(level="partnership", n_customers=400, field_service_cost=400, field_service_share=0.3)
    handled = monthly["complaints"] + monthly["problems_detected"]
    assert handled.sum() > 0
    assert np.allclose(monthly["cost_field_service"], 0.3 * 400 * handled)


def test_without_a_channel_warranty_claims_still_reach_the_firm_and_are_put_right():
    basic = _monthly(level="basic", n_customers=2_000, warranty_voice_share=0.5, years=2)
    assert basic["complaints"].sum() > 0
    assert (basic["recovered"] == basic["complaints"]).all()  # a repair or a replacement
    assert np.allclose(basic["cost_complaint"], basic["complaints"] * 5.0)
    assert _monthly(level="basic", n_customers=2_000, years=2)["complaints"].sum() == 0


# -- product learning from distinct problems -------------------------------------------------------------------
def test_learning_from_distinct_problems_saturates():
    quality = [learned_quality(reports, 200) for reports in (0, 100, 200, 400, 800, 5_000)]
    assert quality[0] == 0 and quality == sorted(quality) and quality[-1] < 1.0
    gains = np.diff(quality[1:4])
    assert gains[1] < gains[0]  # diminishing returns
    assert learned_quality(200, 200) == pytest.approx(1 - math.exp(-1))


def test_with_distinct_problems_a_firm_with_more_customers_learns_faster():
    def quality(customers, types):
        return _monthly(level="accountable", n_customers=customers, distinct_problem_types=types)["quality"].iloc[-1]

    assert quality(5_000, 200) > 2 * quality(250, 200)
    assert quality(5_000, 0) == pytest.approx(quality(250, 0), rel=0.25)  # learning per customer: size-free


def test_the_sweep_accounts_at_another_margin_take_concessions_off_the_margin():
    """Sweeps share one simulation among margins; with buyer power their profit must equal the model's own."""
    from sim.engine.runs import metrics, simulate

    params = {"level": "reactive", "n_customers": 8, "years": 1, "buyer_power_concession": 0.08}
    for margin in (0.2, 0.6):
        series = simulate({**params, "margin": 0.3}, seed=2)
        direct = RelationshipModel(**params, margin=margin, seed=2).run().monthly()
        shared = metrics(series, margin, 1.0, ["profit", "discounted_profit", "gross_margin"])
        assert shared["profit"] == pytest.approx(direct["profit"].sum(), rel=1e-12)
        assert shared["discounted_profit"] == pytest.approx(direct["discounted_profit"].sum(), rel=1e-12)
        assert shared["gross_margin"] == pytest.approx(direct["gross_margin"].sum(), rel=1e-12)
