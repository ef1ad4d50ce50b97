"""Explicit design points (design = "points"): each point gives its own values, names its scenario and may carry
text labels; points that differ only in margin or labels share a simulation. Errors name ``points[i].key``."""

from __future__ import annotations

import copy

import pytest

from sim.core.config import ConfigError
from sim.engine.api import sweep
from sim.engine.plan import derive_seed, plan
from sim.engine.sweep import parse_spec
from sim.outputs.results import run_summary

POINTS = {
    "sweep": {"design": "points", "labels": ["firm"], "replications": 2, "seed": 3, "common_random_numbers": True},
    "fixed": {"years": 1},
    "scenarios": {"calm": {}, "stormy": {"problem_rate": 1.2}},
    "points": [
        {"scenario": "calm", "firm": "a", "level": "basic", "customers": 1000, "n_customers": 100, "margin": 0.2},
        {"scenario": "calm", "firm": "b", "level": "basic", "customers": 1000, "n_customers": 100, "margin": 0.5},
        {"scenario": "stormy", "firm": "a", "level": "proactive", "customers": 300, "n_customers": 300, "margin": 0.2},
    ],
    "outputs": {"metrics": ["discounted_profit", "retention_rate"]},
}


def test_points_are_run_as_given_and_share_simulations_across_margins_and_labels():
    spec = parse_spec(POINTS)
    assert spec.labels == ("firm",)
    the_plan = plan(spec)
    assert the_plan.runs == 3 * 2 and the_plan.simulations == 2 * 2  # points 0 and 1 share one simulation
    assert the_plan.columns[:9] == ["run", "point", "replication", "seed", "scenario", "firm", "level", "customers",
                                    "n_customers"]  # fmt: skip
    rows = sweep(spec, workers=1)
    assert list(rows["run"]) == list(range(6)) and list(rows["firm"]) == ["a", "a", "b", "b", "a", "a"]
    assert list(rows["scenario"]) == ["calm"] * 4 + ["stormy"] * 2
    assert list(rows["seed"]) == [derive_seed(3, r) for r in (0, 1)] * 3  # common random numbers
    shared = rows[rows["point"] < 2]
    assert shared.groupby("replication")["retention_rate"].nunique().eq(1).all()
    # each row is the direct run of its point (its scenario, its sample scaled to its customers)
    for _, row in rows.iterrows():
        point = POINTS["points"][row["point"]]
        overrides = POINTS["scenarios"][point["scenario"]]
        fields = {k: v for k, v in point.items() if k not in ("scenario", "firm", "customers")}
        direct = run_summary({**fields, **overrides, "years": 1, "seed": row["seed"]})
        scale = point["customers"] / point["n_customers"]
        assert row["discounted_profit"] == pytest.approx(scale * direct["discounted_profit"], rel=1e-9)
        assert row["retention_rate"] == pytest.approx(direct["retention_rate"], rel=1e-12)


def test_the_points_and_labels_are_part_of_the_spec_hash_but_other_designs_hashes_do_not_change():
    first = parse_spec(POINTS)
    relabelled = copy.deepcopy(POINTS)
    relabelled["points"][1]["firm"] = "c"
    assert parse_spec(relabelled).hash() != first.hash()
    grid = parse_spec({"vary": {"competition": [0.2, 0.4]}, "fixed": {"years": 1}})
    assert "points" not in grid.canonical() and "labels" not in grid.canonical()


def _bad(change) -> dict:
    data = copy.deepcopy(POINTS)
    change(data)
    return data


@pytest.mark.parametrize(
    ("change", "key"),
    [
        (lambda d: d["points"][1].pop("margin"), "points[1].margin"),
        (lambda d: d["points"][2].update(colour=1), "points[2].colour"),
        (lambda d: d["points"][2].update(scenario="windy"), "points[2].scenario"),
        (lambda d: d["points"][1].update(margin="high"), "points[1].margin"),
        (lambda d: d["points"][1].update(margin=1.5), "points[1].margin"),
        (lambda d: d["points"][0].update(level="gold"), "points[0].level"),
        (lambda d: d["points"][0].update(n_customers=5000), "points[0].n_customers"),
        (lambda d: d["points"][0].update(firm=3), "points[0].firm"),
        (lambda d: d["sweep"].update(labels=["margin"]), "sweep.labels[0]"),
        (lambda d: d.update(vary={"competition": [0.1]}), "vary"),
        (lambda d: d.update(points=[]), "points"),
        (lambda d: d["fixed"].update(margin=0.3), "points[0].margin"),
        (lambda d: d["sweep"].update(design="grid"), "sweep.labels"),
        (lambda d: (d["sweep"].update(design="grid"), d["sweep"].pop("labels")), "points"),
    ],
)
def test_bad_points_are_rejected_naming_the_key(change, key):
    with pytest.raises(ConfigError) as caught:
        parse_spec(_bad(change))
    assert caught.value.field == key, str(caught.value)
