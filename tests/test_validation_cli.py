"""relsim validate and relsim calibrate: the one engine (same numbers on any number of workers), exit codes,
progress, the report's split between calibration and out-of-sample targets, and a calibration that never
overwrites a file it did not write."""

from __future__ import annotations

import json
import pickle
import re

import pandas as pd
import pytest

import sim.experiments.validation as validation
from sim.cli import main
from sim.core.config import Config
from sim.core.levels import LEVEL_NAMES
from sim.engine.evaluators import ProcessPoolEvaluator, SequentialEvaluator
from sim.engine.plan import derive_seed
from sim.experiments.validation import load_spec, measure, replication_tasks
from sim.viz.figures import survival_curves
from sim.viz.validation import interval_text

AGENT_COST = Config().agent_contact_cost  # what the channel_costs experiment must measure


def write_spec(folder, targets: str, replications: int = 2, extra: str = "") -> str:
    """A tiny targets file: small channel-cost and complaint scenarios, then the given targets."""
    path = folder / "spec.toml"
    path.write_text(
        f"[settings]\nreplications = {replications}\nseed = 7\n"
        "[scenarios.channel_costs]\nn_customers = 300\nyears = 2\nivr_routing_share = 0.5\n"
        "[scenarios.complaint_outcomes]\nn_customers = 400\nyears = 2\n" + extra + targets
    )
    return str(path)


def write_holdout(folder, low: float = -1.0, high: float = 1.0, counts: bool = True) -> str:
    """A tiny hold-out file: the lifetime-profit scenario at a small size, one target with the given range."""
    path = folder / "holdout.toml"
    path.write_text(
        "[meta]\nreplications = 2\nseed = 11\n"
        '[scenarios.lifetime_profit]\nsegment = "mass_consumer"\npurchase_mode = "noncontractual"\n'
        'level = "reactive"\nn_customers = 400\nyears = 3\n'
        '[targets.lifetime_profit_correlation]\nscenario = "lifetime_profit"\nsource = "Someone (2002). A study."\n'
        f'published = "a correlation"\nrule = "range"\nlow = {low}\nhigh = {high}\ncounts = {str(counts).lower()}\n'
    )
    return str(path)


NO_HOLDOUT = ["--holdout", "none"]


def agent_target(name: str, value: float, calibrate: bool = False) -> str:
    return (
        f'[targets.{name}]\nexperiment = "channel_costs"\nmeasure = "cost_per_agent_contact"\nsource = "s"\n'
        f'description = "d"\nvalue = {value}\ntolerance = 0.05\ncalibrate = {str(calibrate).lower()}\n'
    )


# --- the one engine ---------------------------------------------------------------------------------------------
def test_measurements_do_not_depend_on_the_number_of_workers(tmp_path):
    quadrant = "[scenarios.quadrant]\nn_customers = 300\nyears = 2\n"
    target = '[targets.q]\nexperiment = "quadrant"\nmeasure = "hostage_gain_monopoly"\nlow = 0.0\n'
    spec = load_spec(write_spec(tmp_path, agent_target("agent", AGENT_COST) + target, 3, quadrant))
    one = measure(spec, Config(), evaluator=SequentialEvaluator())
    with ProcessPoolEvaluator(2) as two_workers:
        two = measure(spec, Config(), evaluator=two_workers)
    assert len(one) == 2 * 3 and one["replication"].tolist() == [0, 1, 2, 0, 1, 2]
    pd.testing.assert_frame_equal(one, two, check_exact=True)


def test_tasks_are_plain_data_seeded_by_the_engines_rule(tmp_path):
    spec = load_spec(write_spec(tmp_path, agent_target("agent", AGENT_COST), 3))
    tasks = replication_tasks(spec, Config())
    json.dumps(tasks)  # plain data: nothing but dicts, lists, numbers and strings
    assert pickle.loads(pickle.dumps(tasks)) == tasks
    assert sorted(task["seed"] for task in tasks) == sorted(derive_seed(spec.seed, r) for r in range(3))
    # replication r has the same seed in every experiment (common random numbers across experiments)
    both = replication_tasks(spec, Config(), 2, {"channel_costs", "complaint_outcomes"})
    by_replication = {}
    for task in both:
        by_replication.setdefault(task["replication"], set()).add(task["seed"])
    assert all(len(seeds) == 1 for seeds in by_replication.values())


def test_survival_curves_do_not_depend_on_the_number_of_workers():
    params = {"n_customers": 150, "years": 2}
    levels = LEVEL_NAMES[:2]
    one = survival_curves(levels=levels, seeds=(0, 1), params=params, evaluator=SequentialEvaluator())
    two = survival_curves(levels=levels, seeds=(0, 1), params=params, evaluator=ProcessPoolEvaluator(2))
    pd.testing.assert_frame_equal(one, two, check_exact=True)
    assert one["level"].unique().tolist() == list(levels)


# --- relsim validate --------------------------------------------------------------------------------------------
def test_validate_passes_with_exit_0_and_reports_each_kind(tmp_path, capsys):
    spec = write_spec(
        tmp_path, agent_target("held_out", AGENT_COST) + agent_target("fitted", AGENT_COST, calibrate=True)
    )
    out = tmp_path / "report"
    holdout = write_holdout(tmp_path)
    command = ["validate", "--spec", spec, "--config", "", "--out", str(out), "--workers", "2", "--holdout", holdout]
    assert main(command) == 0
    captured = capsys.readouterr()
    assert "2 of 2 targets pass: 1 of 1 out-of-sample, 0 of 0 verification, 1 of 1 calibration" in captured.out
    assert "hold-out: 1 of 1 pass (0 fail, 0 not applicable)" in captured.out
    assert "relsim validate" in captured.err and "replication" in captured.err  # the progress line
    assert "hold-out" in captured.err  # the hold-out file's own progress line
    files = sorted(p.name for p in out.iterdir() if not p.name.startswith("."))  # (not relsim's marker and lock)
    assert files == ["REPORT.md", "fitted.png", "held_out.png", "holdout.csv", "measurements.csv", "results.csv"]
    report = (out / "REPORT.md").read_text()
    lines = report.splitlines()
    assert lines[2] == "**hold-out: 1 of 1 pass (0 fail, 0 not applicable).**"  # the count comes first
    sections = [line for line in lines if line.startswith("## ")]
    assert sections == [
        "## Hold-out targets",
        "## Verification targets (tests of the code): 0 of 0 pass",
        "## Calibration targets (fitted): 1 of 1 pass",
    ]
    # every kind in its own section: the hold-out file's target and the unfitted one before the fitted one
    held_row = next(line for line in lines if line.startswith("| lifetime_profit_correlation |"))
    assert "Someone (2002)" in held_row and "a correlation" in held_row and held_row.endswith("| pass |")
    assert report.index(held_row) < report.index("[held_out]") < report.index("## Verification")
    assert report.index("## Calibration") < report.index("[fitted]")
    measured = pd.read_csv(out / "holdout.csv").iloc[0]
    assert f"{measured['mean']:.3g} ({interval_text(measured['ci_low'], measured['ci_high'])})" in held_row


@pytest.mark.parametrize(
    ("calibrate", "kind"), [(False, "out-of-sample"), (True, "calibration")], ids=["held-out", "fitted"]
)
def test_validate_exits_1_naming_the_failed_targets(tmp_path, capsys, calibrate, kind):
    spec = write_spec(tmp_path, agent_target("fine", AGENT_COST) + agent_target("missed", AGENT_COST + 1, calibrate))
    out = tmp_path / "report"
    assert main(["validate", "--spec", spec, "--config", "", "--out", str(out), "--workers", "1", *NO_HOLDOUT]) == 1
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last == f"relsim validate: 1 target(s) failed ({kind}: missed)"
    assert (out / "REPORT.md").is_file()  # the report is still written


@pytest.mark.parametrize("counts", [True, False], ids=["counted", "not-counted"])
def test_a_failing_hold_out_target_exits_1_and_is_named(tmp_path, capsys, counts):
    spec = write_spec(tmp_path, agent_target("fine", AGENT_COST))
    holdout = write_holdout(tmp_path, low=5.0, high=6.0, counts=counts)  # a correlation can never lie there
    out = tmp_path / "report"
    assert main(["validate", "--spec", spec, "--config", "", "--out", str(out), "--holdout", holdout]) == 1
    captured = capsys.readouterr()
    last = captured.err.strip().splitlines()[-1]
    assert last == "relsim validate: 1 target(s) failed (hold-out: lifetime_profit_correlation)"
    report = (out / "REPORT.md").read_text()
    row = next(line for line in report.splitlines() if line.startswith("| lifetime_profit_correlation |"))
    assert row.endswith("| **fail** |") and f"| {'yes' if counts else 'no'} |" in row
    # only counted targets enter the count; a target reported but not counted is still a failure for the exit code
    assert report.splitlines()[2] == f"**hold-out: 0 of {int(counts)} pass ({int(counts)} fail, 0 not applicable).**"


def test_without_hold_out_the_report_says_it_tests_nothing(tmp_path):
    spec = write_spec(tmp_path, agent_target("fine", AGENT_COST))
    out = tmp_path / "report"
    assert main(["validate", "--spec", spec, "--config", "", "--out", str(out), *NO_HOLDOUT]) == 0
    report = (out / "REPORT.md").read_text()
    assert report.splitlines()[2] == "**hold-out: not run (--holdout none).**"
    assert "tests nothing about the model" in report and not (out / "holdout.csv").exists()


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda text: text.replace('rule = "range"', 'rule = "about"'), "targets.lifetime_profit_correlation.rule"),
        (lambda text: text.replace("low = 5.0\n", ""), "targets.lifetime_profit_correlation.low"),
        (lambda text: text.replace('"lifetime_profit"\nsource', '"nowhere"\nsource'), "scenario"),
        (lambda text: text.replace("[meta]", "[metadata]"), "meta"),
    ],
    ids=["rule", "bound", "scenario", "meta"],
)
def test_a_bad_hold_out_file_is_refused_before_anything_runs(tmp_path, capsys, monkeypatch, edit, field):
    spec = write_spec(tmp_path, agent_target("fine", AGENT_COST))
    holdout = write_holdout(tmp_path, low=5.0, high=6.0)
    (tmp_path / "holdout.toml").write_text(edit((tmp_path / "holdout.toml").read_text()))
    monkeypatch.setattr(validation, "measure", _must_not_run)
    out = tmp_path / "report"
    assert main(["validate", "--spec", spec, "--config", "", "--out", str(out), "--holdout", holdout]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and field in error and not out.exists()


def test_validate_refuses_one_replication(tmp_path, capsys):
    spec = write_spec(tmp_path, agent_target("agent", AGENT_COST))
    out = tmp_path / "report"
    assert main(["validate", "--spec", spec, "--config", "", "--out", str(out), "--replications", "1"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "--replications" in error and "interval needs two" in error
    assert not out.exists()


def test_a_measure_the_experiment_does_not_report_is_named(tmp_path, capsys):
    typo = agent_target("agent", AGENT_COST).replace("cost_per_agent_contact", "cost_per_agent_contacts")
    out = tmp_path / "report"
    assert main(["validate", "--spec", write_spec(tmp_path, typo), "--config", "", "--out", str(out), *NO_HOLDOUT]) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("relsim: error: targets.agent.measure: channel_costs measures ")
    assert "cost_per_agent_contact," in error and not out.exists()


def test_an_interval_that_cannot_be_computed_reads_n_a(tmp_path):
    assert interval_text(float("nan"), float("nan")) == "n/a"
    assert interval_text(0.5, 0.75) == "0.5 to 0.75"
    table = pd.DataFrame({"target": ["t"], "ci_low": [float("nan")], "passed": [False]})
    assert json.loads(validation.summary_json(table)) == [{"target": "t", "ci_low": None, "passed": False}]


def test_validate_refuses_a_file_as_out_before_running(tmp_path, capsys, monkeypatch):
    spec = write_spec(tmp_path, agent_target("agent", AGENT_COST))
    thesis = tmp_path / "thesis.md"
    thesis.write_text("mine")
    monkeypatch.setattr(validation, "measure", _must_not_run)
    assert main(["validate", "--spec", spec, "--config", "", "--out", str(thesis)]) == 2
    assert "--out" in capsys.readouterr().err and thesis.read_text() == "mine"


# --- relsim calibrate -------------------------------------------------------------------------------------------
CALIBRATION = (
    '[targets.tarp]\nexperiment = "complaint_outcomes"\nmeasure = "repurchase_minor_silent"\nsource = "s"\n'
    'description = "d"\nvalue = 0.4\ntolerance = 0.1\ncalibrate = true\n'
    "[calibration.parameters]\nchurn_intercept = [-8.0, 0.0]\n"
)
FAST = ["--max-evaluations", "3", "--replications", "1", "--workers", "1"]


def _must_not_run(*args, **kwargs):
    raise AssertionError("the experiment ran although the command should have refused first")


def test_calibrate_writes_a_new_file_by_default_with_progress(tmp_path, capsys, monkeypatch):
    spec = write_spec(tmp_path, CALIBRATION)
    monkeypatch.chdir(tmp_path)
    assert main(["calibrate", "--spec", spec, *FAST]) == 0
    captured = capsys.readouterr()
    written = tmp_path / "out" / f"calibrated-{load_spec(spec).digest}.toml"
    assert f"wrote {written.relative_to(tmp_path)}" in captured.out
    assert written.read_text().startswith(validation.calibration.HEADER)
    assert "relsim calibrate" in captured.err and "best" in captured.err  # evaluations and best objective
    # a second run refuses the file it wrote, unless told to replace it
    monkeypatch.setattr(validation, "calibrate", _must_not_run)
    assert main(["calibrate", "--spec", spec, *FAST]) == 2
    assert "--force" in capsys.readouterr().err


def _without_timing(text: str) -> str:
    return re.sub(r"\d+ s\.", "N s.", text)


def test_calibrate_force_replaces_only_its_own_files(tmp_path, capsys, monkeypatch):
    spec = write_spec(tmp_path, CALIBRATION)
    own = tmp_path / "fit.toml"
    assert main(["calibrate", "--spec", spec, "--out", str(own), *FAST]) == 0
    first = own.read_text()
    own.write_text(first.replace("churn_intercept =", "# edited\nchurn_intercept ="))
    assert main(["calibrate", "--spec", spec, "--out", str(own), "--force", *FAST]) == 0
    # same spec, same seeds, same fit: replaced by an identical file (but for the header's elapsed seconds)
    assert _without_timing(own.read_text()) == _without_timing(first)
    foreign = tmp_path / "config.toml"
    foreign.write_text("churn_intercept = -3.0\n")
    capsys.readouterr()
    monkeypatch.setattr(validation, "calibrate", _must_not_run)
    assert main(["calibrate", "--spec", spec, "--out", str(foreign), "--force", *FAST]) == 2
    assert "not written by relsim calibrate" in capsys.readouterr().err
    assert foreign.read_text() == "churn_intercept = -3.0\n"


def test_json_lists_the_hold_out_targets_with_their_kind(tmp_path, capsys):
    spec = write_spec(tmp_path, agent_target("fine", AGENT_COST))
    out = tmp_path / "report"
    holdout = write_holdout(tmp_path)
    assert main(["validate", "--spec", spec, "--config", "", "--out", str(out), "--json", "--holdout", holdout]) == 0
    records = {record["target"]: record for record in json.loads(capsys.readouterr().out)}
    assert records["fine"]["kind"] == "out-of-sample"
    held = records["lifetime_profit_correlation"]
    assert held["kind"] == "hold-out" and held["verdict"] == "pass" and held["passed"] is True
    assert held["simulated"] == pytest.approx(pd.read_csv(out / "holdout.csv")["mean"].iloc[0])


def test_the_calibrated_config_is_found_from_any_folder(tmp_path, monkeypatch):
    """validate and holdout default to experiments/calibrated.toml: found in the repository when the current
    folder has none (as --spec is), the current folder's own file first, and no file meaning the model's defaults."""
    from pathlib import Path

    from sim.cli.common import DEFAULT_BASE, REPO_ROOT, resolve_config

    monkeypatch.chdir(tmp_path)
    assert resolve_config(DEFAULT_BASE) == str(REPO_ROOT / DEFAULT_BASE)
    assert resolve_config(None) is None
    assert resolve_config("missing.toml") == "missing.toml"  # reported as given by the loader's error
    local = Path(DEFAULT_BASE)
    local.parent.mkdir()
    local.write_text("")
    assert resolve_config(DEFAULT_BASE) == DEFAULT_BASE
