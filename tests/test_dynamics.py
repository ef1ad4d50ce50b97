"""The pure rules in sim.core.dynamics, against values worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sim.core import dynamics

F32 = np.float32


def _leave(satisfaction=0.0, commitment=0.5, switching=0.3, social=0.0, price=0.5, **kw):
    arrays = [np.array([value], F32) for value in (satisfaction, commitment, switching, social, price)]
    params = {
        "attraction": 0.5,
        "natural_churn_monthly": 0.004,
        "intercept": -2.8,
        "satisfaction_effect": 3.0,
        "commitment_effect": 2.0,
        "switching_cost_effect": 2.0,
        "price_effect": 2.0,
        **kw,
    }
    return float(dynamics.leave_probability(*arrays, **params, out=np.empty(1, F32))[0])


def test_satisfaction_follows_disconfirmation_by_hand():
    satisfaction = np.array([0.0, 0.5], F32)
    expectation = np.array([1.0, 1.0], F32)
    value = np.array([1.2, 0.8], F32)
    dynamics.update_satisfaction(satisfaction, expectation, value, 0.5, 0.1, np.empty(2, F32))
    # disconfirmation +0.2 and -0.2
    np.testing.assert_allclose(satisfaction, [0.1, 0.15], rtol=1e-6)
    np.testing.assert_allclose(expectation, [1.02, 0.98], rtol=1e-6)


def test_expectations_converge_to_the_value_received():
    satisfaction = np.zeros(1, F32)
    expectation = np.array([0.5], F32)
    value = np.array([1.0], F32)
    for _ in range(2000):
        dynamics.update_satisfaction(satisfaction, expectation, value, 0.2, 0.05, np.empty(1, F32))
    assert expectation[0] == pytest.approx(1.0, abs=1e-4)
    assert satisfaction[0] == pytest.approx(0.0, abs=1e-4)


def test_commitment_grows_with_satisfaction_and_falls_faster_with_dissatisfaction():
    commitment = np.array([0.5, 0.5], F32)
    satisfaction = np.array([0.4, -0.4], F32)
    dynamics.update_commitment(commitment, satisfaction, 0.1, 0.2, np.empty(2, F32), np.empty(2, F32))
    np.testing.assert_allclose(commitment, [0.5 + 0.1 * 0.4 * 0.5, 0.5 - 0.2 * 0.4 * 0.5], rtol=1e-6)
    assert 0.5 - commitment[1] > commitment[0] - 0.5


@given(
    st.lists(st.floats(-20, 20, width=32), min_size=1, max_size=20),
    st.floats(0, 1, width=32),
    st.floats(0, 1),
    st.floats(0, 1),
)
def test_commitment_stays_in_unit_interval(satisfaction, start, gain, loss):
    satisfaction = np.array(satisfaction, F32)
    commitment = np.full(len(satisfaction), start, F32)
    for _ in range(5):
        dynamics.update_commitment(
            commitment, satisfaction, gain, loss, np.empty(len(commitment), F32), np.empty(len(commitment), F32)
        )
    assert np.all((commitment >= 0) & (commitment <= 1))


def test_leave_probability_by_hand():
    x = -2.8 + 2.0 * 0.5 * 0.5 - 0.0 - 2.0 * 0.5 - 2.0 * 0.3
    expected = 0.004 + (1 - 0.004) * 0.5 / (1 + np.exp(-x))
    assert _leave() == pytest.approx(expected, rel=1e-5)


def test_monopoly_leaves_only_natural_churn():
    assert _leave(satisfaction=-5.0, attraction=0.0) == pytest.approx(0.004)


@pytest.mark.parametrize(
    ("field", "low", "high", "direction"),
    [
        ("satisfaction", -1.0, 1.0, -1),
        ("commitment", 0.1, 0.9, -1),
        ("switching", 0.0, 1.0, -1),
        ("social", 0.0, 0.5, -1),
        ("price", 0.1, 0.9, +1),
        ("attraction", 0.2, 0.9, +1),
    ],
)
def test_leave_probability_moves_the_right_way(field, low, high, direction):
    change = (_leave(**{field: high}) - _leave(**{field: low})) * direction
    assert change > 0


@given(st.floats(-50, 50, width=32), st.floats(0, 1), st.floats(0, 1, width=32))
def test_leave_probability_is_a_probability(satisfaction, attraction, commitment):
    p = _leave(satisfaction=satisfaction, attraction=attraction, commitment=commitment)
    assert 0.0 <= p <= 1.0


def test_monthly_probability_compounds_to_the_yearly_one():
    monthly = dynamics.monthly_probability(0.2)
    assert 1 - (1 - monthly) ** 12 == pytest.approx(0.2)


def test_loyalty_limit_matches_twelve_month_stay_chance():
    limit = dynamics.loyalty_hazard_limit(0.8)
    assert (1 - limit) ** 12 == pytest.approx(0.8)


@given(st.floats(0, 1), st.floats(0, 1e7), st.floats(1, 1e7), st.floats(0, 1))
def test_word_of_mouth_share_stays_a_share(aware, mentions, prospects, forgetting):
    assert 0.0 <= dynamics.spread_word(aware, mentions, prospects, forgetting) <= 1.0


def test_word_of_mouth_without_mentions_is_forgotten():
    assert dynamics.spread_word(0.5, 0.0, 1000.0, 0.1) == pytest.approx(0.45)
    assert dynamics.spread_word(0.0, 1000.0, 1000.0, 0.1) == pytest.approx(1 - np.exp(-1))
