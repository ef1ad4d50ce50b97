"""Validation machinery: the spec file, pass/fail rules, experiments and calibration (the commands and the
report are tested in tests/test_validation_cli.py)."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from sim.core.config import Config, ConfigError
from sim.core.inputs import load
from sim.engine.evaluators import SequentialEvaluator
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
        ("[calibration.parameters]\nmargin = 0.5\n", "calibration.parameters.margin"),
        (b"[settings]\nseed = 1 # \xff\n", "--spec"),
    ],
)
def test_bad_specs_name_the_key(tmp_path, text, key):
    path = tmp_path / "spec.toml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(ConfigError) as error:
        load_spec(path)
    assert error.value.field == key


def test_scenarios_may_change_a_level_parameter(tmp_path):
    from sim.core.levels import LEVEL_NAMES, PARAMETERS

    level = LEVEL_NAMES[-1]
    values = {name: getattr(Config().level_named(level), name) for name in PARAMETERS}
    parameter, value = next((n, v) for n, v in values.items() if isinstance(v, float))  # one that TOML writes as repr
    path = tmp_path / "spec.toml"
    path.write_text(f"[scenarios.quadrant]\nlevels.{level}.{parameter} = {value!r}\n")
    assert load_spec(path).scenarios["quadrant"] == {f"levels.{level}.{parameter}": value}
    path.write_text(f"[scenarios.quadrant]\nlevels.{level}.no_such_parameter = 1\n")
    with pytest.raises(ConfigError) as error:
        load_spec(path)
    assert error.value.field == f"scenarios.quadrant.levels.{level}.no_such_parameter"


def test_point_and_range_targets():
    point = Target("p", "quadrant", "m", "s", "d", value=0.5, tolerance=0.1)
    assert point.passes(0.58, 0.5, 0.66) and not point.passes(0.65, 0.6, 0.7)
    above = Target("a", "quadrant", "m", "s", "d", low=0.0)
    assert above.passes(0.2, 0.01, 0.4) and not above.passes(0.2, -0.01, 0.4)  # the whole CI must clear it
    band = Target("b", "quadrant", "m", "s", "d", low=0.25, high=0.85)
    assert band.passes(0.5, 0.3, 0.7) and not band.passes(0.8, 0.7, 0.9)
    assert band.wanted == "0.25 to 0.85" and point.wanted == "0.5 ± 0.1"
    # an interval that could not be computed (one replication) never clears a bound
    assert not above.passes(0.2, math.nan, math.nan) and not band.passes(0.5, math.nan, math.nan)


def test_compare_computes_a_t_interval():
    spec = load_spec(SPEC)
    spec.targets = [Target("t", "quadrant", "m", "s", "d", value=2.0, tolerance=0.5)]
    table = compare(spec, pd.DataFrame({"experiment": ["quadrant"] * 4, "m": [1.0, 2.0, 3.0, 4.0]}))
    half = 3.182446305284263 * math.sqrt(5 / 3) / 2  # t(0.975, 3) * sd / sqrt(n)
    assert table.loc[0, "simulated"] == 2.5
    assert table.loc[0, "ci_low"] == pytest.approx(2.5 - half)
    assert bool(table.loc[0, "passed"])
    assert table.loc[0, "replications"] == 4 and table.loc[0, "kind"] == "out-of-sample"


def test_compare_with_one_replication_has_no_interval():
    spec = load_spec(SPEC)
    spec.targets = [
        Target("range", "quadrant", "m", "s", "d", low=0.0),
        Target("point", "quadrant", "m", "s", "d", value=1.0, tolerance=0.5, calibrate=True),
    ]
    table = compare(spec, pd.DataFrame({"experiment": ["quadrant"], "m": [1.0]})).set_index("target")
    assert table["ci_low"].isna().all() and table["ci_high"].isna().all()
    assert not table.loc["range", "passed"]  # no interval, so no evidence the difference is above zero
    assert table.loc["point", "passed"] and table.loc["point", "kind"] == "calibration"


def test_experiments_measure_what_they_claim():
    spec = load_spec(SPEC)
    small = {name: {**scenario, "n_customers": 1500} for name, scenario in spec.scenarios.items()}
    small["defections"]["years"] = 4
    spec.scenarios = small
    defaults = Config()
    values = measure(spec, defaults, replications=2, evaluator=SequentialEvaluator()).set_index("experiment")
    assert values.loc["channel_costs", "cost_per_agent_contact"].mean() == pytest.approx(defaults.agent_contact_cost)
    told = values.loc["word_of_mouth", "people_told_per_dissatisfied_story"].mean()
    assert told == pytest.approx(defaults.negative_listeners)
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
    sequential = SequentialEvaluator()
    seen: list[float] = []
    result = calibrate(
        spec,
        start,
        replications=1,
        max_evaluations=25,
        evaluator=sequential,
        progress=lambda n, loss, best: seen.append(loss),
    )
    assert result.evaluations == len(seen) and result.objective == min(seen)  # the best point tried is the result
    assert result.parameters["churn_intercept"] < -1.0  # fewer defections fit TARP's high repurchase shares
    before = compare(spec, measure(spec, start, 2, {"complaint_outcomes"}, sequential))
    assert before["passed"].sum() < len(before)  # targets of experiments not run count as not passed
    tarp = [t.name for t in spec.targets if t.calibrate]
    miss_before = before.set_index("target").loc[tarp, "simulated"] - [t.value for t in spec.targets if t.calibrate]
    miss_after = result.fitted.set_index("target").loc[tarp, "simulated"] - [
        t.value for t in spec.targets if t.calibrate
    ]
    assert (miss_after**2).sum() < (miss_before**2).sum()


def test_calibrated_config_is_the_models_default():
    """The committed calibration and the Config defaults must not drift apart."""
    calibrated = load("experiments/calibrated.toml")
    defaults = Config()
    fitted = {name for name in load_spec(SPEC).calibration_parameters}
    for name in fitted:
        assert getattr(calibrated, name) == getattr(defaults, name), name
