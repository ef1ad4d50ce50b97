"""Priors of the level effects (levels.toml; sim/core/priors.py): present where a value is uncertain, consistent
with the plausible ranges, and drawn within the rules (accepted ranges, whole numbers, ordinal increments)."""

from __future__ import annotations

import numpy as np
import pytest

from sim.core.config import FIELDS, SEGMENTS
from sim.core.levels import DEFAULT_LEVELS, LEVELS, NOTES, draw_levels
from sim.core.priors import clip, quantile, read_prior
from sim.errors import ConfigError

RNG = np.random.default_rng(7)
DRAWS = [draw_levels(RNG) for _ in range(2_000)]


def _drawn(level: str, name: str) -> np.ndarray:
    return np.array([getattr(dict((lv.name, lv) for lv in levels)[level], name) for levels in DRAWS], float)


def test_every_uncertain_level_value_has_a_prior_whose_90_percent_interval_is_its_range():
    """The range is the prior's 90 % interval (of the drawn value, clipped to the accepted range; for a prior above
    another level, of the sum), widened only to hold today's value."""
    checked = 0
    for (level, name), note in NOTES.items():
        if note.low is None or note.low == note.high:
            assert note.prior is None
            continue
        low, high = np.quantile(_drawn(level, name), [0.05, 0.95])
        slack = 0.05 * (note.high - note.low)  # Monte Carlo error of a 5 % quantile from 2,000 draws
        value = getattr(LEVELS[level], name)
        assert abs(low - note.low) <= slack or note.low == value < low, (level, name, low, note.low)
        assert abs(high - note.high) <= slack or note.high == value > high, (level, name, high, note.high)
        checked += 1
    assert checked >= 15


def test_segment_priors_lie_within_their_ranges():
    for segment in SEGMENTS.values():
        for name, note in segment.notes.items():
            if note.prior is not None:
                median = quantile(note.prior, 0.5)
                assert note.low <= clip(FIELDS[name], median) <= note.high, (segment.name, name)


def test_drawn_levels_respect_the_accepted_ranges_whole_numbers_and_the_ordinal_increments():
    for levels in DRAWS:
        named = {level.name: level for level in levels}
        assert named["accountable"].resolution_probability >= named["reactive"].resolution_probability
        assert named["proactive"].resolution_probability >= named["accountable"].resolution_probability
        assert isinstance(named["proactive"].outreach_per_year, int)
        assert 0 <= named["partnership"].outreach_per_year <= 12
        assert named["basic"] == LEVELS["basic"]  # a level fixed by definition has nothing to draw
    assert _drawn("partnership", "problem_detection").mean() == pytest.approx(4 / 7, abs=0.02)  # Beta(4, 3)
    assert len(set(DRAWS)) == len(DRAWS) and DEFAULT_LEVELS not in DRAWS
    assert quantile(NOTES["reactive", "resolution_probability"].prior, 0.5) == pytest.approx(0.553, abs=1e-3)


@pytest.mark.parametrize(
    ("entry", "key"),
    [
        ({"distribution": "gamma", "a": 1}, "p.distribution"),
        ({"distribution": "beta", "a": 1}, "p.b"),
        ({"distribution": "beta", "a": 1, "b": -2}, "p"),
        ({"distribution": "uniform", "low": 1, "high": 1}, "p"),
        ({"distribution": "lognormal", "median": 1, "sigma": 0.5, "mode": 1}, "p.mode"),
        ({"distribution": "triangular", "low": 0, "mode": 2, "high": 1}, "p"),
        ({"distribution": "uniform", "low": 0, "high": 1, "above": 3}, "p.above"),
        ("beta", "p"),
    ],
)
def test_a_bad_prior_is_one_line_naming_the_key(entry, key):
    with pytest.raises(ConfigError) as error:
        read_prior("p", entry)
    assert error.value.field == key and "\n" not in str(error.value)


def test_drawn_segment_values_stay_in_their_ranges_and_follow_their_priors():
    from sim.core.config import from_mapping
    from sim.core.segments import draw_segment

    rng = np.random.default_rng(3)
    key = SEGMENTS["key_account"]
    draws = [draw_segment(key, rng, FIELDS) for _ in range(2_000)]
    for name, note in key.notes.items():
        values = [d[name] for d in draws]
        if note.low is None or note.low == note.high:
            assert set(values) == {key.values[name]}
        elif note.prior is None:  # uniform over the plausible range
            assert note.low <= min(values) and max(values) <= note.high
            assert np.mean(values) == pytest.approx((note.low + note.high) / 2, rel=0.05)
    assert isinstance(draws[0]["distinct_problem_types"], int)
    assert np.median([d["partnership_cost"] for d in draws]) == pytest.approx(50_000, rel=0.1)  # its lognormal prior
    assert from_mapping({**draws[0], "segment": "key_account"}).segment == "key_account"  # a valid run config
