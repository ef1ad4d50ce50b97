"""The continuous matrix: one simulation serves every margin (checked against direct runs), and the diagram."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim.core.config import ConfigError
from sim.core.model import RelationshipModel
from sim.engine.evaluators import ProcessPoolEvaluator, SequentialEvaluator
from sim.engine.sweep import plan, run_sweep
from sim.experiments.phase import kotler_regions, load_phase, winners
from sim.viz.phase import run_phase

ROOT = Path(__file__).resolve().parents[1]

SPEC = f"""
[phase]
out = "unused"
matrix = "{ROOT / "experiments" / "matrix.toml"}"

[sweep]
base_config = "{ROOT / "experiments" / "calibrated.toml"}"
replications = 2
seed = 3
common_random_numbers = true
total_revenue = 5_000_000
sample_customers = 300

[fixed]
years = 2

[vary]
customers = {{ low = 50, high = 500_000, steps = 5, scale = "log" }}
margin = {{ low = 0.1, high = 0.7, steps = 4 }}

[scenarios.calibrated]
[scenarios.monopoly]
competition = 0.0

[compare]
levels = ["basic", "reactive", "proactive", "partnership"]

[outputs]
metrics = ["discounted_profit", "relationship_cost"]
derived = ["winner", "lead"]
"""


@pytest.fixture
def spec(tmp_path):
    path = tmp_path / "phase.toml"
    path.write_text(textwrap.dedent(SPEC))
    return load_phase(path)


def test_one_simulation_serves_every_margin(spec, tmp_path):
    sweep = spec.sweep
    the_plan = plan(sweep)
    assert the_plan.runs == 2 * 5 * 4 * 2 and the_plan.simulations == 2 * 5 * 2  # margins share
    frame = run_sweep(sweep, tmp_path / "runs", SequentialEvaluator()).frame
    checked = 0
    for row in frame[frame["replication"] == 1].to_dict("records"):
        if row["customers"] not in (50, 5000):
            continue
        simulated = min(row["customers"], 300)
        for level in ("basic", "partnership"):
            model = RelationshipModel(
                level=level,
                n_customers=simulated,
                revenue_per_customer=5_000_000 / row["customers"],
                margin=row["margin"],  # a direct run at this margin
                years=2,
                seed=row["seed"],
                **({"competition": 0.0} if row["scenario"] == "monopoly" else {}),
            ).run()
            direct = model.monthly()["discounted_profit"].sum() * row["customers"] / simulated
            shared = row[f"discounted_profit.{level}"]
            assert shared == pytest.approx(direct, rel=1e-9, abs=1e-6)
            checked += 1
    assert checked == 2 * 2 * 4 * 2


def test_phase_diagram_files_and_winners(spec, tmp_path):
    out = tmp_path / "phase"
    table = run_phase(spec, out, ProcessPoolEvaluator(2))
    for name in (
        "phase.csv",
        "phase.png",
        "phase_calibrated.png",
        "phase_monopoly.png",
        "REPORT.md",
        "spec.toml",
        "kotler_cells.csv",
        "runs/runs.parquet",
        "runs/manifest.json",
    ):
        assert (out / name).is_file(), name
    assert len(table) == 2 * 5 * 4
    assert set(table.columns) >= {
        "scenario",
        "customers",
        "revenue_per_customer",
        "margin",
        "winner",
        "lead",
        "win_share",
        "discounted_profit_basic",
    }
    profits = table[[f"discounted_profit_{lv}" for lv in ("basic", "reactive", "proactive", "partnership")]]
    best = profits.to_numpy().argmax(axis=1)
    assert table["winner"].tolist() == [["basic", "reactive", "proactive", "partnership"][i] for i in best]
    assert ((table["win_share"] > 0) & (table["win_share"] <= 1)).all() and (table["lead"] >= 0).all()
    cells = pd.read_csv(out / "kotler_cells.csv")
    assert len(cells) == 2 * 9 and set(cells["recommended"]) <= {
        "basic",
        "reactive",
        "accountable",
        "proactive",
        "partnership",
    }
    assert "Kotler cell" in (out / "REPORT.md").read_text()
    # the winner is a function of the rows alone
    again = winners(spec.sweep, pd.read_parquet(out / "runs" / "runs.parquet"))
    pd.testing.assert_frame_equal(again.reset_index(drop=True), table.reset_index(drop=True))


def test_kotler_regions_tile_the_plane(spec):
    regions = kotler_regions(spec.cells, (10, 1e7), (0.0, 1.0))
    assert len(regions) == 9
    area = sum((np.log10(r["x1"]) - np.log10(r["x0"])) * (r["y1"] - r["y0"]) for r in regions)
    assert area == pytest.approx(6 * 1.0)
    few_high = next(r for r in regions if r["cell"].row == "few" and r["cell"].column == "high")
    assert few_high["x1"] == pytest.approx(1000) and few_high["y0"] == pytest.approx(0.45)


def test_phase_spec_errors(tmp_path):
    for old, new, key in [
        ("[phase]", "[phase]\ncolour = 1", "phase.colour"),
        ("margin = { low = 0.1, high = 0.7, steps = 4 }", "margin = [0.2]\ncompetition = [0.5]", "vary"),
        ('matrix = "', 'matrix = "nowhere/', "phase.matrix"),
    ]:
        path = tmp_path / "bad.toml"
        path.write_text(textwrap.dedent(SPEC).replace(old, new, 1))
        with pytest.raises(ConfigError) as caught:
            load_phase(path)
        assert caught.value.field == key
