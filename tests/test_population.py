"""The struct-of-arrays population: swap-remove, append, and the traits customers are drawn with."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.core.config import Config
from sim.core.levels import level_index
from sim.core.population import FIELDS, Population, new_customers
from sim.core.rng import stream


def _population(count: int, **config) -> Population:
    population = Population(4)
    population.append(new_customers(Config(**config), stream(1, "traits"), count, month=0, initial=True))
    return population


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 200), st.data())
def test_remove_keeps_exactly_the_survivors_with_their_fields(count, data):
    population = _population(count)
    before = {name: array.copy() for name, array in population.active().items()}
    positions = np.array(sorted(data.draw(st.sets(st.integers(0, count - 1), max_size=count))), dtype=np.int64)
    population.remove(positions)
    survivors = np.setdiff1d(np.arange(count), positions)
    after = population.active()
    assert population.n == len(survivors)
    order = np.argsort(after["customer_id"])
    for name in FIELDS:
        np.testing.assert_array_equal(after[name][order], before[name][survivors], err_msg=name)


def test_append_assigns_increasing_ids_and_grows():
    population = _population(10)
    population.append(new_customers(Config(), stream(2, "traits"), 50, month=3, initial=False))
    assert population.n == 60
    assert population.capacity >= 60
    np.testing.assert_array_equal(population.active()["customer_id"], np.arange(60))


def test_traits_are_heterogeneous_and_in_range():
    people = _population(20_000).active()
    for name in ("value", "base_value", "expectation", "price_sensitivity", "complaint_propensity", "switching_cost"):
        assert people[name].std() > 0, name
    assert np.all((people["price_sensitivity"] >= 0) & (people["price_sensitivity"] <= 1))
    assert np.all((people["complaint_propensity"] >= 0) & (people["complaint_propensity"] <= 1))
    assert people["complaint_propensity"].mean() == pytest.approx(0.25, abs=0.01)
    assert people["contact_averse"].mean() == pytest.approx(0.25, abs=0.01)


def test_value_follows_the_80_20_pattern():
    value = np.sort(_population(200_000).active()["value"])[::-1]
    assert value.mean() == pytest.approx(1.0, rel=0.05)
    top_fifth = value[: len(value) // 5].sum() / value.sum()
    assert top_fifth == pytest.approx(0.80, abs=0.02)


def test_tiers_serve_the_most_valuable_customers_at_the_tier_level():
    people = _population(10_000, level="reactive", tier_level="partnership", tier_share=0.2).active()
    top = people["level"] == level_index("partnership")
    assert top.mean() == pytest.approx(0.2, abs=0.015)
    assert people["value"][top].min() >= people["value"][~top].max()
    # partnership's structural bond and customisation come with the tier
    assert people["switching_cost"][top].mean() > people["switching_cost"][~top].mean() + 0.8


def test_ivr_routing_takes_the_lowest_value_customers():
    people = _population(10_000, ivr_routing_share=0.3).active()
    routed = people["routed_to_ivr"]
    assert routed.mean() == pytest.approx(0.3, abs=0.015)
    assert people["value"][routed].max() <= people["value"][~routed].min()


def test_basic_customers_have_no_channel():
    people = _population(1_000, level="basic").active()
    assert not people["inquiry_probability"].any()
    assert np.all(people["next_outreach"] == -1)


def test_compact_gives_memory_back_and_keeps_the_customers():
    population = _population(1000)
    population.remove(np.arange(0, 1000, 2))
    before = {name: array.copy() for name, array in population.active().items()}
    assert population.compact()
    assert population.capacity < 600
    for name, array in population.active().items():
        np.testing.assert_array_equal(array, before[name])
    assert not population.compact()  # nothing more to give back


@pytest.mark.parametrize("count", [1, 5, 20, 40])
def test_compact_never_leaves_fewer_slots_than_it_records(count):
    population = _population(count)
    population.remove(np.arange(0, count, 2))
    population.compact()
    assert all(len(array) == population.capacity for array in population.data.values())
    population.append(new_customers(Config(), stream(3, "traits"), count, month=1, initial=False))
    assert population.n == count - len(range(0, count, 2)) + count
