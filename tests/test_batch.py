"""Batched runs (sim/core/batch.py, issue 14): a run's record is bit-identical whether it runs alone or in any batch,
and the engine's rows are the same whatever the batch size."""

from __future__ import annotations

import numpy as np
import pytest

from sim.core.batch import VARYING, batch_key, run_batch, unbatchable
from sim.core.config import from_mapping
from sim.core.customers import SWITCH
from sim.core.model import RelationshipModel
from sim.core.rng import stream
from sim.core.schema import RECORD_KEYS
from sim.core.segments import SHIPPED, segment_names
from sim.core.stacked import Pool, ragged
from sim.engine.runs import run_chunk, simulate_many
from sim.engine.spec import read_spec
from sim.engine.sweep import plan

LEVELS = from_mapping({}).level_names


def single(config) -> dict[str, np.ndarray]:
    history = RelationshipModel(config).run().history
    return {key: np.array([month[key] for month in history], float) for key in RECORD_KEYS}


def varied(count: int, seed: int = 0, **fixed) -> list:
    """Configs that differ in every field a batch holds per run (levels cycled, one monopoly, one late entrant)."""
    rng = np.random.default_rng(seed)
    configs = []
    for i in range(count):
        values = {
            "years": 3,
            "seed": 500 + i,
            "level": LEVELS[i % len(LEVELS)],
            "n_customers": int(rng.integers(60, 400)),
            "competition": 0.0 if i == 1 else float(rng.random()),
            "competitor_entry_year": 1 if i == 2 else 0,
            "problem_rate": float(rng.uniform(0.05, 2.0)),
            "revenue_per_customer": float(rng.choice([600.0, 1234.5])),
            "agent_contact_cost": float(rng.uniform(1.0, 9.0)),
            "acquisition_rate": 0.9 if i == 3 else float(rng.uniform(0.05, 0.4)),  # run 3 outgrows its slots
            "discount_rate": float(rng.choice([0.1, 0.07])),
            "margin": float(rng.uniform(0.1, 0.6)),
            **fixed,
        }
        configs.append(from_mapping(values))
    return configs


def assert_same(batched: list[dict[str, np.ndarray]], configs: list) -> None:
    for record, config in zip(batched, configs, strict=True):
        alone = single(config)
        for key in RECORD_KEYS:
            assert np.array_equal(record[key], alone[key]), (config.level, config.seed, key)


@pytest.mark.parametrize(
    "fixed",
    [
        {},
        {"tier_level": "partnership", "tier_share": 0.2, "level": "basic"},
        {"warranty_voice_share": 0.5},
        {"welcome_call_channel": "automated", "ivr_routing_share": 0.5},
    ],
    ids=["levels", "tiers", "warranty", "automated"],
)
def test_a_batched_run_is_bit_identical_to_the_same_run_alone(fixed):
    configs = varied(10, **fixed)
    assert all(unbatchable(config) is None for config in configs)
    assert_same(run_batch(configs), configs)


def test_a_run_gives_the_same_record_in_any_batch_and_any_position():
    configs = varied(9, seed=3)
    whole = run_batch(configs)
    reordered = run_batch(configs[::-1])[::-1]
    alone = run_batch(configs[4:5])
    pair = run_batch([configs[0], configs[4]])
    for key in RECORD_KEYS:
        for a, b in zip(whole, reordered, strict=True):
            assert np.array_equal(a[key], b[key])
        assert np.array_equal(whole[4][key], alone[0][key])
        assert np.array_equal(whole[4][key], pair[1][key])


def test_a_long_horizon_stays_identical():
    configs = varied(4, seed=9, years=10)
    assert_same(run_batch(configs), configs)


def test_runs_that_differ_outside_varying_fields_batch_apart_and_mechanisms_run_alone():
    base = from_mapping({"years": 2})
    assert batch_key(base.replace(seed=3, level="proactive")) == batch_key(base)
    assert batch_key(base.replace(satisfaction_effect=base.satisfaction_effect * 2)) != batch_key(base)
    assert "satisfaction_effect" not in VARYING
    for mechanism, field in SWITCH.items():  # every optional customer mechanism keeps a run out of a batch
        value = "noncontractual" if field == "purchase_mode" else 0.5
        assert unbatchable(base.replace(**{field: value})) is not None, mechanism
    jobs = [
        ({"years": 2, "level": "reactive"}, 11),
        ({"years": 2, "level": "reactive", "satisfaction_effect": 3.0}, 12),
        ({"years": 2, "level": "reactive", "churn_propensity_dispersion": 0.8}, 13),
        ({"years": 2, "level": "proactive"}, 14),
    ]
    batched = simulate_many(jobs, summary=True)
    alone = simulate_many(jobs, summary=True, batch_size=1)
    for a, b in zip(batched, alone, strict=True):
        assert a["summary"] == b["summary"]
        for key, values in a.items():
            if key != "summary":
                assert np.array_equal(values, b[key]), key


def test_uniforms_drawn_ahead_equal_the_single_runs_draws():
    """The property the pools rest on: one long call gives what many short calls give, for each precision."""
    for dtype in (np.float32, np.float64):
        short, long = stream(4, "events"), stream(4, "events")
        pieces = np.concatenate([short.random(k, dtype=dtype) for k in (3, 0, 17, 1, 250)])
        assert np.array_equal(pieces, long.random(271, dtype=dtype))
    generators = [stream(seed, "service") for seed in (1, 2)]
    pool = Pool(generators, np.float64, least=8)
    first, second = pool.take(np.array([5, 0])), pool.take(np.array([20, 3]))
    reference = [stream(1, "service").random(25), stream(2, "service").random(3)]
    assert np.array_equal(np.concatenate([first, second[:20]]), reference[0])
    assert np.array_equal(second[20:], reference[1])


def test_ragged_ranges():
    assert ragged(np.array([10, 0, 5]), np.array([2, 0, 3])).tolist() == [10, 11, 5, 6, 7]
    assert ragged(np.array([1]), np.array([0])).tolist() == []


def test_the_engines_rows_do_not_depend_on_the_batch_size(monkeypatch):
    import sim.core.batch

    batches = []
    real = sim.core.batch.run_batch
    monkeypatch.setattr(
        sim.core.batch, "run_batch", lambda configs, **kw: batches.append(len(configs)) or real(configs, **kw)
    )
    spec = read_spec(
        {
            "sweep": {"replications": 3, "seed": 8, "chunk_size": 12},
            "fixed": {"years": 2, "n_customers": 150},
            "vary": {"competition": [0.2, 0.8], "level": ["basic", "proactive"]},
            "outputs": {"metrics": ["discounted_profit", "retention_rate", "nps", "recovery_rate"]},
        }
    )
    chunks = plan(spec).chunks
    rows = {size: [row for c in chunks for row in run_chunk({**c, "batch_size": size})[1]] for size in (1, 2, None)}
    assert len(rows[1]) == 12
    assert rows[1] == rows[2] == rows[None]
    assert batches == [2] * 6 + [12]  # batches of two, then one of every simulation (none without batching)


def _other_value(name: str, spec, default):
    """A valid value of the field other than its default (None when there is none to try)."""
    from sim.core.fields import kind

    what = kind(spec)
    if what == "choice":
        others = [c for c in spec.metadata["choices"] if c != default]
        return others[0] if others else None
    if what == "bool":
        return not default
    if what not in ("int", "float"):
        return None
    low, high = spec.metadata["low"], spec.metadata["high"]
    if what == "int":
        value = default + 1 if default + 1 <= high else default - 1
        return value if low <= value <= high else None
    top = min(high, default * 2 + 0.3 if default >= 0 else high)
    value = (default + top) / 2 if top > default else (default + low) / 2
    return float(value) if value != default and low <= value <= high else None


SEGMENTS = segment_names(SHIPPED)


@pytest.mark.parametrize("segment", SEGMENTS)
def test_every_config_field_is_batched_faithfully_or_keeps_its_run_alone(segment):
    """A field the batch ignored would make a batched run differ from its single run: change each field in turn
    (one value off its default, in every segment) and compare a batch of two runs with the same runs alone."""
    from sim.core.config import FIELDS
    from sim.errors import ConfigError

    base = {"segment": segment, "years": 1, "n_customers": 80, "level": "partnership"}
    base.update(tier_level="proactive", tier_share=0.3)
    defaults = from_mapping(base)
    checked = 0
    for name, spec in FIELDS.items():
        if name in ("seed", "years", "level", "n_customers", "tier_level", "tier_share", "segment"):
            continue
        value = _other_value(name, spec, getattr(defaults, name))
        if value is None:
            continue
        try:
            configs = [from_mapping({**base, name: value, "seed": seed}) for seed in (1, 2)]
        except ConfigError:
            continue
        if unbatchable(configs[0]) is not None:
            continue
        batched = run_batch(configs)
        for record, config in zip(batched, configs, strict=True):
            alone = single(config)
            for key in ("profit", "active", "complaints", "promoters", "joined"):
                assert np.array_equal(record[key], alone[key]), (name, value, key)
        checked += 1
    assert checked > 40


def test_a_batch_size_out_of_range_is_one_line_naming_the_option():
    from sim.engine.evaluators import make_evaluator
    from sim.errors import ConfigError

    for bad in (0, -3, 100_001):
        with pytest.raises(ConfigError, match="must be a whole number from 1 to 100000") as caught:
            make_evaluator(1, batch_size=bad)
        assert caught.value.field == "--batch-size"
    assert make_evaluator(1, batch_size=7).batch_size == 7


def test_a_pool_hands_out_each_runs_numbers_in_order_through_refills_and_regrowth():
    """Many takes and row fills of uneven, growing sizes (sparse takes gathered, dense ones joined as slices; rows
    refilled in place or moved to the front; the buffer regrown), against each run's own stream drawn in one go."""
    seeds = (3, 4, 5)
    pool = Pool([stream(seed, "churn") for seed in seeds], np.float32, months=2, least=4)
    rng = np.random.default_rng(0)
    handed: list[list[np.ndarray]] = [[] for _ in seeds]
    out = np.zeros((len(seeds), 400), np.float32)
    for month in range(40):
        counts = rng.integers(0, 4 + 8 * month, len(seeds))
        if month % 2:
            values, start = pool.take(counts), 0
            for r, k in enumerate(counts.tolist()):
                handed[r].append(values[start : start + k])
                start += k
        else:
            pool.rows(out, counts)
            for r, k in enumerate(counts.tolist()):
                handed[r].append(out[r, :k].copy())
    for r, seed in enumerate(seeds):
        mine = np.concatenate(handed[r])
        assert np.array_equal(mine, stream(seed, "churn").random(len(mine), dtype=np.float32))
