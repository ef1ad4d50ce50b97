"""Sweeps (issue 6): spec validation, designs, seeds, metrics, determinism across evaluators, manifest, CLI, Mesa."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim.cli import main as cli_main
from sim.core.config import ConfigError, from_mapping
from sim.core.model import RelationshipModel
from sim.engine.evaluators import ProcessPoolEvaluator, SequentialEvaluator, make_evaluator
from sim.engine.sweep import (
    METRICS,
    SUMMARY_METRICS,
    _rechunk,
    design,
    load_results,
    load_spec,
    metrics,
    parse_spec,
    plan,
    run_seed,
    run_sweep,
    simulate,
)
from sim.files import LOCK
from sim.outputs.results import summarise


def main(argv: list[str]) -> int:
    return cli_main(["sweep", *argv])


ROOT = Path(__file__).resolve().parents[1]
CALIBRATED = ROOT / "experiments" / "calibrated.toml"

TINY = f"""
[sweep]
base_config = "{CALIBRATED}"
replications = 2
seed = 11

[fixed]
years = 1
n_customers = 150

[vary]
competition = {{ low = 0.0, high = 1.0, steps = 3 }}
margin = [0.1, 0.5]

[compare]
levels = ["basic", "reactive", "proactive"]

[outputs]
metrics = ["discounted_profit", "retention_rate", "nps"]
"""


def write(tmp_path: Path, text: str, name: str = "spec.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def tiny(tmp_path: Path, text: str = TINY):
    return load_spec(write(tmp_path, text))


# ----------------------------------------------------------------------------------------------------------------
# Validation: one ConfigError naming the key, before anything runs
# ----------------------------------------------------------------------------------------------------------------
BAD = [
    ("competition = { low = 0.0, high = 1.0, steps = 3 }", "nonsense = [1, 2]", "vary.nonsense"),
    (
        "competition = { low = 0.0, high = 1.0, steps = 3 }",
        "competition = { low = 1.0, high = 0.0, steps = 3 }",
        "vary.competition",
    ),
    ("competition = { low = 0.0, high = 1.0, steps = 3 }", "competition = []", "vary.competition"),
    (
        "competition = { low = 0.0, high = 1.0, steps = 3 }",
        "competition = { low = 0.0, high = 1.0, steps = 0 }",
        "vary.competition.steps",
    ),
    (
        "competition = { low = 0.0, high = 1.0, steps = 3 }",
        "competition = { low = 0.0, high = 1.0 }",
        "vary.competition.steps",
    ),
    ("competition = { low = 0.0, high = 1.0, steps = 3 }", "competition = 0.5", "vary.competition"),
    ("competition = { low = 0.0, high = 1.0, steps = 3 }", "seed = [1, 2]", "vary.seed"),
    ("margin = [0.1, 0.5]", "margin = [0.1, 1.5]", "vary.margin"),
    ("seed = 11", 'seed = 11\ndesign = "factorial"', "sweep.design"),
    ("seed = 11", "seed = -1", "sweep.seed"),
    ("replications = 2", "replications = 0", "sweep.replications"),
    ("years = 1", "years = 1\ncompetition = 0.2", "vary.competition"),
    ("years = 1", "years = 1\nyaers = 2", "fixed.yaers"),
    ('metrics = ["discounted_profit", "retention_rate", "nps"]', 'metrics = ["profitt"]', "outputs.metrics[0]"),
    ('levels = ["basic", "reactive", "proactive"]', 'levels = ["basic", "gold"]', "compare.levels[1]"),
    ("[compare]", "[comparison]", "comparison"),
    (f'base_config = "{CALIBRATED}"', 'base_config = "missing.toml"', "sweep.base_config"),
]


@pytest.mark.parametrize(("old", "new", "key"), BAD, ids=[case[2] for case in BAD])
def test_bad_specs_name_the_key(tmp_path, old, new, key):
    assert old in TINY
    with pytest.raises(ConfigError) as caught:
        tiny(tmp_path, TINY.replace(old, new, 1))
    assert caught.value.field == key
    assert "\n" not in str(caught.value)


def test_more_bad_specs(tmp_path):
    cases = [
        ('[sweep]\ndesign = "sobol"\nsamples = 100\n[vary]\nmargin = {low = 0.1, high = 0.5}\n', "sweep.samples"),
        (
            '[sweep]\ndesign = "latin"\nsamples = 8\n[vary]\nmargin = {low = 0.1, high = 0.5, steps = 3}\n',
            "vary.margin.steps",
        ),
        ('[sweep]\ndesign = "latin"\nsamples = 8\n[vary]\nmargin = {low = 0.5, high = 0.5}\n', "vary.margin"),
        ('[sweep]\ndesign = "latin"\n[vary]\nmargin = {low = 0.1, high = 0.5}\n', "sweep.samples"),
        ('[vary]\nmargin = [0.1]\n[outputs]\nderived = ["winner"]\n', "outputs.derived[0]"),
        ('[vary]\nlevel = ["basic"]\n[compare]\nlevels = ["basic", "reactive"]\n', "vary.level"),
        ("[vary]\nmargin = [0.1]\n[scenarios.x]\nfoo = 1\n", "scenarios.x.foo"),
        ("[vary]\nmargin = [0.1]\n[scenarios.x]\ncompetition = 2.0\n", "scenarios.x.competition"),
        ("[vary]\ncustomers = [100, 1000]\nn_customers = [10]\n", "vary.n_customers"),
        ("[vary]\ncompetitor_entry_year = [0, 5]\n[fixed]\nyears = 2\n", "vary.competitor_entry_year"),
        ("[vary]\n", "vary"),
    ]
    for text, key in cases:
        with pytest.raises(ConfigError) as caught:
            parse_spec(__import__("tomllib").loads(text))
        assert caught.value.field == key, text


def test_cli_error_is_one_line_and_writes_nothing(tmp_path, capsys):
    spec = write(tmp_path, TINY.replace("margin = [0.1, 0.5]", "margin = [0.1, 1.5]"))
    out = tmp_path / "out"
    assert main([str(spec), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [err[0]] and err[0].startswith("relsim: error: vary.margin: must be a number from 0 to 1")
    assert not out.exists()
    assert main([str(write(tmp_path, TINY, "ok.toml")), "--out", str(out), "--workers", "0"]) == 2
    assert "--workers" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="--workers"):
        make_evaluator(workers=2, scheduler="tcp://127.0.0.1:8786")
    assert not out.exists()


# ----------------------------------------------------------------------------------------------------------------
# Designs and seeds
# ----------------------------------------------------------------------------------------------------------------
def test_grid_design_and_log_ranges(tmp_path):
    spec = tiny(
        tmp_path,
        TINY.replace(
            "margin = [0.1, 0.5]",
            'margin = [0.1, 0.5]\ncustomers = { low = 100, high = 1_000_000, steps = 5, scale = "log" }',
        )
        .replace("seed = 11", "seed = 11\ntotal_revenue = 1e7\nsample_customers = 120")
        .replace("n_customers = 150\n", ""),
    )
    x, points = design(spec)
    assert len(points) == 3 * 2 * 5 and x.shape == (30, 3)
    assert [p["customers"] for p in points[:5]] == [100, 1000, 10_000, 100_000, 1_000_000]
    assert points[0] == {"competition": 0.0, "margin": 0.1, "customers": 100}
    the_plan = plan(spec)
    assert the_plan.runs == 60 and the_plan.simulations == 3 * 5 * 2  # the two margins share a simulation
    tasks = [task for chunk in the_plan.chunks for task in chunk["tasks"]]
    task = next(task for task in tasks if task["simulation"] == 0 and task["replication"] == 0)
    assert task["params"]["n_customers"] == 100 and task["params"]["revenue_per_customer"] == 1e5
    big = next(t for c in the_plan.chunks for t in c["tasks"] if t["targets"][0]["values"]["customers"] == 10**6)
    assert big["params"]["n_customers"] == 120 and big["targets"][0]["scale"] == pytest.approx(10**6 / 120)


@pytest.mark.parametrize(("name", "samples", "points"), [("latin", 16, 16), ("sobol", 8, 8 * 5), ("morris", 4, 4 * 4)])
def test_sampled_designs(name, samples, points):
    data = {
        "fixed": {"years": 1},
        "sweep": {"design": name, "samples": samples, "seed": 3, "sample_customers": 50},
        "vary": {
            "competition": {"low": 0.0, "high": 1.0},
            "customers": {"low": 10, "high": 1e5, "scale": "log"},
            "level": ["basic", "reactive", "partnership"],
        },
    }
    spec = parse_spec(data)
    x, rows = design(spec)
    assert x.shape == (points, 3) and len(rows) == points
    assert all(0.0 <= r["competition"] <= 1.0 and 10 <= r["customers"] <= 100_000 for r in rows)
    assert all(isinstance(r["customers"], int) for r in rows)
    assert {r["level"] for r in rows} <= {"basic", "reactive", "partnership"}
    assert spec.problem()["names"] == ["competition", "log10_customers", "level"]
    x2, rows2 = design(parse_spec(data))
    np.testing.assert_array_equal(x, x2)  # the design is a function of the spec
    assert rows == rows2


def test_seeds_spawned_from_sweep_seed_and_index(tmp_path):
    spec = tiny(tmp_path)
    expected = np.random.SeedSequence(11, spawn_key=(2, 1)).generate_state(1, np.uint64)[0] >> np.uint64(1)
    assert run_seed(spec, 2, 1) == int(expected)
    seeds = [t["seed"] for c in plan(spec).chunks for t in c["tasks"]]
    assert len(set(seeds)) == len(seeds)
    common = tiny(tmp_path, TINY.replace("seed = 11", "seed = 11\ncommon_random_numbers = true"))
    assert {t["seed"] for c in plan(common).chunks for t in c["tasks"]} == {
        run_seed(common, 0, 0),
        run_seed(common, 0, 1),
    }


# ----------------------------------------------------------------------------------------------------------------
# Metrics: the accounts (sim.outputs.accounts, tested in test_accounts.py) and every scalar of the run summary
# ----------------------------------------------------------------------------------------------------------------
def test_every_scalar_of_the_run_summary_can_be_kept():
    params = {"n_customers": 300, "years": 2, "level": "proactive", "margin": 0.35, "revenue_per_customer": 800.0}
    series = simulate(params, seed=5, summary=True)
    config = from_mapping({**params, "seed": 5})
    summary = summarise(RelationshipModel(config).run().monthly(), config)
    flat_keys = {
        k
        for k, v in summary.items()
        if isinstance(v, (int, float)) and k not in ("n_customers", "years", "seed", "tier_share")
    }
    flat_keys |= {f"{k}.{i}" for k, v in summary.items() if isinstance(v, dict) for i in v}
    assert flat_keys <= set(METRICS), flat_keys - set(METRICS)
    assert set(SUMMARY_METRICS) <= flat_keys
    values = metrics(series, 0.35, 10.0, METRICS)
    assert values["nps"] == summary["nps"]  # from the summary, unscaled
    assert values["quadrant_shares.loyalist"] == summary["quadrant_shares"]["loyalist"]
    assert values["revenue"] == pytest.approx(10 * summary["revenue"], rel=1e-12)  # totals scaled, rates not
    assert values["retention_rate"] == summary["retention_rate"]


# ----------------------------------------------------------------------------------------------------------------
# Execution: identical rows whatever the evaluator; manifest; resume of a finished sweep
# ----------------------------------------------------------------------------------------------------------------
def test_bit_identical_on_one_and_two_processes(tmp_path):
    spec = tiny(tmp_path)
    one = run_sweep(spec, tmp_path / "one", SequentialEvaluator()).frame
    two = run_sweep(spec, tmp_path / "two", ProcessPoolEvaluator(2)).frame
    assert len(one) == 12 and one["run"].tolist() == list(range(12))
    pd.testing.assert_frame_equal(one, two, check_exact=True)
    pd.testing.assert_frame_equal(one, load_results(tmp_path / "one"), check_exact=True)
    columns = ["run", "point", "replication", "seed", "competition", "margin", "discounted_profit.basic"]
    assert list(one.columns[:7]) == columns
    assert {"winner", "advantage.reactive", "advantage.proactive", "lead", "nps.proactive"} <= set(one.columns)
    best = one[[f"discounted_profit.{lv}" for lv in ("basic", "reactive", "proactive")]].to_numpy()
    assert (one["lead"] >= 0).all() and np.allclose(np.sort(best, 1)[:, -1] - np.sort(best, 1)[:, -2], one["lead"])
    # margins share a simulation: same seed, same behaviour, different accounts
    pair = one[(one["competition"] == 0.5) & (one["replication"] == 0)]
    assert pair["seed"].nunique() == 1 and pair["retention_rate.basic"].nunique() == 1
    assert pair["discounted_profit.basic"].nunique() == 2


def test_manifest_hash_mismatch_is_refused(tmp_path):
    spec = tiny(tmp_path)
    out = tmp_path / "out"
    first = run_sweep(spec, out, SequentialEvaluator())
    assert (out / "runs.parquet").is_file() and not (out / "parts").exists()
    manifest = __import__("json").loads((out / "manifest.json").read_text())
    assert manifest["spec_hash"] == spec.hash() and manifest["complete"] and manifest["runs"] == 12
    before = sorted((p.name, p.stat().st_mtime_ns) for p in out.iterdir() if p.name != LOCK)  # (holds the pid)
    again = run_sweep(spec, out, SequentialEvaluator())  # same spec: nothing to do
    assert again.new_runs == 0
    pd.testing.assert_frame_equal(first.frame, again.frame)
    changed = tiny(tmp_path, TINY.replace("seed = 11", "seed = 12"))
    with pytest.raises(ConfigError, match="holds a different sweep") as caught:
        run_sweep(changed, out, SequentialEvaluator())
    assert caught.value.field == "out"
    assert sorted((p.name, p.stat().st_mtime_ns) for p in out.iterdir() if p.name != LOCK) == before
    (out / "runs.parquet").unlink()  # a committed manifest without its (git-ignored) rows: run again
    rerun = run_sweep(spec, out, SequentialEvaluator())
    assert rerun.new_runs == 12
    pd.testing.assert_frame_equal(first.frame, rerun.frame, check_exact=True)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="relsim did not write"):
        run_sweep(spec, tmp_path / "other", SequentialEvaluator())


def test_single_level_sweep_with_summary_metrics(tmp_path, capsys):
    text = f"""
    [sweep]
    base_config = "{CALIBRATED}"
    seed = 4
    [fixed]
    years = 1
    n_customers = 100
    [vary]
    level = ["basic", "partnership"]
    competition = [0.0, 0.5]
    [outputs]
    metrics = ["profit", "quadrant_shares.hostage", "cost_to_serve_by_activity.account_management"]
    """
    out = tmp_path / "out"
    assert main([str(write(tmp_path, text)), "--out", str(out), "--workers", "1"]) == 0
    assert "4 runs" in capsys.readouterr().out
    frame = load_results(out)
    assert list(frame.columns) == [
        "run",
        "point",
        "replication",
        "seed",
        "level",
        "competition",
        "profit",
        "quadrant_shares.hostage",
        "cost_to_serve_by_activity.account_management",
    ]
    assert frame["level"].tolist() == ["basic", "basic", "partnership", "partnership"]
    account = frame["cost_to_serve_by_activity.account_management"].to_numpy()
    assert account[0] == 0 and account[2] == pytest.approx(5000.0)


# ----------------------------------------------------------------------------------------------------------------
# Mesa compatibility: mesa.batch_run builds the model from flat keywords plus seed
# ----------------------------------------------------------------------------------------------------------------
def test_mesa_batch_run_with_explicit_seeds():
    from mesa.batchrunner import batch_run

    rows = batch_run(
        RelationshipModel,
        parameters={"level": ["basic", "proactive"], "n_customers": 200, "years": 2, "seed": [1, 2]},
        iterations=1,
        max_steps=1000,  # the model stops itself at its horizon (model.running)
        number_processes=1,
        data_collection_period=1,
        display_progress=False,
    )
    frame = pd.DataFrame(rows)
    assert len(frame) == 4 * 24 and set(frame["Step"]) == set(range(24))
    assert {"active", "profit", "cost_to_serve", "share_hostage", "level", "seed"} <= set(frame.columns)
    run = frame[(frame["level"] == "proactive") & (frame["seed"] == 2)].sort_values("Step")
    own = RelationshipModel(level="proactive", n_customers=200, years=2, seed=2).run().monthly()
    np.testing.assert_array_equal(run["profit"].to_numpy(), own["profit"].to_numpy())
    np.testing.assert_array_equal(run["active"].to_numpy(), own["active"].to_numpy())
    assert not math.isnan(frame["cost_to_serve"].iloc[-1])


def test_chunks_group_alike_simulations_and_older_sweeps_resume_in_design_order(tmp_path):
    """Chunks are cut in batch order (one level per chunk where the design allows), every simulation once with
    its own seed; a sweep stored before that order (no chunk_order in its manifest) is re-cut in design order."""
    text = TINY.replace('[compare]\nlevels = ["basic", "reactive", "proactive"]\n', "")
    text = text.replace("margin = [0.1, 0.5]", 'margin = [0.1, 0.5]\nlevel = ["basic", "partnership"]')
    text = text.replace("seed = 11", "seed = 11\nchunk_size = 3")
    the_plan = plan(tiny(tmp_path, text))
    tasks = [task for chunk in the_plan.chunks for task in chunk["tasks"]]
    design_order = sorted(tasks, key=lambda task: (task["simulation"], task["replication"]))
    assert (
        len(tasks) == 12
        and [task["params"]["level"] for task in design_order[:4]] == ["basic"] * 2 + ["partnership"] * 2
    )  # the design alternates levels...
    for chunk in the_plan.chunks:  # ...the chunks do not, the service-intensive level first
        assert len({task["params"]["level"] for task in chunk["tasks"]}) == 1
    assert the_plan.chunks[0]["tasks"][0]["params"]["level"] == "partnership"
    assert {(t["simulation"], t["replication"], t["seed"]) for t in tasks} == {
        (t["simulation"], t["replication"], run_seed(the_plan.spec, t["simulation"], t["replication"]))
        for t in design_order
    }
    assert _rechunk(the_plan, {"chunk_size": 3, "chunk_order": "batch"}) is the_plan
    legacy = _rechunk(the_plan, {"chunk_size": 3})
    assert [task for chunk in legacy.chunks for task in chunk["tasks"]] == design_order
    assert [chunk["chunk"] for chunk in legacy.chunks] == list(range(4))
