"""The validation experiments: each runs the model in a documented scenario and returns named measurements.

An experiment is a function of (base config, seed, scenario overrides) and nothing else, so one replication is
a pure function of plain data and any evaluator gives the same numbers. The targets file
(``experiments/validation.toml``) names, for each target, the experiment and the measurement it compares.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sim.core.config import Config
from sim.core.model import RelationshipModel
from sim.core.trace import repurchase_after_problem
from sim.outputs.results import run


def complaint_outcomes(base: Config, seed: int, scenario: dict[str, Any]) -> dict[str, float]:
    """TARP's repurchase shares: customers still served 12 months after a problem, by severity and outcome."""
    config = base.replace(**scenario, seed=seed)
    model = RelationshipModel(config, trace=True).run()
    table = repurchase_after_problem(model.trace, horizon_months=12, last_period=config.periods)
    return {f"repurchase_{row.severity}_{row.outcome}": float(row.repurchase) for row in table.itertuples()}


def word_of_mouth(base: Config, seed: int, scenario: dict[str, Any]) -> dict[str, float]:
    """People told per satisfied and per dissatisfied story."""
    monthly = run(base.replace(**scenario, seed=seed)).monthly
    return {
        "people_told_per_satisfied_story": monthly["good_mentions"].sum() / monthly["happy_tellers"].sum(),
        "people_told_per_dissatisfied_story": monthly["bad_mentions"].sum() / monthly["unhappy_tellers"].sum(),
        "bad_to_good_mentions": monthly["bad_mentions"].sum() / monthly["good_mentions"].sum(),
    }


def channel_costs(base: Config, seed: int, scenario: dict[str, Any]) -> dict[str, float]:
    """Cost per contact by channel, and what routing the lowest-value customers to IVR saves and loses."""
    routed_share = scenario.get("ivr_routing_share", 0.5)
    plain = run(base.replace(**{**scenario, "ivr_routing_share": 0.0}, seed=seed))
    routed = run(base.replace(**scenario, seed=seed))
    monthly = routed.monthly
    before, after = plain.summary, routed.summary
    # routing moves the inbound contacts (questions, complaints) of the routed customers; outbound ones stay
    inbound_share = (plain.monthly["cost_question"].sum() + plain.monthly["cost_complaint"].sum()) / max(
        plain.monthly["relationship_cost"].sum(), 1e-12
    )
    saving_per_contact = 1 - base.ivr_contact_cost / base.agent_contact_cost
    return {
        "cost_per_agent_contact": monthly["cost_agent"].sum() / monthly["contacts_agent"].sum(),
        "cost_per_ivr_contact": monthly["cost_ivr"].sum() / monthly["contacts_ivr"].sum(),
        "routing_cost_to_serve_change": after["cost_to_serve_per_customer"] / before["cost_to_serve_per_customer"] - 1,
        "routing_expected_cost_change": -routed_share * inbound_share * saving_per_contact,
        "routing_saving_vs_expected": (after["cost_to_serve_per_customer"] / before["cost_to_serve_per_customer"] - 1)
        / (-routed_share * inbound_share * saving_per_contact),
        "routing_retention_change": after["retention_rate"] - before["retention_rate"],
        "routing_profit_change": after["discounted_profit"] / before["discounted_profit"] - 1,
    }


def acquisition(base: Config, seed: int, scenario: dict[str, Any]) -> dict[str, float]:
    """Cost of a customer won by paid marketing, as a multiple of the yearly cost of keeping one."""
    config = base.replace(**scenario, seed=seed)
    monthly = run(config).monthly
    paid = (monthly["joined"] - monthly["joined_by_referral"]).sum()
    keeping = config.keeping_cost_share * config.revenue_per_customer
    return {
        "acquisition_cost_multiple_effective": monthly["acquisition_cost"].sum() / paid / keeping,
        "acquisition_cost_multiple_nominal": config.acquisition_cost_multiple,
    }


def defections(base: Config, seed: int, scenario: dict[str, Any]) -> dict[str, float]:
    """Reichheld & Sasser (1990): profit gained by cutting the defection rate by 5 percentage points.

    The cut is made by lowering the switching baseline (``churn_intercept``) until the mean annual churn is
    5 points lower with the same random numbers (bisection); profit is the 10-year discounted profit.
    """
    cut = scenario.pop("defection_cut", 0.05)
    config = base.replace(**scenario, seed=seed)
    reference = run(config).summary
    goal = reference["churn_rate"] - cut

    def churn_after(shift: float) -> float:
        return run(config.replace(churn_intercept=config.churn_intercept - shift)).summary["churn_rate"]

    low, high = 0.0, 1.0
    while churn_after(high) > goal and high < 40:
        low, high = high, high * 2
    for _ in range(14):
        middle = (low + high) / 2
        low, high = (middle, high) if churn_after(middle) > goal else (low, middle)
    improved = run(config.replace(churn_intercept=config.churn_intercept - high)).summary
    return {
        "churn_before": reference["churn_rate"],
        "churn_after": improved["churn_rate"],
        "profit_increase": improved["discounted_profit"] / reference["discounted_profit"] - 1,
    }


def quadrant(base: Config, seed: int, scenario: dict[str, Any]) -> dict[str, float]:
    """Satisfaction is not loyalty: hostages under monopoly and high switching cost, mercenaries under price
    competition. Each measure is a difference of quadrant shares against the scenario's market."""
    config = base.replace(**scenario, seed=seed)

    def shares(**changes: Any) -> dict[str, float]:
        return run(config.replace(**changes)).summary["quadrant_shares"]

    market = shares()
    monopoly = shares(competition=0.0)
    locked_in = shares(switching_cost_mean=config.switching_cost_mean * 5)
    fierce = shares(competition=1.0)
    mild = shares(competition=0.1)
    return {
        "hostage_share_market": market["hostage"],
        "hostage_share_monopoly": monopoly["hostage"],
        "hostage_gain_monopoly": monopoly["hostage"] - market["hostage"],
        "hostage_gain_switching_cost": locked_in["hostage"] - market["hostage"],
        "mercenary_share_monopoly": monopoly["mercenary"],
        "mercenary_gain_price_competition": fierce["mercenary"] - mild["mercenary"],
        "satisfied_share_not_loyal_price_competition": fierce["mercenary"] / (fierce["mercenary"] + fierce["loyalist"]),
    }


EXPERIMENTS: dict[str, Callable[[Config, int, dict[str, Any]], dict[str, float]]] = {
    "complaint_outcomes": complaint_outcomes,
    "word_of_mouth": word_of_mouth,
    "channel_costs": channel_costs,
    "acquisition": acquisition,
    "defections": defections,
    "quadrant": quadrant,
}
