"""Validation machinery: the spec file, pass/fail rules, experiments, calibration and the report."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from sim.cli import main
from sim.core.config import Config, ConfigError, load
from sim.experiments.validation import Target, calibrate, compare, load_spec, measure

SPEC = "experiments/validation.toml"


def test_the_committed_spec_loads_and_covers_issue_four():
    spec = load_spec(SPEC)
    names = {target.name for target in spec.targets}
    assert {
        "tarp_minor_silent",
        "tarp_major_quick",
        "wom_dissatisfied",
        "agent_contact_cost",
        "ivr_contact_cost",
        "routing_saving",
        "acquisition_multiple",
        "defections_profit",
        "hostages_monopoly",
        "mercenaries_price",
    } <= names
    assert all(target.source for target in spec.targets)
    assert {target.name for target in spec.targets if target.calibrate} == {n for n in names if n.startswith("tarp")}


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[settings]\nreplications = 1\n", "settings.replications"),
        ('[scenarios.quadrant]\nlevel = "gold"\n', "scenarios.quadrant.level"),
        ("[scenarios.quadrant]\ncolour = 1\n", "scenarios.quadrant.colour"),
        ('[targets.x]\nexperiment = "nope"\nmeasure = "m"\nvalue = 1\ntolerance = 1\n', "targets.x.experiment"),
        ('[scenarios.quadrant]\n[targets.x]\nexperiment = "quadrant"\nmeasure = "m"\nvalue = 1\n', "targets.x"),
        (
            '[scenarios.quadrant]\n[targets.x]\nexperiment = "quadrant"\nmeasure = "m"\nlow = 0\nsize = 2\n',
            "targets.x.size",
        ),
        ("[calibration.parameters]\nmargin = [0.5, 0.1]\n", "calibration.parameters.margin"),
        ("[extra]\n", "extra"),
    ],
)
def test_bad_specs_name_the_key(tmp_path, text, key):
    path = tmp_path / "spec.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as error:
        load_spec(path)
    assert error.value.field == key


def test_point_and_range_targets():
    point = Target("p", "quadrant", "m", "s", "d", value=0.5, tolerance=0.1)
    assert point.passes(0.58, 0.5, 0.66) and not point.passes(0.65, 0.6, 0.7)
    above = Target("a", "quadrant", "m", "s", "d", low=0.0)
    assert above.passes(0.2, 0.01, 0.4) and not above.passes(0.2, -0.01, 0.4)  # the whole CI must clear it
    band = Target("b", "quadrant", "m", "s", "d", low=0.25, high=0.85)
    assert band.passes(0.5, 0.3, 0.7) and not band.passes(0.8, 0.7, 0.9)
    assert band.wanted == "0.25 to 0.85" and point.wanted == "0.5 ± 0.1"


def test_compare_computes_a_t_interval():
    spec = load_spec(SPEC)
    spec.targets = [Target("t", "quadrant", "m", "s", "d", value=2.0, tolerance=0.5)]
    table = compare(spec, pd.DataFrame({"experiment": ["quadrant"] * 4, "m": [1.0, 2.0, 3.0, 4.0]}))
    half = 3.182446305284263 * math.sqrt(5 / 3) / 2  # t(0.975, 3) * sd / sqrt(n)
    assert table.loc[0, "simulated"] == 2.5
    assert table.loc[0, "ci_low"] == pytest.approx(2.5 - half)
    assert bool(table.loc[0, "passed"])


def test_experiments_measure_what_they_claim():
    spec = load_spec(SPEC)
    small = {name: {**scenario, "n_customers": 1500} for name, scenario in spec.scenarios.items()}
    small["defections"]["years"] = 4
    spec.scenarios = small
    values = measure(spec, Config(), replications=2).set_index("experiment")
    assert values.loc["channel_costs", "cost_per_agent_contact"].mean() == pytest.approx(5.0)
    assert values.loc["word_of_mouth", "people_told_per_dissatisfied_story"].mean() == pytest.approx(11.0)
    churn = values.loc["defections"]
    # the bisection hits the 5-point cut up to the noise of a small population
    assert (churn["churn_before"] - churn["churn_after"]).to_numpy() == pytest.approx([0.05, 0.05], abs=0.015)
    assert (values.loc["quadrant", "mercenary_share_monopoly"] == 0).all()
    repurchase = values.loc["complaint_outcomes"]
    assert (repurchase["repurchase_minor_resolved_quickly"] > repurchase["repurchase_minor_silent"]).all()


def test_calibration_moves_towards_the_targets(tmp_path):
    spec = load_spec(SPEC)
    spec.scenarios = {**spec.scenarios, "complaint_outcomes": {"level": "reactive", "n_customers": 2000, "years": 3}}
    spec.calibration_parameters = {"churn_intercept": (-8.0, 0.0)}
    spec.replications = 2
    start = Config(churn_intercept=0.0)
    result = calibrate(spec, start, replications=1, max_evaluations=25)
    assert result.parameters["churn_intercept"] < -1.0  # fewer defections fit TARP's high repurchase shares
    before = compare(spec, measure(spec, start, 2, {"complaint_outcomes"}))
    assert before["passed"].sum() < len(before)  # targets of experiments not run count as not passed
    tarp = [t.name for t in spec.targets if t.calibrate]
    miss_before = before.set_index("target").loc[tarp, "simulated"] - [t.value for t in spec.targets if t.calibrate]
    miss_after = result.fitted.set_index("target").loc[tarp, "simulated"] - [
        t.value for t in spec.targets if t.calibrate
    ]
    assert (miss_after**2).sum() < (miss_before**2).sum()


def test_report_and_cli(tmp_path, capsys):
    spec_path = tmp_path / "spec.toml"
    spec_path.write_text(
        '[settings]\nreplications = 2\n[scenarios.channel_costs]\nlevel = "reactive"\nn_customers = 500\n'
        'years = 2\nivr_routing_share = 0.5\n[targets.agent]\nexperiment = "channel_costs"\n'
        'measure = "cost_per_agent_contact"\nsource = "s"\ndescription = "d"\nvalue = 5.0\ntolerance = 0.05\n'
    )
    out = tmp_path / "report"
    assert main(["validate", "--spec", str(spec_path), "--config", "", "--out", str(out)]) == 0
    assert "1 of 1 targets pass" in capsys.readouterr().out
    written = sorted(p.name for p in out.iterdir() if not p.name.startswith("."))  # (not relsim's marker and lock)
    assert written == ["REPORT.md", "agent.png", "measurements.csv", "results.csv"]
    assert "| [agent](agent.png) |" in (out / "REPORT.md").read_text()
    assert main(["validate", "--spec", str(spec_path), "--replications", "1", "--config", ""]) == 2


def test_calibrated_config_is_the_models_default():
    """The committed calibration and the Config defaults must not drift apart."""
    calibrated = load("experiments/calibrated.toml")
    defaults = Config()
    fitted = {name for name in load_spec(SPEC).calibration_parameters}
    for name in fitted:
        assert getattr(calibrated, name) == getattr(defaults, name), name
