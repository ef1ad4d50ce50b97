"""The in-memory sweep (sim.sweep): a spec, a file or a dict in the TOML layout in, the same rows as a stored
sweep out, and nothing written to disk."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pandas as pd
import pytest

import sim
from sim.core.config import ConfigError
from sim.engine.evaluators import SequentialEvaluator
from sim.engine.sweep import parse_spec, run_sweep

ROOT = Path(__file__).resolve().parents[1]
DATA = {
    "sweep": {"base_config": str(ROOT / "experiments" / "calibrated.toml"), "replications": 2, "seed": 4},
    "fixed": {"years": 1, "n_customers": 120},
    "vary": {"competition": [0.2, 0.7], "margin": [0.1, 0.4]},
    "compare": {"levels": ["basic", "proactive"]},
    "outputs": {"metrics": ["discounted_profit", "nps"]},
}


def test_the_rows_equal_a_stored_sweeps_and_nothing_is_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rows = sim.sweep(DATA, workers=1)
    assert list(tmp_path.iterdir()) == []
    stored = run_sweep(parse_spec(DATA), tmp_path / "stored", SequentialEvaluator()).frame
    pd.testing.assert_frame_equal(rows, stored, check_exact=True)
    assert len(rows) == 2 * 2 * 2 and {"winner", "nps.proactive", "advantage.proactive"} <= set(rows.columns)


def test_a_spec_a_file_and_a_dict_give_the_same_rows(tmp_path):
    path = tmp_path / "spec.toml"
    path.write_text(
        textwrap.dedent(
            f"""
            [sweep]
            base_config = "{ROOT / "experiments" / "calibrated.toml"}"
            replications = 2
            seed = 4

            [fixed]
            years = 1
            n_customers = 120

            [vary]
            competition = [0.2, 0.7]
            margin = [0.1, 0.4]

            [compare]
            levels = ["basic", "proactive"]

            [outputs]
            metrics = ["discounted_profit", "nps"]
            """
        )
    )
    from_dict = sim.sweep(DATA, evaluator=SequentialEvaluator())
    pd.testing.assert_frame_equal(sim.sweep(path, workers=1), from_dict, check_exact=True)
    pd.testing.assert_frame_equal(sim.sweep(parse_spec(DATA), workers=2), from_dict, check_exact=True)


def test_a_bad_dict_fails_naming_its_key():
    with pytest.raises(ConfigError) as caught:
        sim.sweep({**DATA, "vary": {"competition": [0.2, 7.0]}}, workers=1)
    assert caught.value.field == "vary.competition"
