"""Hold-out targets (experiments/holdout.toml): read, run and judged as fixed before any fit."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest

from sim.core.config import Config
from sim.core.inputs import is_field
from sim.experiments.validation.holdout import judge, load_holdout, scenario_overrides
from sim.experiments.validation.holdout_measures import HOLDOUT_EXPERIMENTS

SPEC = load_holdout()
TINY = {"n_customers": 400, "years": 3}


def test_at_least_six_counted_quantitative_targets_from_independent_studies() -> None:
    counted = [t for t in SPEC["targets"].values() if t.get("counts")]
    assert len(counted) >= 6
    assert len({t["source"].split("(")[0] for t in counted}) >= 5  # several independent studies
    assert all(t["label"] == "holdout" for t in SPEC["targets"].values())


@pytest.mark.parametrize(
    ("rule", "values", "verdict"),
    [
        ({"rule": "range", "low": 1.0, "high": 2.0}, [1.4, 1.5, 1.6, 1.5], "pass"),
        ({"rule": "range", "low": 1.0, "high": 2.0}, [1.0, 2.0, 1.5, 2.2], "fail"),  # the CI leaves the range
        ({"rule": "sign", "above": 0.0}, [0.2, 0.3, 0.25], "pass"),
        ({"rule": "sign", "above": 0.0}, [-0.2, 0.3, 0.25], "fail"),
        ({"rule": "sign", "below": 1.02}, [0.9, 0.95, 0.92], "pass"),
        ({"rule": "equivalence", "low": -0.02, "high": 0.02}, [0.001, -0.002, 0.0], "pass"),
        ({"rule": "equivalence", "low": -0.02, "high": 0.02}, [0.03, 0.01, 0.02], "fail"),
        ({"rule": "range", "low": 0.0, "high": 1.0}, [math.nan, math.nan], "not applicable"),
    ],
)
def test_acceptance_rules(rule, values, verdict) -> None:
    assert judge(rule, values)["verdict"] == verdict


def test_equivalence_uses_a_90_percent_interval() -> None:
    values = [0.0, 0.01, -0.01, 0.005]
    narrow = judge({"rule": "equivalence", "low": -1.0, "high": 1.0}, values)
    wide = judge({"rule": "range", "low": -1.0, "high": 1.0}, values)
    assert narrow["ci_high"] - narrow["ci_low"] < wide["ci_high"] - wide["ci_low"]


def test_fields_that_do_not_exist_yet_are_reported_not_applied() -> None:
    applied, skipped = scenario_overrides(SPEC, "lifetime_profit")
    assert applied["segment"] == "mass_consumer" and applied["purchase_mode"] == "noncontractual"
    assert not any(is_field(name) for name in skipped)  # only names the model does not have are skipped
    Config().replace(**applied)  # every applied override is a valid field


@pytest.mark.parametrize("name", sorted({t["scenario"] for t in SPEC["targets"].values()}))
def test_every_experiment_measures_its_targets(name: str) -> None:
    applied, _ = scenario_overrides(SPEC, name)
    small = {**applied, **TINY}
    if name == "customer_value":
        small["years"] = 8
    if "runs" in small:
        small["runs"] = [{**entry, **TINY} for entry in small["runs"]]
    measured = HOLDOUT_EXPERIMENTS[name](Config(), 1, small)
    for target, spec in SPEC["targets"].items():
        if spec["scenario"] == name:
            assert target in measured
            assert isinstance(measured[target], float)
    assert not all(np.isnan(value) for value in measured.values()) or name == "customer_value"


def test_the_command_refuses_a_folder_holding_other_files_before_running(tmp_path, capsys) -> None:
    from sim.cli import main

    folder = tmp_path / "thesis"
    folder.mkdir()
    (folder / "chapter1.tex").write_text("mine")
    assert main(["holdout", "--out", str(folder)]) == 2
    assert "--out" in capsys.readouterr().err
    assert sorted(p.name for p in folder.iterdir()) == ["chapter1.tex"]


def test_replications_are_the_same_on_one_or_two_workers() -> None:
    """Seeds come from the engine's rule per replication, so the evaluator does not change a measurement."""
    from sim.engine.evaluators import ProcessPoolEvaluator, SequentialEvaluator
    from sim.experiments.validation.holdout import run_holdout

    spec = copy.deepcopy(SPEC)
    name = "lifetime_profit_correlation"
    spec["targets"] = {name: spec["targets"][name]}
    spec["scenarios"][spec["targets"][name]["scenario"]].update(TINY)
    one = run_holdout(Config(), spec, 2, SequentialEvaluator())
    two = run_holdout(Config(), spec, 2, ProcessPoolEvaluator(2))
    assert one == two and len(next(iter(one.values()))) == 2
