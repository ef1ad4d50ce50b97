"""The verification targets of experiments/validation.toml, run as tests: input echoes, identities and signs fixed
by the rules. They check the code carries its inputs and rules through; they say nothing about the world, so the
validation report lists them apart from the out-of-sample targets (issue 13, item 6)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pandas as pd
import pytest

from sim.core.config import Config
from sim.experiments.validation import VERIFICATION, compare, load_spec, measure

SPEC = load_spec(Path(__file__).resolve().parents[1] / "experiments" / "validation.toml")
CHECKS = [target for target in SPEC.targets if target.kind == VERIFICATION]
SMALL = {"n_customers": 3000, "years": 4}


@cache
def _table() -> pd.DataFrame:
    spec = SPEC.only(CHECKS)
    spec.scenarios = {name: {**values, **SMALL} for name, values in spec.scenarios.items()}
    spec.replications = 4
    return compare(spec, measure(spec, Config()))


def test_the_spec_labels_input_echoes_identities_and_signs_as_verification() -> None:
    names = {target.name for target in CHECKS}
    assert {"wom_satisfied", "agent_contact_cost", "routing_saving", "hostages_monopoly"} <= names
    assert not any(target.calibrate for target in CHECKS)
    assert all(target.verification for target in CHECKS)  # each says why it is a check of the code


@pytest.mark.parametrize("name", [target.name for target in CHECKS])
def test_verification_target_holds(name: str) -> None:
    row = _table().set_index("target").loc[name]
    interval = f"{row['ci_low']:.4g} to {row['ci_high']:.4g}"
    assert row["passed"], f"{name}: {row['simulated']:.4g} ({interval}), want {row['wanted']}"
