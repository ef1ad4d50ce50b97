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
import pytest

from sim.core.levels import LEVEL_NAMES
from sim.errors import ConfigError
from sim.experiments import verdict
from sim.experiments.verdict import analysis, plan
from sim.experiments.verdict.report import JSON_FIELDS

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "experiments" / "verdict.toml"


def _data() -> dict:
    return tomllib.loads(SPEC.read_text())


def _tiny(spec: verdict.VerdictSpec) -> verdict.VerdictSpec:
    """One mapping, three small firms, two years, a couple of draws: seconds."""
    spec = spec.quick_spec()
    mapping = spec.mapping(spec.primary)
    return replace(spec, years=2, nominal_replications=2, draws=2, draw_replications=2, factorial=None,
                   max_customers=300, mappings=(mapping,))  # fmt: skip


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
    spec, (nominal, _, _) = tiny_runs
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
    spec, (_, drawn, _) = tiny_runs
    a = plan.drawn_values(spec, "mass_consumer", 0)
    b = plan.drawn_values(spec, "key_account", 0)
    levels = [k for k in a if k.startswith("levels.")]
    assert levels and all(a[k] == b[k] for k in levels)
    assert any(a[k] != v for k, v in plan.default_level_values().items())
    assert set(drawn["draw"]) == {"0", "1"}


def test_seeds_and_rows_do_not_depend_on_the_workers(tiny_runs):
    spec, (nominal, drawn, _) = tiny_runs
    nominal2, drawn2, _ = plan.run_sweeps(spec, workers=2)
    assert nominal.equals(nominal2) and drawn.equals(drawn2)


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
