"""RelationshipModel.competitor_enters: the teaching app's "competitor enters" control."""

from __future__ import annotations

import math

import pytest

from sim import RelationshipModel
from sim.core.config import ConfigError

SMALL = {"level": "reactive", "n_customers": 600, "years": 3, "seed": 5}


def test_entry_takes_effect_from_the_next_step_and_overrides_the_config():
    model = RelationshipModel(competition=0.0, **SMALL)
    for _ in range(6):
        model.step()
    assert model.record["attraction"] == 0.0
    model.competitor_enters(0.7)
    assert model.attraction(model.steps - 1) == 0.0  # the month already simulated is not rewritten
    model.step()
    assert model.record["attraction"] == 0.7
    assert all(record["attraction"] == 0.0 for record in model.history[:6])


def test_entry_overrides_a_later_scheduled_entry():
    model = RelationshipModel(competition=0.4, competitor_entry_year=2, **SMALL)
    model.step()
    model.competitor_enters()  # default: the configured competition, now instead of in year 2
    model.step()
    assert [record["attraction"] for record in model.history] == [0.0, 0.4]


def test_hostages_leave_when_a_competitor_enters():
    model = RelationshipModel(competition=0.0, **SMALL)
    for _ in range(12):
        model.step()
    hostages_before, left_before = model.record["hostage"], model.record["left"]
    model.competitor_enters(0.6)
    model.step()
    assert hostages_before > 0
    assert model.record["hostage"] < hostages_before / 2  # their loyalty was only the absence of an alternative
    assert model.record["left"] > 2 * left_before


def test_same_seed_same_entry_same_run():
    def history() -> list[dict[str, float]]:
        model = RelationshipModel(competition=0.0, **SMALL)
        for month in range(10):
            if month == 4:
                model.competitor_enters(0.5)
            model.step()
        return model.history

    assert history() == history()


@pytest.mark.parametrize("attraction", [-0.1, 1.5, math.nan])
def test_an_attraction_outside_0_to_1_is_a_config_error(attraction):
    model = RelationshipModel(**SMALL)
    with pytest.raises(ConfigError, match=r"^attraction: must be a number from 0 to 1"):
        model.competitor_enters(attraction)
