"""The customer mechanisms of issue 13 (sim/core/customers.py, sim/core/network.py): each does what docs/MODEL.md
7.13-7.15 says, only when switched on, from its own random stream."""

from __future__ import annotations

import numpy as np
import pytest

from sim.core.config import Config
from sim.core.customers import switched_on
from sim.core.model import RelationshipModel
from sim.outputs.cohorts import fit_sbg, initial_cohort_survival, sbg_survival

SMALL = {"n_customers": 4000, "years": 3}


def _yearly_retention(dispersion: float, seed: int = 3) -> tuple[np.ndarray, dict[str, float]]:
    n = 20_000
    model = RelationshipModel(
        level="basic", n_customers=n, years=10, seed=seed, churn_propensity_dispersion=dispersion
    ).run()
    survival = initial_cohort_survival(model.monthly(), n)
    retention = survival / np.concatenate([[1.0], survival[:-1]])
    return retention, fit_sbg(survival, n)


def test_every_mechanism_is_off_by_default() -> None:
    assert not any(switched_on(Config()).values())
    model = RelationshipModel(n_customers=50, years=1, seed=1)
    assert model.word_of_mouth.network is None and not model.word_of_mouth.telling
    assert set(model.population.data) == set(RelationshipModel(n_customers=50, years=1, seed=2).population.data)


def test_sbg_fit_recovers_known_parameters() -> None:
    survival = sbg_survival(0.704, 1.182, 12)  # Fader & Hardie's "Regular" cohort
    fit = fit_sbg(survival, 100_000)
    assert fit["alpha"] == pytest.approx(0.704, rel=0.02) and fit["beta"] == pytest.approx(1.182, rel=0.02)


def test_heterogeneity_sorts_a_cohort_so_retention_rises_with_tenure() -> None:
    flat, flat_fit = _yearly_retention(0.0)
    rising, rising_fit = _yearly_retention(0.8)
    strong, strong_fit = _yearly_retention(1.5)
    # without heterogeneity, retention does not rise; with it, the survivors are the loyal ones
    assert flat[-3:].mean() - flat[:3].mean() < 0.01
    assert rising[-3:].mean() - rising[:3].mean() > 0.04
    assert strong[-3:].mean() - strong[:3].mean() > rising[-3:].mean() - rising[:3].mean()
    assert flat_fit["polarisation"] < 0.01 < 0.03 < rising_fit["polarisation"] < strong_fit["polarisation"]


def test_churn_propensity_is_a_mean_one_gamma_trait_with_the_set_variance() -> None:
    model = RelationshipModel(n_customers=40_000, years=1, seed=5, churn_propensity_dispersion=0.8)
    propensity = model.population.active()["churn_propensity"]
    assert propensity.mean() == pytest.approx(1.0, abs=0.02)
    assert propensity.var() == pytest.approx(0.8, rel=0.05)


def test_propensity_scales_voluntary_leaving_only() -> None:
    """Under a monopoly only natural churn remains, whatever a customer's propensity (state vs trait apart)."""
    model = RelationshipModel(n_customers=2000, years=1, seed=5, churn_propensity_dispersion=1.0, competition=0.0)
    model.step()
    hazard = model.leave_probability()
    assert np.allclose(hazard, hazard[0])
    rivalry = RelationshipModel(n_customers=2000, years=1, seed=5, churn_propensity_dispersion=1.0)
    plain = RelationshipModel(n_customers=2000, years=1, seed=5)  # the same customers in the same state
    natural = rivalry._natural_churn
    ratio = (rivalry.leave_probability() - natural) / (plain.leave_probability() - natural)
    assert np.allclose(ratio, rivalry.population.active()["churn_propensity"], rtol=1e-3)


def test_experience_noise_and_anchoring_keep_satisfaction_spread() -> None:
    plain = RelationshipModel(n_customers=SMALL["n_customers"], years=5, seed=2).run()
    noisy = RelationshipModel(
        n_customers=SMALL["n_customers"], years=5, seed=2, experience_noise_sd=0.2, satisfaction_anchoring_months=24
    ).run()
    tenured = lambda m: m.population.active()["tenure"] > 48  # noqa: E731
    spread = [m.population.active()["satisfaction"][tenured(m)].std() for m in (plain, noisy)]
    assert spread[1] > spread[0]


def test_tenure_slopes_move_spend_and_price_sensitivity_along_each_customer_slope() -> None:
    config = {"tenure_spend_slope_mean": 0.05, "tenure_spend_slope_sd": 0.1, "tenure_price_sensitivity_slope_sd": 0.05}
    model = RelationshipModel(
        n_customers=3000,
        years=2,
        seed=4,
        competition=0.0,
        natural_churn=0.0,
        acquisition_rate=0.0,
        referral_conversion=0.0,
        **config,
    )
    people = model.population.active()
    growth = np.log(people["spend_growth"].astype(float)) * 12
    assert growth.mean() == pytest.approx(0.05, abs=0.01) and growth.std() == pytest.approx(0.1, rel=0.1)
    start = people["revenue"].astype(float).copy()
    sensitivity = people["price_sensitivity"].astype(float).copy()
    slope = people["price_slope"].astype(float) * 12
    model.run()  # a monopoly without churn or arrivals: the same customers in the same positions
    after = model.population.active()
    assert np.allclose(after["revenue"] / start, np.exp(growth * 2), rtol=1e-3)
    inside = (sensitivity + slope * 2 > 0.01) & (sensitivity + slope * 2 < 0.99)
    assert np.allclose(after["price_sensitivity"][inside], (sensitivity + slope * 2)[inside], atol=1e-4)


def test_cost_to_serve_follows_tenure() -> None:
    base = RelationshipModel(n_customers=SMALL["n_customers"], years=2, seed=6).run().monthly()
    dearer = RelationshipModel(n_customers=SMALL["n_customers"], years=2, seed=6, tenure_cost_slope_mean=0.3).run()
    # the same contacts (the mechanism draws nothing from the other streams), each dearer by exp(0.3 * tenure)
    months = dearer.monthly()
    assert (months["contacts_agent"] == base["contacts_agent"]).all()
    assert (months["cost_agent"] > 1.3 * base["cost_agent"]).all()
    assert months["relationship_cost"].sum() > base["relationship_cost"].sum()


def test_referral_slope_changes_only_referrals() -> None:
    up = RelationshipModel(level="proactive", **SMALL, seed=8, tenure_referral_slope_mean=0.5).run().monthly()
    base = RelationshipModel(level="proactive", **SMALL, seed=8).run().monthly()
    assert up["happy_tellers"].iloc[0] > base["happy_tellers"].iloc[0]
    assert up["joined_by_referral"].sum() > base["joined_by_referral"].sum()


def test_mechanisms_draw_from_their_own_streams() -> None:
    """Switching tenure effects on leaves the churn propensities drawn, and vice versa."""
    one = RelationshipModel(n_customers=500, years=1, seed=9, churn_propensity_dispersion=0.8)
    both = RelationshipModel(
        n_customers=500,
        years=1,
        seed=9,
        churn_propensity_dispersion=0.8,
        tenure_cost_slope_sd=0.1,
        purchase_mode="noncontractual",
    )
    assert np.array_equal(one.population.active()["churn_propensity"], both.population.active()["churn_propensity"])
    assert np.array_equal(one.population.active()["value"], both.population.active()["value"])


def test_the_docking_reference_refuses_the_mechanisms() -> None:
    from sim.core.reference import ReferenceModel
    from sim.errors import ConfigError

    with pytest.raises(ConfigError, match="churn_propensity_dispersion"):
        ReferenceModel(n_customers=10, years=1, churn_propensity_dispersion=0.5)
    ReferenceModel(n_customers=10, years=1)  # the defaults: every mechanism off
