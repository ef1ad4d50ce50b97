"""Relationship effects that wear out or take time (sim/core/relational.py; docs/MODEL.md 7.5, 7.13), the welcome
call's disclosure and channel, and relational effects scaled by segment."""

from __future__ import annotations

import numpy as np
import pytest

from sim.core.config import from_mapping
from sim.core.model import RelationshipModel
from sim.core.relational import BondBuilding, outreach_effect
from sim.outputs.results import run

SMALL = {"n_customers": 3_000, "years": 3, "seed": 4}


def _cycle_effects(ideal: float, per_year: int, value: float = 0.1, annoyance: float = 0.1) -> list[float]:
    """The effects of one customer's contacts over two contact years."""
    people = {"contact_cycle": np.zeros(1, np.uint8), "ideal_contacts": np.array([ideal], np.float32)}
    effects = []
    for _ in range(2 * per_year):
        _, effect = outreach_effect(people, np.array([0]), np.array([per_year]), value, annoyance)
        effects.append(float(effect[0]))
    return effects


def test_contacts_beyond_the_ideal_number_annoy_more_and_more_and_the_year_starts_afresh():
    effects = _cycle_effects(ideal=3, per_year=6)
    assert effects[:3] == [0.1] * 3
    assert effects[3:6] == pytest.approx([-0.1 / 3, -0.2 / 3, -0.3 / 3])
    assert effects[6:] == effects[:6]
    assert _cycle_effects(ideal=0, per_year=4)[:4] == pytest.approx([-0.1, -0.2, -0.3, -0.4])  # contact-averse


def test_the_yearly_effect_of_contact_is_an_inverted_u_in_its_frequency():
    yearly = [sum(_cycle_effects(ideal=4, per_year=n)[:n]) for n in (1, 2, 3, 4, 6, 12)]
    peak = int(np.argmax(yearly))
    assert yearly[peak] == pytest.approx(0.4) and 0 < peak < len(yearly) - 1
    assert yearly[: peak + 1] == sorted(yearly[: peak + 1]) and yearly[peak:] == sorted(yearly[peak:], reverse=True)
    assert yearly[-1] < 0


def test_proactive_contact_can_backfire_with_wear_out_and_helps_in_todays_model():
    """The same customers with and without Proactive's calls (common random numbers)."""
    silent = {"levels.proactive.outreach_per_year": 0}
    wearing = {"ideal_contacts_per_year": 1.0, "annoyance": 0.3}

    def retention(**params):
        return run(from_mapping({**SMALL, "level": "proactive", **params})).summary["retention_rate"]

    assert retention(**wearing) < retention(**wearing, **silent)
    assert retention() > retention(**silent)


def test_with_nobody_over_their_ideal_volume_wear_out_is_todays_rule():
    """No contact-averse customers and ideals far above 12 a year: every contact is welcome, as today."""
    params = {**SMALL, "level": "partnership", "contact_aversion_share": 0.0}
    plain = run(from_mapping(params)).summary
    assert run(from_mapping({**params, "ideal_contacts_per_year": 1e6})).summary == plain
    assert run(from_mapping({**params, "ideal_contacts_per_year": 3})).summary != plain


def test_wear_out_draws_its_traits_from_its_own_stream():
    """Switching it on leaves every other trait as it was."""
    plain = RelationshipModel(n_customers=500, years=1, seed=9).population.active()
    worn = RelationshipModel(n_customers=500, years=1, seed=9, ideal_contacts_per_year=4).population.active()
    assert all(np.array_equal(plain[name], worn[name]) for name in plain)
    assert worn["ideal_contacts"][worn["contact_averse"]].max() == 0
    assert worn["ideal_contacts"].mean() == pytest.approx(4 * 0.75, rel=0.1)


# -- bonds that build --------------------------------------------------------------------------------------------
def test_bonds_build_from_nothing_towards_the_levels_full_value():
    config = from_mapping({"years": 10, "bond_build_months": 12})
    bonds = BondBuilding(config, np.array([0.0, 1.0]), np.array([0.0, 0.5]))
    grown = np.cumsum(bonds.increment)
    assert grown[0] == 0 and grown[12] == pytest.approx(1 - np.exp(-1)) and grown[-1] == pytest.approx(1, abs=1e-4)


def test_the_initial_base_at_partnership_starts_without_structural_bonds():
    def bond(months, **params):
        model = RelationshipModel(level="partnership", n_customers=2_000, years=5, seed=1, **params)
        for _ in range(months):
            model.step()
        initial = model.population.active()
        initial_ids = initial["customer_id"] < 2_000
        return float(initial["switching_cost"][initial_ids].mean()), float(initial["base_value"][initial_ids].mean())

    financial = RelationshipModel(level="basic", n_customers=2_000, years=5, seed=1).population.active()
    financial_bond = float(financial["switching_cost"].mean())
    at_once, building = bond(1), bond(1, bond_build_months=12)
    assert at_once[0] == pytest.approx(financial_bond + 1.0, rel=0.02)  # today's model: in full from month 0
    assert building[0] == pytest.approx(financial_bond, rel=0.02)
    later = bond(36, bond_build_months=12)
    assert later[0] - financial_bond == pytest.approx(1 - np.exp(-35 / 12), abs=0.05)
    assert later[1] > building[1]  # customisation builds too


def test_relationship_effect_scale_scales_structural_bonds_and_customisation():
    base = RelationshipModel(level="partnership", n_customers=1_000, seed=2).population.active()
    doubled = RelationshipModel(
        level="partnership", n_customers=1_000, seed=2, relationship_effect_scale=2.0
    ).population.active()
    assert np.allclose(doubled["switching_cost"] - base["switching_cost"], 1.0)
    assert np.allclose(doubled["base_value"] - base["base_value"], 0.3)


# -- the welcome call ---------------------------------------------------------------------------------------------
def test_the_welcome_call_finds_only_the_dissatisfied_who_say_so():
    def found(detection):
        params = {**SMALL, "level": "accountable", "value_gap": -0.3}
        params["levels.accountable.welcome_call_detection"] = detection
        return run(from_mapping(params)).monthly["silent_dissatisfaction_found"].sum()

    everyone, half, nobody = found(1.0), found(0.5), found(0.0)
    assert nobody == 0 and 0.35 * everyone < half < 0.65 * everyone


def test_an_automated_welcome_call_costs_an_ivr_contact():
    monthly = run(from_mapping({**SMALL, "level": "accountable", "welcome_call_channel": "automated"})).monthly
    agent = run(from_mapping({**SMALL, "level": "accountable"})).monthly
    assert monthly["contacts_ivr"].sum() > 0 and agent["contacts_ivr"].sum() == 0
    assert monthly["cost_welcome_call"].sum() == pytest.approx(0.36 / 5.0 * agent["cost_welcome_call"].sum(), rel=0.1)
