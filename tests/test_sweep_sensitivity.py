"""Sensitivity machinery: SALib indices on known functions, and a tiny Morris/Sobol run through real sweeps."""

from __future__ import annotations

import textwrap
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim.core.config import ConfigError
from sim.engine.evaluators import ProcessPoolEvaluator
from sim.experiments.sensitivity import (
    load_sensitivity,
    morris_indices,
    parse_sensitivity,
    responses,
    sobol_indices,
)
from sim.viz.sensitivity import run_sensitivity

pytest.importorskip("SALib")
ROOT = Path(__file__).resolve().parents[1]

SPEC = f"""
[sensitivity]
out = "unused"
methods = ["morris", "sobol"]
morris_samples = 6
sobol_samples = 8
resamples = 100

[sweep]
base_config = "{ROOT / "experiments" / "calibrated.toml"}"
seed = 8
common_random_numbers = true
total_revenue = 1_000_000
sample_customers = 150

[fixed]
years = 1
ivr_routing_share = 0.0     # nobody reaches the IVR, so its price cannot matter

[vary]
competition = {{ low = 0.0, high = 1.0 }}
ivr_contact_cost = {{ low = 0.1, high = 5.0 }}
customers = {{ low = 50, high = 5000, scale = "log" }}

[compare]
levels = ["basic", "reactive", "proactive"]
baseline = "basic"

[outputs]
metrics = ["discounted_profit"]
"""


def test_known_functions():
    from SALib.sample import morris as morris_sample
    from SALib.sample import sobol as sobol_sample

    problem = {"num_vars": 3, "names": ["a", "b", "dummy"], "bounds": [[0, 1], [0, 1], [0, 1]]}
    x = morris_sample.sample(problem, 20, num_levels=4, seed=1)
    table = pd.DataFrame({"y": 4 * x[:, 0] + x[:, 1] ** 2})
    m = morris_indices(problem, x, table, num_levels=4, resamples=50).set_index("factor")
    assert m.loc["a", "mu_star"] == pytest.approx(4.0) and m.loc["dummy", "mu_star"] == 0.0
    assert m.loc["a", "mu_star_relative"] == 1.0 and 0 < m.loc["b", "mu_star"] < m.loc["a", "mu_star"]
    x = sobol_sample.sample(problem, 1024, calc_second_order=False, seed=2)
    y = x[:, 0] + 0.5 * x[:, 1]  # additive: S1 = ST, shares 1 : 0.25 of the variance
    s = sobol_indices(problem, pd.DataFrame({"y": y, "flat": np.ones(len(y))}), resamples=50).set_index(
        ["response", "factor"]
    )
    assert s.loc[("y", "a"), "S1"] == pytest.approx(0.8, abs=0.05)
    assert s.loc[("y", "b"), "ST"] == pytest.approx(0.2, abs=0.05)
    assert abs(s.loc[("y", "dummy"), "ST"]) < 0.01
    assert s.loc[("flat", "a"), ["S1", "ST"]].isna().all()  # nothing varies: nothing to apportion


def test_spec_errors():
    data = tomllib.loads(textwrap.dedent(SPEC))
    for change, key in [
        ({"sensitivity": {**data["sensitivity"], "methods": ["fast"]}}, "sensitivity.methods[0]"),
        ({"sensitivity": {**data["sensitivity"], "sobol_samples": 10}}, "sensitivity.sobol_samples"),
        ({"sweep": {**data["sweep"], "design": "grid"}}, "sweep.design"),
        ({"vary": {**data["vary"], "word_of_mouth": [1.0, 2.0]}}, "vary.word_of_mouth"),
        ({"compare": {}}, "compare"),
    ]:
        with pytest.raises(ConfigError) as caught:
            parse_sensitivity({**data, **change})
        assert caught.value.field == key


def test_tiny_morris_and_sobol_through_sweeps(tmp_path):
    path = tmp_path / "sensitivity.toml"
    path.write_text(textwrap.dedent(SPEC))
    spec = load_sensitivity(path)
    out = tmp_path / "out"
    results = run_sensitivity(spec, out, ProcessPoolEvaluator(2))
    for name in ("morris.csv", "sobol.csv", "morris.png", "sobol.png", "REPORT.md", "spec.toml"):
        assert (out / name).is_file(), name
    responses_ = ["advantage.reactive", "advantage.proactive", "lead", "winner"]
    factors = ["competition", "ivr_contact_cost", "log10_customers"]
    morris = results["morris"]
    assert morris.shape[0] == len(responses_) * len(factors)
    assert morris["response"].unique().tolist() == responses_ and morris["factor"].unique().tolist() == factors
    by = morris.set_index(["response", "factor"])
    for response in responses_:  # the IVR price does nothing when nobody is routed to the IVR: mu* = 0 exactly
        assert by.loc[(response, "ivr_contact_cost"), "mu_star"] == 0.0
    assert by.loc[("advantage.proactive", "log10_customers"), "mu_star"] > 0
    assert by.loc[("advantage.reactive", "competition"), "mu_star"] > 0
    sobol = results["sobol"]
    assert sobol.shape[0] == len(responses_) * len(factors)
    assert {"S1", "S1_conf", "ST", "ST_conf"} <= set(sobol.columns)
    advantage = sobol.set_index(["response", "factor"]).loc["advantage.proactive"]
    assert abs(advantage.loc["ivr_contact_cost", "ST"]) < 1e-9  # exactly no effect, up to rounding
    assert pd.read_csv(out / "sobol.csv").shape == sobol.shape
    # responses: one row per design point, means over replications; winner as a level index
    sweep = spec.sweeps["sobol"]
    from sim.engine.sweep import load_results

    table = responses(sweep, load_results(out / "runs-sobol"))[""]
    assert len(table) == 8 * (3 + 2) and set(table["winner"]) <= {0, 1, 3}
