"""The verdict experiment: spec errors, the TOST, P(best) and regret on constructed numbers, the analytic reduction
on a tiny run, seeds independent of the workers, and the --quick --json records."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim.core.levels import LEVEL_NAMES
from sim.errors import ConfigError
from sim.experiments import verdict
from sim.experiments.verdict import analysis, hypercube, plan, robustness, tables
from sim.experiments.verdict.report import JSON_FIELDS

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "experiments" / "verdict.toml"


def _data() -> dict:
    return tomllib.loads(SPEC.read_text())


def _tiny(spec: verdict.VerdictSpec) -> verdict.VerdictSpec:
    """One mapping, three small firms, two years, a couple of draws: seconds."""
    spec = spec.quick_spec()
    mapping = spec.mapping(spec.primary)
    hypercube = replace(spec.hypercube, samples=3, replications=2)
    factorial = replace(spec.factorial, draws=2)
    return replace(spec, factorial=factorial, years=2, nominal_replications=2, draws=2, draw_replications=2,
                   sensitivity_draws=4, robustness_elasticities=(0.0, 1.0), hypercube=hypercube, max_customers=300,
                   mappings=(mapping,))  # fmt: skip


# ---- spec ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("change", "key"),
    [
        (lambda d: d["mappings"]["typical"]["few"].update(segment="giants"), "mappings.typical.few.segment"),
        (lambda d: d["mappings"]["typical"].pop("medium"), "mappings.typical.medium"),
        (lambda d: d["experiment"].update(materiality=0.9), "experiment.materiality"),
        (lambda d: d["experiment"].update(primary="nowhere"), "experiment.primary"),
        (lambda d: d["experiment"].update(elasticity=[0.8, 0.2]), "experiment.elasticity"),
        (lambda d: d["factorial"].update(segments=["mass_consumer"]), "factorial.segments"),
        (lambda d: d["quick"].update(mappings=["typo"]), "quick.mappings[0]"),
        (lambda d: d.update(extra={}), "extra"),
    ],
)
def test_bad_spec_is_one_line_naming_the_key(change, key):
    data = _data()
    change(data)
    with pytest.raises(ConfigError) as error:
        verdict.parse_spec(data, SPEC.parent)
    assert error.value.field == key
    assert "\n" not in str(error.value)


def test_committed_spec_reads_and_its_mappings_name_every_row():
    spec = verdict.load_spec(SPEC)
    assert spec.primary in [m.name for m in spec.mappings]
    assert {cell.row for cell in spec.cells} <= set(spec.mapping(spec.primary).rows)
    quick = spec.quick_spec()
    assert quick.mode == "quick" and quick.years <= spec.years


# ---- statistics on constructed numbers ----------------------------------------------------------------------------
def test_tost_equivalent_only_inside_the_margin():
    near = np.array([-1.0, 0.5, -0.5, 1.0, 0.0, -0.2])  # mean ≈ -0.03, small spread
    low, high, equivalent = analysis.tost(near, margin=2.0, alpha=0.05)
    assert low < near.mean() < high and equivalent
    assert not analysis.tost(near, margin=0.5, alpha=0.05)[2]  # interval wider than ±0.5
    assert not analysis.tost(near - 5.0, margin=2.0, alpha=0.05)[2]  # clearly worse
    assert not analysis.tost(np.array([0.1]), margin=2.0, alpha=0.05)[2]  # one replication: no interval


def test_nominal_verdict_agrees_when_best_or_equivalent():
    reps = np.arange(8.0)[:, None]
    levels = len(LEVEL_NAMES)
    profits = np.tile(np.linspace(90.0, 100.0, levels), (8, 1)) + reps  # the last level is best, paired noise
    last = levels - 1
    assert analysis.nominal_verdict(profits, last, 0.05, 0.05)["agrees"]
    second = analysis.nominal_verdict(profits, last - 1, 0.05, 0.05)  # 2.5 below a best of ~103.5: within 5 %
    assert second["agrees"] and second["best"] == LEVEL_NAMES[last]
    first = analysis.nominal_verdict(profits, 0, 0.05, 0.05)  # 10 below: outside 5 %
    assert not first["agrees"] and first["regret"] == pytest.approx(10.0 / profits[:, last].mean())


def test_p_best_and_regret_on_constructed_draws():
    levels = len(LEVEL_NAMES)
    draws = np.zeros((4, 2, levels))
    draws[:, :, 1] = 10.0  # level 1 best in every draw ...
    draws[3, :, 2] = 20.0  # ... except the last, where level 2 beats it by half of 20
    result = analysis.draw_verdict(draws, 1, materiality=0.05)
    assert result["p_recommended_best"] == pytest.approx(0.75)
    assert result["expected_regret"] == pytest.approx(0.5 / 4)
    assert result["p_within_margin"] == pytest.approx(0.75)
    assert result["p_best." + LEVEL_NAMES[2]] == pytest.approx(0.25)
    assert result["mc_share"] == pytest.approx(0.0)  # replications identical: no Monte Carlo noise


def test_relative_regret_stays_a_loss_when_every_level_loses():
    assert analysis.relative_regret(np.array([-10.0, -20.0]), 1) == pytest.approx(1.0)
    assert analysis.relative_regret(np.array([-10.0, -20.0]), 0) == 0.0


# ---- the engine ---------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_runs():
    spec = _tiny(verdict.load_spec(SPEC))
    return spec, plan.run_sweeps(spec, workers=1)


def test_reduction_identity_on_a_tiny_run(tiny_runs):
    """Terms read at one margin predict the engine's profit at another margin exactly."""
    spec, (frames, _) = tiny_runs
    nominal = frames["nominal"]
    low, high = plan.margins(spec)[0], plan.margins(spec)[-1]
    assert low != high
    for unit in plan.units(spec):
        rows = nominal[nominal["unit"] == unit.name]
        at_low = rows[np.isclose(rows["margin"], low)].iloc[0]
        at_high = rows[np.isclose(rows["margin"], high)].iloc[0]
        for level in LEVEL_NAMES:
            terms = analysis.reduction_terms(at_low, level, unit.customers, unit.revenue_per_customer)
            predicted = analysis.reduced_profit(terms, high, unit.revenue_per_customer) * unit.customers
            assert predicted == pytest.approx(at_high[f"discounted_profit.{level}"], rel=1e-9, abs=1e-6)


def test_draws_differ_from_nominal_and_share_the_level_draw_across_segments(tiny_runs):
    spec, (frames, _) = tiny_runs
    drawn = frames["draws"]
    a = plan.drawn_values(spec, "mass_consumer", 0)
    b = plan.drawn_values(spec, "key_account", 0)
    levels = [k for k in a if k.startswith("levels.")]
    assert levels and all(a[k] == b[k] for k in levels)
    assert any(a[k] != v for k, v in plan.default_level_values().items())
    assert set(drawn["draw"]) == {"0", "1"}
    assert set(frames["sensitivity"]["draw"]) == {"2", "3"}  # the further draws, once each
    assert set(frames["sensitivity"]["replication"]) == {0}


def test_seeds_and_rows_do_not_depend_on_the_workers(tiny_runs):
    spec, (frames, _) = tiny_runs
    frames2, _ = plan.run_sweeps(spec, workers=2)
    assert frames.keys() == frames2.keys() == {"nominal", "draws", "sensitivity", "robustness", "hypercube"}
    for name, frame in frames.items():
        assert frame.equals(frames2[name]), name


def test_a_robustness_setting_at_the_files_values_reproduces_the_nominal_runs(tiny_runs):
    """The robustness runs use the nominal runs' random numbers: where a setting equals a segment's own values
    (mass consumers: both elasticities 0), its profits are the nominal ones exactly; where it differs, they differ."""
    spec, (frames, _) = tiny_runs
    unit = spec.unit(spec.mapping(spec.primary).rows["many"])
    assert unit.segment == "mass_consumer"
    from sim.core.config import SEGMENTS

    assert all(SEGMENTS[unit.segment].values[name] == 0.0 for name in plan.ELASTICITIES)
    columns = [f"discounted_profit.{level}" for level in LEVEL_NAMES]
    nominal = frames["nominal"][frames["nominal"]["unit"] == unit.name].sort_values(["margin", "replication"])
    runs = frames["robustness"][frames["robustness"]["unit"] == unit.name]
    same = runs[runs["setting"] == "elasticity 0"].sort_values(["margin", "replication"])
    other = runs[runs["setting"] == "segment generic"].sort_values(["margin", "replication"])
    assert np.array_equal(same[columns].to_numpy(), nominal[columns].to_numpy())
    assert not np.array_equal(other[columns].to_numpy(), nominal[columns].to_numpy())


def test_the_tiny_run_fills_every_table(tiny_runs):
    spec, (frames, timings) = tiny_runs
    result = tables.analyse(spec, frames, timings)
    assert len(result.hypercube) == sum(bool(p["recommended"]) for p in plan.hypercube_points(spec))
    assert set(result.summary["varies"]) == {"row mapping", "cost elasticity", "segment profile", "priors"}
    assert len(result.changes) == len(spec.cells)
    text = verdict.render_report(result)
    assert "## What would change it" in text and "Latin hypercube" in text


def test_quick_json_records(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "sim", "verdict", "--quick", "--json", "--workers", "2", "--out", str(tmp_path / "v")],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    records = json.loads(done.stdout)
    spec = verdict.load_spec(SPEC)
    assert [r["cell"] for r in records] == [cell.name for cell in spec.cells]
    for record in records:
        assert set(JSON_FIELDS) <= set(record)
        assert record["best"] in LEVEL_NAMES and isinstance(record["agrees"], bool)
        assert 0.0 <= record["p_recommended_best"] <= 1.0 and record["regret"] >= 0.0
    assert (tmp_path / "v" / "REPORT.md").is_file() and (tmp_path / "v" / "p_best.png").is_file()


def test_bad_option_is_one_line(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "sim", "verdict", "--spec", str(tmp_path / "missing.toml")],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "v").exists()


def test_the_command_refuses_a_folder_holding_other_files_before_running(tmp_path, capsys) -> None:
    from sim.cli import main

    folder = tmp_path / "thesis"
    folder.mkdir()
    (folder / "chapter1.tex").write_text("mine")
    assert main(["verdict", "--quick", "--out", str(folder), "--workers", "1"]) == 2
    assert "--out" in capsys.readouterr().err
    assert sorted(p.name for p in folder.iterdir()) == ["chapter1.tex"]


# ---- the Latin hypercube ------------------------------------------------------------------------------------------
def test_nearest_level_rule_reproduces_the_factorial_and_splits_at_geometric_means():
    f = verdict.load_spec(SPEC).factorial
    for i, value in enumerate(f.revenue_per_customer):
        assert hypercube.nearest(value, f.revenue_per_customer, log=True) == i
    for i, margin in enumerate(f.margins):
        assert hypercube.nearest(margin, f.margins, log=False) == i
    a, b = f.customers[0], f.customers[1]
    boundary = (a * b) ** 0.5
    assert hypercube.nearest(boundary * 0.99, f.customers, log=True) == 0
    assert hypercube.nearest(boundary * 1.01, f.customers, log=True) == 1


def test_hypercube_points_cover_each_stratum_once_and_follow_the_rule():
    spec = verdict.load_spec(SPEC)
    h = spec.hypercube
    x, points = hypercube.sample(spec, seed=11)
    assert x.shape == (h.samples, 3)
    bounds = [np.log10(h.customers), np.log10(h.revenue_per_customer), np.array(h.margin)]
    for j, (low, high) in enumerate(bounds):
        strata = np.floor((x[:, j] - low) / (high - low) * h.samples).astype(int)
        assert sorted(strata) == list(range(h.samples))  # one point in each of N equal strata
    f = spec.factorial
    for p in points:
        assert p["segment"] == f.segments[hypercube.nearest(p["revenue_per_customer"], f.revenue_per_customer, True)]
        assert p["kotler_row"] == f.rows[hypercube.nearest(p["n_customers"], f.customers, True)]
    again = hypercube.sample(spec, seed=11)[1]
    assert again == points and hypercube.sample(spec, seed=12)[1] != points


# ---- global sensitivity, robustness, what would change it ---------------------------------------------------------
def test_src_recovers_the_coefficients_of_a_linear_function():
    rng = np.random.default_rng(5)
    x = np.column_stack([rng.uniform(0, 1, 400), rng.uniform(0, 100, 400), rng.normal(0, 3, 400)])
    y = 2.0 * x[:, 0] - 0.03 * x[:, 1] + 0.0 * x[:, 2] + rng.normal(0, 0.01, 400)
    fit = analysis.src(x, y)
    expected = np.array([2.0, -0.03, 0.0]) * x.std(axis=0, ddof=1) / y.std(ddof=1)
    assert fit["src"] == pytest.approx(expected, abs=0.01)
    assert fit["slope"][:2] == pytest.approx([2.0, -0.03], rel=0.02)
    assert fit["r2"] > 0.99 and fit["r2_adjusted"] > 0.99


def test_src_says_when_the_linear_model_explains_little_or_cannot_be_fitted():
    rng = np.random.default_rng(6)
    x = rng.uniform(-1, 1, (300, 2))
    assert analysis.src(x, x[:, 0] ** 2)["r2"] < 0.05  # a symmetric U: no linear part
    few = analysis.src(x[:3], x[:3, 0])  # 3 rows, 2 parameters + intercept: no residual degree of freedom
    assert np.isnan(few["src"]).all() and np.isnan(few["r2"])
    constant = np.column_stack([x[:, 0], np.ones(300)])
    fit = analysis.src(constant, 3.0 * x[:, 0])
    assert np.isnan(fit["src"][1]) and fit["src"][0] == pytest.approx(1.0)


def test_thirds_and_flip_point_on_a_constructed_cell():
    x = np.arange(9.0)
    gap = 2.0 * (x - 5.5)  # Kotler's level wins above 5.5
    wins = gap > 0
    assert analysis.thirds(x, wins) == (0.0, 1.0)
    assert analysis.flip_point(x, gap, 2.0) == pytest.approx(5.5)
    assert np.isnan(analysis.flip_point(x, gap, 0.0))
    noise = np.random.default_rng(1).uniform(0, 1, 9)
    params = np.column_stack([noise, x])
    out = robustness.what_would_change(params, ["noise", "driver"], gap, wins, analysis.src(params, gap))
    assert out["parameter"] == "driver" and out["flip_at"] == pytest.approx(5.5)
    assert (out["p_low_third"], out["p_high_third"]) == (0.0, 1.0)
    assert out["nearest_parameter"] == "driver"
    # the empirical check: the gap's mean is negative and rises with x, so the draws beyond 5.5 are x = 6, 7, 8
    assert (out["p_beyond"], out["draws_beyond"]) == (1.0, 3)
    mirrored = -x  # the gap now falls with the parameter: the flip lies towards lower values
    at = analysis.flip_point(mirrored, gap, -2.0)
    assert at == pytest.approx(-5.5) and analysis.beyond(mirrored, gap, -2.0, at, wins) == (1.0, 3)


def test_flips_and_the_robustness_table_on_constructed_cells():
    assert robustness.flips({"a": True, "b": False, "c": True}, {"a": True, "b": True, "c": False}) == "+b, −c"
    assert robustness.flips({"a": True}, {"a": True}) == "none"
    spec = verdict.load_spec(SPEC)
    names = [cell.name for cell in spec.cells]
    rows = []
    for mapping in spec.mappings:
        for i, name in enumerate(names):
            primary = mapping.name == spec.primary
            rows.append({"mapping": mapping.name, "cell": name, "agrees": i < (3 if primary else 1),
                         "p_within_margin": 0.9 if i in (0, 8) else 0.1})  # fmt: skip
    table = robustness.summary_table(spec, pd.DataFrame(rows), None)
    first = table[table["setting"].str.startswith(spec.primary)].iloc[0]
    assert first["agrees"] == 3 and first["flips"] == "none"
    other = table[table["setting"] == spec.mappings[-1].name].iloc[0]
    assert other["agrees"] == 1 and other["flips"] == f"−{names[1]}, −{names[2]}"
    drawn = table[table["varies"] == "priors"].iloc[-1]
    assert drawn["agrees"] == 2 and drawn["flips"] == f"−{names[1]}, −{names[2]}, +{names[8]}"
    assert drawn["expected"] == pytest.approx(0.9 * 2 + 0.1 * 7)
