"""The matrix experiment's machinery (issue 5): spec loading and validation, pairing by common random numbers,
statistics, agreement scoring on constructed cases, the engine underneath (margin sharing, evaluators, resume),
sampling, outputs and the command. The committed results themselves: test_matrix_reference.py.

These tests check how the experiment is run and scored, never which levels win.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import tomllib
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import sim.viz.matrix
from sim.cli import build_parser
from sim.cli import experiments as commands
from sim.cli.common import resolve_spec
from sim.core.config import ConfigError
from sim.core.levels import LEVEL_NAMES
from sim.core.model import RelationshipModel
from sim.engine.evaluators import SequentialEvaluator
from sim.engine.plan import derive_seed, plan, run_seed
from sim.experiments import matrix
from sim.outputs.accounts import accounts, ledger
from sim.outputs.results import run_summary
from sim.outputs.stats import t_interval
from sim.viz.matrix import write_results

POLICIES = 2 * len(LEVEL_NAMES) + len(LEVEL_NAMES) * (len(LEVEL_NAMES) - 1) // 2  # uniform, technology-heavy, tiered

SPEC_PATH = Path(__file__).resolve().parents[1] / "experiments" / "matrix.toml"
KOTLER = {
    ("many", "low"): "basic",
    ("many", "medium"): "reactive",
    ("many", "high"): "accountable",
    ("medium", "low"): "reactive",
    ("medium", "medium"): "accountable",
    ("medium", "high"): "proactive",
    ("few", "low"): "accountable",
    ("few", "medium"): "proactive",
    ("few", "high"): "partnership",
}


@pytest.fixture(scope="module")
def spec() -> matrix.MatrixSpec:
    return matrix.load_spec(SPEC_PATH)


@pytest.fixture(scope="module")
def tiny(spec) -> matrix.MatrixSpec:
    """All nine cells, every level and both claims, but 3 replications, 2 years and at most 300 customers."""
    return replace(spec.reduced(replications=3, years=2, sample_cap=300), bootstrap=200)


@pytest.fixture(scope="module")
def tiny_result(tiny) -> matrix.MatrixResult:
    return matrix.run_matrix(tiny, workers=1)


def _raw() -> dict:
    return tomllib.loads(SPEC_PATH.read_text())


# --- the cells as data -------------------------------------------------------------------------------------------
def test_nine_cells_with_kotlers_recommendations_are_loaded_from_the_file(spec):
    assert len(spec.cells) == 9
    assert {(c.row, c.column): c.recommended for c in spec.cells} == KOTLER
    for cell in spec.cells:
        # Every row is the same $50M business split among more or fewer customers.
        assert cell.customers * cell.revenue_per_customer == pytest.approx(50e6)
        assert cell.margin == {"low": 0.10, "medium": 0.30, "high": 0.60}[cell.column]
    many = [c for c in spec.cells if c.row == "many"]
    assert all(c.customers == 1_000_000 and c.sample_customers == 20_000 and c.scale == 50 for c in many)
    assert all(c.scale == 1 for c in spec.cells if c.row != "many")
    assert (spec.replications, spec.years, spec.metric) == (30, 10, "discounted_profit")
    assert spec.technology_heavy["problem_rate"] == pytest.approx(3 * spec.market["problem_rate"])
    assert spec.technology_heavy["word_of_mouth"] == 3.0
    assert spec.tier_share == 0.2


def _mutate(path: str, value: object) -> dict:
    data = _raw()
    *parents, last = path.split(".")
    table = data
    for key in parents:
        table = table.setdefault(key, {})
    table[last] = value
    return data


@pytest.mark.parametrize(
    ("path", "value", "key"),
    [
        ("cells.many_low.margin", 1.5, "cells.many_low.margin"),
        ("cells.many_low.margin", "high", "cells.many_low.margin"),
        ("cells.few_high.recommended", "gold", "cells.few_high.recommended"),
        ("cells.few_high.colour", "blue", "cells.few_high.colour"),
        ("cells.medium_low.customers", 0, "cells.medium_low.customers"),
        ("cells.medium_low.revenue_per_customer", -5.0, "cells.medium_low.revenue_per_customer"),
        ("cells.many_low.sample_customers", 2_000_000, "cells.many_low.sample_customers"),
        ("cells.many_low.also_acceptable", ["gold"], "cells.many_low.also_acceptable[0]"),
        ("cells.many_medium.column", "low", "cells.many_medium.column"),
        ("experiment.replications", 0, "experiment.replications"),
        ("experiment.years", 2.5, "experiment.years"),
        ("experiment.metric", "revenue", "experiment.metric"),
        ("experiment.colour", 1, "experiment.colour"),
        ("market.problem_rate", -1.0, "market.problem_rate"),
        ("market.colour", 1.0, "market.colour"),
        ("market.level", "basic", "market.level"),
        ("market.competitor_entry_year", 50, "market.competitor_entry_year"),
        ("technology_heavy.problem_rate_factor", -3.0, "technology_heavy.problem_rate_factor"),
        ("technology_heavy.problem_rate_factor", 100.0, "technology_heavy.problem_rate_factor"),
        ("technology_heavy.word_of_mouth", 1000.0, "technology_heavy.word_of_mouth"),
        ("technology_heavy.minimum_level", "gold", "technology_heavy.minimum_level"),
        ("tiered.top_share", 1.5, "tiered.top_share"),
        ("quick.sample_customers", 0, "quick.sample_customers"),
        ("colour", 1, "colour"),
    ],
)
def test_bad_spec_values_are_rejected_naming_the_key(path, value, key):
    with pytest.raises(ConfigError) as caught:
        matrix.parse_spec(_mutate(path, value), base_dir=SPEC_PATH.parent)
    assert caught.value.field == key
    assert str(caught.value).startswith(f"{key}: ")


def test_base_config_is_read_relative_to_the_spec_and_market_overrides_win(tmp_path):
    (tmp_path / "calibrated.toml").write_text("problem_rate = 0.5\ncompetition = 0.4\nlevel = 'basic'\n")
    data = _mutate("experiment.base_config", "calibrated.toml")
    data["market"] = {"competition": 0.3}
    spec = matrix.parse_spec(data, base_dir=tmp_path)
    assert spec.market["problem_rate"] == 0.5 and spec.market["competition"] == 0.3
    assert "level" not in spec.market  # design fields are the experiment's, whatever the base config says
    assert spec.technology_heavy["problem_rate"] == pytest.approx(1.5)  # ×3 relative to the base market
    assert spec.base_config_hash and spec.base_config.endswith("calibrated.toml")


def test_a_missing_base_config_is_a_clear_error_naming_the_file(tmp_path):
    with pytest.raises(ConfigError) as caught:
        matrix.parse_spec(_mutate("experiment.base_config", "calibrated.toml"), base_dir=tmp_path)
    assert caught.value.field == "experiment.base_config" and "calibrated.toml" in str(caught.value)


# --- common random numbers -----------------------------------------------------------------------------------------
def test_every_level_policy_and_scenario_of_a_replication_uses_the_same_seed(tiny, tiny_result):
    runs = tiny_result.runs
    assert (runs.groupby("replication")["seed"].nunique() == 1).all()
    seeds = runs.groupby("replication")["seed"].first()
    assert list(seeds) == tiny.seeds() and len(set(seeds)) == tiny.replications
    # the engine's one seed rule under common random numbers: SeedSequence(base_seed, spawn_key=(r,))
    compiled = matrix.sweep_spec(tiny)
    assert compiled.common_random_numbers and compiled.seed == tiny.base_seed
    assert [run_seed(compiled, 7, r) for r in range(tiny.replications)] == tiny.seeds()
    assert derive_seed(505, 2) == derive_seed(505, 2) != derive_seed(506, 2)


def test_the_initial_customers_are_identical_across_levels(spec):
    cell = next(c for c in spec.cells if c.row == "medium")
    cell = replace(cell, sample_customers=500)
    seed = spec.seeds()[0]
    shared = (
        "value",
        "revenue",
        "expectation",
        "commitment",
        "tenure",
        "price_sensitivity",
        "complaint_propensity",
        "contact_averse",
    )
    first = None
    for level in LEVEL_NAMES:
        people = RelationshipModel(matrix.run_config(spec, cell, level, seed)).population.active()
        if first is None:
            first = {name: people[name].copy() for name in shared}
            continue
        for name in shared:
            np.testing.assert_array_equal(people[name], first[name], err_msg=f"{name} differs at {level}")


# --- statistics ----------------------------------------------------------------------------------------------------
def test_t_interval_matches_a_hand_computed_example():
    # mean 3, sd sqrt(2.5) = 1.5811, se 0.70711, t(0.975, 4) = 2.776445: half-width 1.963243
    mean, low, high = t_interval(np.array([1.0, 2.0, 3.0, 4.0, 5.0]))
    assert mean == pytest.approx(3.0)
    assert low == pytest.approx(3.0 - 1.963243, abs=1e-6) and high == pytest.approx(3.0 + 1.963243, abs=1e-6)
    mean, low, high = t_interval(np.array([[2.0, 2.0], [1.0, 3.0]]), confidence=0.9)
    np.testing.assert_allclose(mean, [2.0, 2.0])
    np.testing.assert_allclose(high - mean, [0.0, 6.313752], rtol=1e-6)  # sd sqrt(2), se 1, t(0.95, 1)
    _, low, high = t_interval(np.array([7.0]))
    assert np.isnan(low) and np.isnan(high)


def _constructed() -> pd.DataFrame:
    """Three cells whose verdicts are known by construction, 10 paired replications each.

    A replication effect shared by every level (sd 50, what pairing removes) is added to all values.
    clear_best: the recommended basic is best. close: the recommended reactive is 0.1 below basic, with paired
    noise of sd ~1 (indistinguishable). clear_worse: the recommended accountable is 20 below basic, paired noise
    ~0.01 (a disagreement that an unpaired comparison would miss).
    """
    shared = np.random.default_rng(0).normal(0, 50, 10)
    signs = np.array([1.0, -1.0] * 5)  # mean zero: the close cell's mean difference is exactly 0.1
    offsets = {
        "clear_best": {"basic": 0.0, "reactive": -10.0, "accountable": -20.0},
        "close": {"basic": 0.0, "reactive": -0.1 + signs, "accountable": -20.0},
        "clear_worse": {"basic": 0.0, "reactive": -10.0, "accountable": -20.0 + 0.01 * signs},
    }
    rows = []
    for cell, by_level in offsets.items():
        for level, offset in by_level.items():
            values = 100.0 + shared + offset
            rows += [
                {"cell": cell, "level": level, "replication": r, "discounted_profit": v} for r, v in enumerate(values)
            ]
    return pd.DataFrame(rows)


CONSTRUCTED = {"clear_best": "basic", "close": "reactive", "clear_worse": "accountable"}
CONSTRUCTED_LEVELS = ["basic", "reactive", "accountable"]


def _score(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    values = matrix.cube(
        frame.assign(policy=frame["level"]), list(CONSTRUCTED), CONSTRUCTED_LEVELS, "discounted_profit"
    )
    recommended = np.array([CONSTRUCTED_LEVELS.index(level) for level in CONSTRUCTED.values()])
    return matrix.verdicts(values, recommended)


def test_agreement_scoring_on_a_constructed_case():
    scored = _score(_constructed())
    assert [CONSTRUCTED_LEVELS[i] for i in scored["best"]] == ["basic", "basic", "basic"]
    clear_best, close, clear_worse = range(3)
    # recommended is the best: agreement, difference exactly 0
    assert scored["agreement"][clear_best] and scored["diff"][clear_best] == 0
    # recommended is worse by 0.1 against paired noise of sd ~1: indistinguishable, so it agrees
    assert scored["agreement"][close] and scored["low"][close] < 0 < scored["high"][close]
    # recommended is 20 worse with tiny paired noise: a disagreement, although the shared replication effect
    # (sd 50) would hide it from an unpaired comparison
    assert not scored["agreement"][clear_worse] and scored["low"][clear_worse] > 19
    assert scored["agreement"].sum() == 2


def test_agreement_with_one_replication_needs_the_recommended_level_to_be_best():
    scored = _score(_constructed().query("replication == 1"))  # close: reactive 1.1 below basic
    assert list(scored["agreement"]) == [True, False, False]


def test_bootstrap_resamples_replications_and_is_reproducible():
    frame = _constructed()
    values = matrix.cube(
        frame.assign(policy=frame["level"]),
        ["clear_best", "close", "clear_worse"],
        ["basic", "reactive", "accountable"],
        "discounted_profit",
    )
    recommended = np.array([0, 1, 2])
    first = matrix.bootstrap_agreement(values, recommended, n=300, seed=4)
    assert len(first) == 300 and set(np.unique(first)) <= {1, 2, 3}
    np.testing.assert_array_equal(first, matrix.bootstrap_agreement(values, recommended, n=300, seed=4))
    always = matrix.bootstrap_agreement(values, np.array([0, 0, 0]), n=100, seed=4)
    assert (always == 3).all()  # basic is best in every cell of every resample


def test_mechanism_names_the_cost_or_the_lost_customers(spec):
    cell = spec.cells[0]
    base = {
        "discounted_gross_margin": 1e6,
        "discounted_relationship_cost": 0.0,
        "discounted_acquisition_cost": 5e5,
        "discounted_account_team_cost": 0.0,
        "retention_rate": 0.75,
        "cost_to_serve_per_customer": 0.0,
    }
    dear = {
        **base,
        "discounted_gross_margin": 1.2e6,
        "discounted_relationship_cost": 4e6,
        "retention_rate": 0.80,
        "cost_to_serve_per_customer": 6.0,
    }
    text = matrix.mechanism(cell, "basic", "reactive", {"basic": base, "reactive": dear}, years=10)
    assert text.startswith("Reactive's relationship costs") and "+5.0 points" in text
    cheap_loss = {**base, "discounted_gross_margin": 0.5e6, "retention_rate": 0.70}
    text = matrix.mechanism(cell, "basic", "reactive", {"basic": base, "reactive": cheap_loss}, years=10)
    assert text.startswith("Basic against Reactive")  # neither usual story: the plain figures
    text = matrix.mechanism(
        cell,
        "reactive",
        "basic",
        {
            "basic": cheap_loss,
            "reactive": {**base, "discounted_relationship_cost": 1e5, "cost_to_serve_per_customer": 1.0},
        },
        years=10,
    )
    assert text.startswith("Basic loses more customers")


# --- execution ------------------------------------------------------------------------------------------------------
def test_the_cells_of_a_row_share_one_simulation_and_match_direct_runs(tiny, tiny_result):
    """The engine's margin sharing: one simulation per row × policy × replication gives every cell's accounts,
    the same as a direct run of the cell (totals scaled from the sample)."""
    rows = len({c.row for c in tiny.cells})  # the cells of a row differ only in margin
    assert plan(matrix.sweep_spec(tiny)).simulations == rows * POLICIES * tiny.replications
    runs = tiny_result.runs.merge(
        pd.DataFrame({"cell": [c.name for c in tiny.cells], "row": [c.row for c in tiny.cells]})
    )
    shared = runs.groupby(["scenario", "row", "policy", "replication"])
    assert (shared["retention_rate"].nunique() == 1).all() and (shared["revenue"].nunique() == 1).all()
    cells = {c.name: c for c in tiny.cells}
    for cell_name, scenario, level, tier_level, replication in (
        ("medium_low", "uniform", "basic", "none", 0),
        ("medium_high", "technology_heavy", "partnership", "none", 1),
        ("few_medium", "tiered", "reactive", "proactive", 2),
    ):
        cell = cells[cell_name]
        row = runs.query(
            "cell == @cell_name and scenario == @scenario and level == @level and tier_level == @tier_level "
            "and replication == @replication"
        ).iloc[0]
        config = matrix.run_config(
            tiny, cell, level, tiny.seeds()[replication], tier_level=tier_level, scenario=scenario
        )
        direct = run_summary(config.as_dict())
        assert row["seed"] == config.seed
        assert row["discounted_profit"] == pytest.approx(cell.scale * direct["discounted_profit"], rel=1e-9)
        assert row["profit"] == pytest.approx(cell.scale * direct["profit"], rel=1e-9)
        assert row["retention_rate"] == pytest.approx(direct["retention_rate"], rel=1e-12)
        assert row["cost_to_serve_per_customer"] == pytest.approx(direct["cost_to_serve_per_customer"], rel=1e-12)


def test_results_are_identical_with_one_and_two_workers(tiny, tiny_result):
    parallel = matrix.run_matrix(tiny, workers=2)
    assert parallel.evaluator.startswith("process pool")
    pd.testing.assert_frame_equal(parallel.runs, tiny_result.runs, check_exact=True)


class StopAfter(SequentialEvaluator):
    """Runs ``chunks`` chunks, then stops as Ctrl+C would."""

    def __init__(self, chunks: int) -> None:
        self.chunks = chunks

    def evaluate(self, function, items):
        for count, pair in enumerate(super().evaluate(function, items)):
            if count == self.chunks:
                raise KeyboardInterrupt
            yield pair


def test_an_interrupted_matrix_resumes_where_it_stopped(tiny, tiny_result, tmp_path):
    store = tmp_path / "runs"
    with pytest.raises(KeyboardInterrupt):
        matrix.run_matrix(tiny, evaluator=StopAfter(5), store=store)
    assert len(list((store / "parts").glob("part-*.parquet"))) == 5
    resumed = matrix.run_matrix(tiny, workers=1, store=store)
    stored = plan(matrix.sweep_spec(tiny))
    assert 0 < resumed.resumed == sum(len(t["targets"]) for c in stored.chunks[:5] for t in c["tasks"])
    pd.testing.assert_frame_equal(resumed.runs, tiny_result.runs, check_exact=True)
    again = matrix.run_matrix(tiny, evaluator=StopAfter(0), store=store)  # finished: nothing left to run
    assert again.resumed == len(tiny_result.runs)
    pd.testing.assert_frame_equal(again.runs, tiny_result.runs, check_exact=True)


def test_the_tiny_design_is_complete(tiny, tiny_result):
    runs = tiny_result.runs
    n = len(tiny.cells)
    assert len(runs) == n * POLICIES * tiny.replications
    assert set(runs["scenario"]) == set(matrix.SCENARIOS)
    assert set(runs["policy"]) == {label for s in matrix.SCENARIOS for label, _, _ in matrix.policies(s)}
    levels = len(LEVEL_NAMES)
    assert len(tiny_result.cells) == n * levels and len(tiny_result.technology_heavy) == n * levels
    assert len(tiny_result.tiered) == n * levels * (levels - 1) // 2
    assert tiny_result.tiered.groupby("cell")["is_best_tiered"].sum().eq(1).all()
    assert tiny_result.agreement == int(tiny_result.verdicts["agreement"].sum())


def test_per_customer_results_of_a_sample_do_not_depend_on_its_size(spec):
    """The many row simulates a sample: no economies of scale, so per-customer figures agree beyond noise."""
    cell = next(c for c in spec.cells if c.name == "many_medium")
    figures = {}
    for n in (5_000, 20_000):
        rows = []
        for r in range(4):
            config = matrix.run_config(spec, replace(cell, sample_customers=n), "reactive", derive_seed(9, r))
            model = RelationshipModel(config).run()
            record = accounts(ledger(model.history, config.discount_rate), cell.margin, scale=1.0 / n)
            names = ("discounted_profit", "retention_rate", "cost_to_serve_per_customer", "active_customers_end")
            rows.append([record[k] for k in names])  # per simulated customer
        figures[n] = np.array(rows)
    small, large = figures[5_000], figures[20_000]
    se = np.sqrt(small.var(0, ddof=1) / len(small) + large.var(0, ddof=1) / len(large))
    gap = np.abs(small.mean(0) - large.mean(0))
    assert (gap <= 4 * se + 1e-9).all(), (small.mean(0), large.mean(0), se)
    assert gap[1] < 0.01  # retention within a point


# --- outputs and the command ----------------------------------------------------------------------------------------
def test_write_results_produces_every_file_and_the_report_states_the_score(tiny_result, tmp_path):
    out = write_results(tmp_path / "matrix", tiny_result)
    for name in (
        "cells.csv",
        "technology_heavy.csv",
        "tiered.csv",
        "heatmap.png",
        "profit_by_level.png",
        "REPORT.md",
        "parameters.json",
        "runs.csv.gz",
    ):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    report = (out / "REPORT.md").read_text()
    assert f"holds in {tiny_result.agreement} of {len(tiny_result.spec.cells)} cells" in report
    assert "Technology-heavy" in report and "Tiered" in report and "base seed 505" in report
    cells = pd.read_csv(out / "cells.csv")
    assert {
        "cell",
        "customers",
        "revenue_per_customer",
        "margin",
        "level",
        "profit_mean",
        "profit_ci_low",
        "profit_ci_high",
        "retention_mean",
        "cost_to_serve_mean",
        "best_level",
        "recommended_level",
        "is_best",
        "agreement",
    } <= set(cells.columns)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["matrix"]  # no staging directory left behind


def test_a_failed_write_leaves_the_previous_results_untouched(tiny_result, tmp_path, monkeypatch):
    out = tmp_path / "matrix"
    write_results(out, tiny_result)
    (out / "REPORT.md").write_text("previous")

    def broken(*_: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(sim.viz.matrix, "plot_profit_by_level", broken)
    with pytest.raises(RuntimeError):
        write_results(out, tiny_result)
    assert (out / "REPORT.md").read_text() == "previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["matrix"]


def _parse(argv: list[str]) -> argparse.Namespace:
    return build_parser().parse_args(["matrix", *argv])


def _tiny_spec_file(tmp_path: Path) -> Path:
    text = (
        SPEC_PATH.read_text()
        .replace("replications = 30", "replications = 2")
        .replace("bootstrap = 2000", "bootstrap = 50")
    )
    text = text.replace("sample_customers = 2000", "sample_customers = 150").replace("years = 5", "years = 1")
    path = tmp_path / "matrix.toml"
    path.write_text(text)
    shutil.copy(SPEC_PATH.parent / "calibrated.toml", tmp_path / "calibrated.toml")  # base_config is relative
    return path


def test_the_command_runs_quick_and_prints_json(tmp_path, capsys):
    spec = _tiny_spec_file(tmp_path)
    args = _parse(["--quick", "--json", "--workers", "1", "--spec", str(spec), "--out", str(tmp_path / "out")])
    assert commands.matrix(args) == 0
    records = json.loads(capsys.readouterr().out)
    assert len(records) == 9 and len({r["cell"] for r in records}) == 9  # one record per cell
    for record in records:
        assert {"cell", "recommended", "best", "p_recommended_best", "regret", "agrees"} <= set(record)
        assert 0.0 <= record["p_recommended_best"] <= 1.0 and record["regret"] >= 0.0
        assert (record["regret"] == 0.0) == (record["best"] == record["recommended"])
        assert {lv["level"] for lv in record["levels"]} == set(LEVEL_NAMES)
        assert {"profit_mean", "profit_ci_low", "profit_ci_high", "retention", "cost_to_serve"} <= set(
            record["levels"][0]
        )
    assert (tmp_path / "out" / "REPORT.md").is_file()
    assert "Quick look" in (tmp_path / "out" / "REPORT.md").read_text()


@pytest.mark.parametrize(
    ("argv", "option"),
    [
        (["--replications", "0"], "--replications"),
        (["--workers", "0"], "--workers"),
        (["--spec", "/no/such/matrix.toml"], "--spec"),
    ],
)
def test_bad_options_name_the_option(argv, option, tmp_path):
    with pytest.raises(ConfigError) as caught:
        commands.matrix(_parse([*argv, "--out", str(tmp_path / "out")]))
    assert caught.value.field == option
    assert not (tmp_path / "out").exists()


def test_the_default_spec_is_found_from_another_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert resolve_spec(commands.MATRIX_SPEC).resolve() == SPEC_PATH


def test_a_level_added_in_the_base_config_is_compared_in_every_cell(tmp_path, capsys):
    """A sixth level defined in data only (a [levels.NAME] table of the base config) runs through the matrix."""
    spec = _tiny_spec_file(tmp_path)
    base = tmp_path / "calibrated.toml"
    base.write_text(
        base.read_text() + '\n[levels.green_channel]\nbased_on = "reactive"\nresolution_probability = 0.95\n'
    )
    args = _parse(["--quick", "--json", "--workers", "1", "--spec", str(spec), "--out", str(tmp_path / "out")])
    assert commands.matrix(args) == 0
    records = json.loads(capsys.readouterr().out)
    levels = [*LEVEL_NAMES, "green_channel"]
    assert len(records) == 9
    for record in records:
        assert {lv["level"] for lv in record["levels"]} == set(levels)
        assert all(math.isfinite(lv["profit_mean"]) for lv in record["levels"])
    assert (tmp_path / "out" / "heatmap.png").stat().st_size > 1_000


def test_the_report_names_the_commit_read_before_anything_was_written(tmp_path, monkeypatch):
    """The code version is read when the run starts: read after the results are written, the experiment's own
    fresh (tracked) outputs would show as uncommitted changes."""
    import sim.experiments.matrix.plan as matrix_plan

    report = tmp_path / "out" / "REPORT.md"
    seen: list[bool] = []
    monkeypatch.setattr(matrix_plan, "code_revision", lambda: seen.append(report.exists()) or "abc1234")
    spec = _tiny_spec_file(tmp_path)
    argv = ["--quick", "--workers", "1", "--spec", str(spec), "--out", str(tmp_path / "out")]
    assert commands.matrix(_parse(argv)) == 0
    assert seen == [False]
    assert "git abc1234" in report.read_text()


def test_p_recommended_best_counts_resamples_in_which_the_recommended_level_wins():
    """Cell 0: level 1 wins in every replication, so in every resample; cell 1: level 0 beats level 1 in one
    replication of two by far, and the resamples pick it (or not) with known frequencies."""
    from sim.experiments.matrix.analysis import bootstrap_p_best, relative_regret

    values = np.zeros((2, 2, 2))
    values[0] = [[1.0, 1.0], [2.0, 2.0]]  # level 1 always best
    values[1] = [[10.0, 0.0], [1.0, 1.0]]  # level 0 best when replication 0 is drawn at least once
    rec = np.array([1, 1])
    p = bootstrap_p_best(values, rec, 4000, seed=3)
    assert p[0] == 1.0
    # level 1 wins only in the resample (1, 1): probability 1/4, and level 0 wins on a tie
    assert abs(p[1] - 0.25) < 0.03
    regret = relative_regret(values, rec)
    assert regret[0] == 0.0 and regret[1] == pytest.approx((5.0 - 1.0) / 5.0)
    assert np.isnan(bootstrap_p_best(values, rec, 0, seed=3)).all()
