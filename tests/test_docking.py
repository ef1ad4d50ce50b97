"""Docking (Axtell et al. 1996): the vectorised model and the agent-based reference agree in distribution.

``RelationshipModel`` (numpy arrays, named random streams) and ``ReferenceModel`` (one ``mesa.Agent`` per customer,
one Python generator) implement the same rules independently, so their draws differ but every per-run summary
figure should come from the same distribution. For each scenario both models run ``SEEDS`` times on a small market;
each summary figure is compared with Welch's t-test (means) and the two-sample Kolmogorov-Smirnov test (whole
distribution). All comparisons of the file form one family, Bonferroni-corrected: for a correct pair of models,
the chance over the choice of seeds that any of them fails is at most ``FAMILY_ALPHA``. The seeds are fixed, so
the outcome is deterministic.

A test that cannot fail proves nothing, so the same comparison, at the same significance level, must flag a
model run with a deliberately wrong parameter or rule (the power checks at the end).
"""

from __future__ import annotations

import math
from functools import cache
from typing import Any

import numpy as np
import pytest
from scipy import stats

from sim.core.model import RelationshipModel
from sim.core.reference import Customer, ReferenceModel
from sim.core.schema import QUADRANTS, RECORD_KEYS, STAGES
from sim.outputs.results import summarise

SIZE = {"n_customers": 500, "years": 5}
SEEDS = 20
REFERENCE_SEEDS = tuple(range(1, SEEDS + 1))
VECTORISED_SEEDS = tuple(range(1001, 1001 + SEEDS))  # other seeds: the models share no draws anyway

SCENARIOS: dict[str, dict[str, Any]] = {
    "basic": {"level": "basic"},
    "reactive_ivr": {"level": "reactive", "ivr_routing_share": 0.5},  # exercises IVR routing and its resolution
    "accountable": {"level": "accountable"},
    "proactive": {"level": "proactive"},
    "partnership": {"level": "partnership"},
    # A tiered policy (top 20% by value at Partnership) in a monopoly until a competitor enters in year 2.
    "tiered_entry": {
        "level": "reactive",
        "tier_level": "partnership",
        "tier_share": 0.2,
        "competitor_entry_year": 2,
        "ivr_routing_share": 0.3,
    },
    # Customer segments (sim/core/segments.toml) switch on the mechanisms of issue 12; both models implement them.
    # Key accounts: manager capacity and account elasticity, buyer power, field service, staffing, fixed programme
    # costs, learning from distinct problems, bonds that build, contact wear-out, stronger relational effects.
    "key_account_partnership": {"segment": "key_account", "level": "partnership"},
    # Mass consumers: IVR routing, automated welcome calls, wear-out near the contact frequency, weaker effects.
    "mass_consumer_proactive": {"segment": "mass_consumer", "level": "proactive"},
    # Small businesses at Basic (warranty claims) with an Accountable tier, costs that scale with size and a welcome
    # call that finds only some of the dissatisfied.
    "small_business_tiered": {
        "segment": "small_business",
        "level": "basic",
        "tier_level": "accountable",
        "tier_share": 0.3,
        "contact_cost_elasticity": 0.5,
        "levels.accountable.welcome_call_detection": 0.6,
    },
}
METRICS = (
    "retention_rate",
    "cost_to_serve_per_customer",
    "discounted_profit",
    "complaints_per_customer_year",
    "nps",
    "active_customers_end",
    "recovery_rate",
)
TESTS = ("welch", "ks")
FAMILY_ALPHA = 0.01
ALPHA = FAMILY_ALPHA / (len(SCENARIOS) * len(METRICS) * len(TESTS))  # Bonferroni: about 1.2e-4 per test


def _run(model_class: type, params: tuple[tuple[str, Any], ...], seeds: tuple[int, ...]) -> dict[str, np.ndarray]:
    """Each metric's values over the seeds."""
    rows = []
    for seed in seeds:
        model = model_class(**SIZE, **dict(params), seed=seed).run()
        summary = summarise(model.monthly(), model.config)
        rows.append([summary[metric] for metric in METRICS])
    values = np.array(rows, dtype=float)
    return {metric: values[:, i] for i, metric in enumerate(METRICS)}


@cache
def reference(**params: Any) -> dict[str, np.ndarray]:
    return _run(ReferenceModel, tuple(sorted(params.items())), REFERENCE_SEEDS)


@cache
def vectorised(**params: Any) -> dict[str, np.ndarray]:
    return _run(RelationshipModel, tuple(sorted(params.items())), VECTORISED_SEEDS)


def p_values(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    """Welch and KS p-values; two constant samples agree exactly or not at all (no variance to test with)."""
    if np.ptp(a) == 0 and np.ptp(b) == 0:
        same = float(np.isclose(a[0], b[0], rtol=1e-9, atol=1e-12))
        return dict.fromkeys(TESTS, same)
    return {
        "welch": float(stats.ttest_ind(a, b, equal_var=False).pvalue),
        "ks": float(stats.ks_2samp(a, b).pvalue),
    }


def disagreements(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> list[str]:
    """The comparisons rejected at the corrected level, described for the failure message."""
    found = []
    for metric in METRICS:
        for test, p in p_values(a[metric], b[metric]).items():
            if p < ALPHA:
                found.append(f"{metric} ({test} p={p:.2g}; means {a[metric].mean():.5g} vs {b[metric].mean():.5g})")
    return found


# -- the docking ----------------------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_models_agree_in_distribution(scenario: str) -> None:
    params = SCENARIOS[scenario]
    assert disagreements(reference(**params), vectorised(**params)) == []


# -- the power checks: the same comparison flags a model that is wrong ------------------------------------------
@pytest.mark.slow
def test_docking_detects_doubled_problem_rate() -> None:
    params = SCENARIOS["reactive_ivr"]
    found = disagreements(reference(**params), vectorised(**params, problem_rate=0.6))
    assert any(item.startswith("complaints_per_customer_year") for item in found), found


@pytest.mark.slow
def test_docking_detects_a_neighbouring_level() -> None:
    found = disagreements(reference(**SCENARIOS["accountable"]), vectorised(**SCENARIOS["proactive"]))
    assert any(item.startswith("cost_to_serve_per_customer") for item in found), found


@pytest.mark.slow
def test_docking_detects_a_subtle_parameter_error() -> None:
    """A 10% error in one cost is enough: an agent contact at $5.50 instead of $5."""
    params = SCENARIOS["accountable"]
    found = disagreements(reference(**params, agent_contact_cost=5.5), vectorised(**params))
    assert any(item.startswith("cost_to_serve_per_customer") for item in found), found


# Mutants: the reference with one rule coded wrongly, the kind of slip docking exists to catch.
class _NoWelcomeCall(Customer):
    """Off by one in the welcome call's tenure check (``tenure == 0``): no customer is ever called."""

    def welcome_call(self) -> None:
        pass


class _IvrLikeAgent(Customer):
    """IVR routing forgotten: every contact goes to an agent and resolves at the agent's rate."""

    def contact(self, activity: str, *, routed: bool, bond: bool = True) -> bool:
        super().contact(activity, routed=False, bond=bond)
        return False


class _AverseLikeOthers(Customer):
    """Contact wear-out with the contact-averse given an ideal volume like everyone else (theirs is 0)."""

    def __init__(self, model: ReferenceModel, **kwargs: Any) -> None:
        super().__init__(model, **kwargs)
        if self.contact_averse:
            self.ideal_contacts = model.random.gammavariate(2.0, model.config.ideal_contacts_per_year / 2.0)


class _FlatAccountTeams(ReferenceModel):
    """Account-team workload counted per account, forgetting that it grows with the account's size."""

    def book_costs(self, customers: list[Customer]) -> None:
        super().book_costs(customers)
        config = self.config
        accounts = sum(c.level.account_management for c in customers)
        managers = math.ceil(accounts / config.accounts_per_manager)
        self.tally["cost_account_management"] = managers * config.account_manager_cost / 12.0


def _mutant(customer_class: type[Customer]) -> type[ReferenceModel]:
    return type(f"Reference{customer_class.__name__}", (ReferenceModel,), {"customer_class": customer_class})


@pytest.mark.slow
@pytest.mark.parametrize(
    ("customer_class", "scenario", "flagged"),
    [
        (_NoWelcomeCall, "accountable", "cost_to_serve_per_customer"),
        (_IvrLikeAgent, "reactive_ivr", "recovery_rate"),
        (_AverseLikeOthers, "mass_consumer_proactive", "nps"),
    ],
)
def test_docking_detects_a_wrong_rule(customer_class: type[Customer], scenario: str, flagged: str) -> None:
    params = SCENARIOS[scenario]
    mutant = _run(_mutant(customer_class), tuple(sorted(params.items())), REFERENCE_SEEDS)
    found = disagreements(mutant, vectorised(**params))
    assert any(item.startswith(flagged) for item in found), found


@pytest.mark.slow
def test_docking_detects_account_teams_that_ignore_account_size() -> None:
    params = SCENARIOS["key_account_partnership"]
    mutant = _run(_FlatAccountTeams, tuple(sorted(params.items())), REFERENCE_SEEDS)
    found = disagreements(mutant, vectorised(**params))
    assert any(item.startswith("cost_to_serve_per_customer") for item in found), found


def test_reference_is_deterministic_and_shares_the_output_format() -> None:
    first = ReferenceModel(level="proactive", n_customers=60, years=1, seed=7).run().monthly()
    again = ReferenceModel(level="proactive", n_customers=60, years=1, seed=7).run().monthly()
    vectorised_frame = RelationshipModel(level="proactive", n_customers=60, years=1, seed=7).run().monthly()
    assert first.equals(again)
    assert list(first.columns) == list(vectorised_frame.columns) == [k for k in RECORD_KEYS if k != "month"]
    assert list(first.index) == list(range(1, 13))
    # the bookkeeping identities of the vectorised model's record hold for the reference too
    following = (first["active"] - first["left"] + first["joined"]).to_numpy()[:-1]
    assert (first["active"].to_numpy()[1:] == following).all()
    assert (first[list(QUADRANTS)].sum(axis=1) == first["active"]).all()
    assert (first[list(STAGES)].sum(axis=1) == first["active"]).all()


def test_reference_fills_every_recorded_column() -> None:
    """A column the vectorised model records but the reference leaves at zero would dock by accident."""
    params = {"level": "proactive", "tier_level": "partnership", "tier_share": 0.2, "ivr_routing_share": 0.3}
    params |= {"competitor_entry_year": 1, "n_customers": 300, "years": 2, "seed": 3}
    ours = ReferenceModel(**params).run().monthly()
    theirs = RelationshipModel(**params).run().monthly()
    forgotten = [key for key in theirs.columns if (theirs[key] != 0).any() and not (ours[key] != 0).any()]
    assert forgotten == []
