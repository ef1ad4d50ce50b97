"""Identification of the calibration (relsim identify): the numerical pieces on linear moment functions whose
Jacobian, rank, standard errors and profiles are known, then the command on a tiny simulated calibration."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from sim.cli import main
from sim.errors import ConfigError
from sim.experiments.validation.identification import (
    CHI2_1_95,
    identify,
    jacobian,
    load_settings,
    objective,
    profile_extent,
    profiles,
)

RNG = np.random.default_rng(3)
A = RNG.normal(size=(5, 3))  # 5 moments, 3 parameters, full column rank
B = RNG.normal(size=5)
BOUNDS = np.array([[-2.0, 2.0], [-1.0, 3.0], [0.0, 1.0]])


def linear(matrix: np.ndarray, offset: np.ndarray):
    def moments(points: np.ndarray) -> np.ndarray:
        return np.atleast_2d(points) @ matrix.T + offset

    return moments


def test_the_jacobian_of_a_linear_moment_function_is_its_matrix_even_at_a_bound():
    point = np.array([0.3, -1.0, 0.95])  # at the lower bound of the second, near the upper of the third
    estimate = jacobian(linear(A, B), point, np.array([0.1, 0.1, 0.1]), BOUNDS)
    np.testing.assert_allclose(estimate, A, rtol=1e-9, atol=1e-12)


def test_rank_condition_and_standard_errors_of_a_full_rank_problem():
    tolerance = np.array([0.5, 1.0, 2.0, 1.0, 0.25])
    widths = BOUNDS[:, 1] - BOUNDS[:, 0]
    result = identify(A, tolerance, widths, replications=2, rank_tolerance=1e-6)
    weighted = A.T @ np.diag(tolerance**-2) @ A
    expected = np.sqrt(np.diag((1 + 1 / 2) * np.linalg.inv(weighted)))
    assert result.rank == 3
    np.testing.assert_allclose(result.standard_errors, expected, rtol=1e-9)
    scaled = np.linalg.svd(A / tolerance[:, None] * widths, compute_uv=False)
    np.testing.assert_allclose(result.singular_values, scaled, rtol=1e-12)
    assert result.condition == pytest.approx(scaled[0] / scaled[-1])


def test_two_parameters_the_moments_cannot_tell_apart_are_not_identified():
    collinear = A.copy()
    collinear[:, 2] = 2 * collinear[:, 1]  # moving the third by 1 does what moving the second by 2 does
    result = identify(collinear, np.ones(5), np.ones(3), replications=2, rank_tolerance=1e-6)
    assert result.rank == 2 and result.condition > 1e10
    assert np.isinf(result.standard_errors[1:]).all() and np.isfinite(result.standard_errors[0])
    # the unseen direction: +2 on the second, -1 on the third (normalised; sign: largest loading positive)
    np.testing.assert_allclose(result.weakest, np.array([0, 2, -1]) / np.sqrt(5), atol=1e-9)


def test_more_parameters_than_moments_leave_a_null_direction():
    result = identify(A[:2], np.ones(2), np.ones(3), replications=5, rank_tolerance=1e-6)
    assert result.rank == 2 and np.isinf(result.condition) and len(result.singular_values) == 3


def test_profiles_of_a_linear_problem():
    """One Gauss-Newton step solves a linear least-squares problem exactly, so inside the box the re-optimised
    profile is the exact profile; the conditional profile is never below it; a parameter the moments ignore has
    a flat profile."""
    matrix = np.column_stack([A[:, 0], A[:, 1], np.zeros(5)])  # the third parameter moves no moment
    truth = np.array([0.2, 1.0, 0.5])
    target = matrix @ truth + B + RNG.normal(scale=0.1, size=5)  # over-identified: the minimum is above zero
    tolerance = np.full(5, 0.5)
    wide = np.array([[-50.0, 50.0], [-50.0, 50.0], [0.0, 1.0]])  # wide enough that clipping never binds
    fitted = np.linalg.lstsq(matrix[:, :2] / 0.5, (target - B) / 0.5, rcond=None)[0]
    point = np.append(fitted, 0.5)
    frame = profiles(linear(matrix, B), point, matrix, target, tolerance, wide, count=7, steps=1)
    assert (frame["profile"] <= frame["conditional"] + 1e-9).all()
    for row in frame[frame["parameter"] == 0].itertuples():
        others = np.linalg.lstsq(matrix[:, [1]] / 0.5, (target - B - matrix[:, 0] * row.value) / 0.5, rcond=None)[0]
        exact = objective(matrix @ np.array([row.value, others[0], 0.5]) + B, target, tolerance)[0]
        assert row.profile == pytest.approx(exact, rel=1e-9, abs=1e-9)
    minimum = float(objective(matrix @ point + B, target, tolerance)[0])
    flat = frame[frame["parameter"] == 2]
    np.testing.assert_allclose(flat["profile"], minimum, rtol=1e-9)
    assert profile_extent(flat, minimum)[2] == "flat"
    assert profile_extent(frame[frame["parameter"] == 0], minimum)[2] == "bounded"


def test_profile_extent_verdicts():
    values = np.linspace(0, 1, 11)
    rising = pd.DataFrame({"value": values, "profile": 100 * (values - 0.5) ** 2})
    open_right = pd.DataFrame({"value": values, "profile": 20 * np.maximum(0.5 - values, 0)})
    # 100 × 0.2² = 4 > 3.84 at 0.3 and 0.7, 1 at 0.4 and 0.6: the crossings interpolated between them
    low, high, verdict = profile_extent(rising, 0.0)
    assert verdict == "bounded"
    assert low == pytest.approx(0.3 + 0.1 * (4 - CHI2_1_95) / 3) and high == pytest.approx(1 - low)
    # 20 × (0.5 − v) is linear, so the interpolated crossing is exact; the profile is open on the right
    assert profile_extent(open_right, 0.0) == (pytest.approx(0.5 - CHI2_1_95 / 20), 1.0, "one side")
    flat = pd.DataFrame({"value": values, "profile": np.full(11, 2.0)})
    assert profile_extent(flat, 2.0) == (0.0, 1.0, "flat")
    assert pytest.approx(stats.chi2.ppf(0.95, 1), abs=1e-3) == CHI2_1_95


SETTINGS = """[identification]
spec = "{spec}"
config = "{config}"
replications = 1
noise_replications = 3
step = 0.05
check_step = 0.1
profile_points = 3
gauss_newton_steps = 1
rank_tolerance = 0.01
"""
SPEC = """[settings]
replications = 2
seed = 7
[scenarios.complaint_outcomes]
n_customers = 400
years = 2
[targets.silent]
experiment = "complaint_outcomes"
measure = "repurchase_minor_silent"
source = "s"
description = "d"
value = 0.4
tolerance = 0.1
calibrate = true
[targets.resolved]
experiment = "complaint_outcomes"
measure = "repurchase_minor_resolved"
source = "s"
description = "d"
value = 0.7
tolerance = 0.1
calibrate = true
[calibration.parameters]
churn_intercept = [-4.0, -1.0]
"""


def _files(tmp_path, **changes):
    (tmp_path / "spec.toml").write_text(SPEC)
    (tmp_path / "fit.toml").write_text("churn_intercept = -2.5\n")
    text = SETTINGS.format(spec=tmp_path / "spec.toml", config=tmp_path / "fit.toml")
    for key, value in changes.items():
        text = text.replace(f"{key} = ", f"{key} = {value}\n# was: ")
    (tmp_path / "settings.toml").write_text(text)
    return str(tmp_path / "settings.toml")


def test_the_command_writes_its_report(tmp_path, capsys):
    out = tmp_path / "identification"
    assert main(["identify", "--settings", _files(tmp_path), "--out", str(out), "--workers", "2"]) == 0
    printed = capsys.readouterr().out
    assert "1 parameters, 2 moments; Jacobian rank 1" in printed
    names = sorted(p.name for p in out.iterdir() if not p.name.startswith("."))
    assert names == ["IDENTIFICATION.md", "jacobian.csv", "profiles.csv", "profiles.png", "summary.csv"]
    report = (out / "IDENTIFICATION.md").read_text()
    assert "1 parameters, 2 moments (the TARP calibration targets): 1 over-identifying restriction" in report
    frame = pd.read_csv(out / "profiles.csv")
    assert sorted(frame["value"].unique()) == [-4.0, -2.5, -1.0]  # the box's ends, its middle and the fit


@pytest.mark.parametrize(
    ("change", "field"),
    [({"step": 0.9}, "identification.step"), ({"profile_points": "'many'"}, "identification.profile_points")],
)
def test_bad_settings_are_refused_in_one_line(tmp_path, capsys, change, field):
    out = tmp_path / "identification"
    assert main(["identify", "--settings", _files(tmp_path, **change), "--out", str(out)]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and field in error and not out.exists()
    with pytest.raises(ConfigError):
        load_settings(_files(tmp_path, **change))
