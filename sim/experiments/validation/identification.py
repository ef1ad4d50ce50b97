"""Identification of the calibration (issue 13, item 6): is the fitted point a point, or a ridge?

``relsim calibrate`` fits K parameters to M moments (the calibration targets) by simulated method of moments,
minimising Q(θ) = Σ ((m_j(θ) − target_j) / tolerance_j)². Here, at the fitted point:

- the Jacobian of the moments (finite differences, central where the box allows, with the fit's seeds: common
  random numbers), scaled to unit-free form (moments in tolerances, parameters in box widths), its singular
  values, numerical rank and condition number, and the direction of the smallest singular value;
- SMM standard errors, (1 + 1/S)(J'WJ)⁻¹ with W = diag(tolerance⁻²) and S the replications per point: valid only
  if the tolerances were the standard errors of the published moments (an assumption: TARP gave no sample sizes);
- one-dimensional profiles of Q over each parameter's box: conditional (the others held at the fit) and
  approximately re-optimised (the others moved by Gauss-Newton steps with the Jacobian at the fit, clipped to the
  box, the best point kept; an upper bound on the exact profile, which would need a full fit per point);
- the moments' sampling correlation across replications at the fit.

The numerical pieces take a batch moment function (an array of points → an array of moments), so the tests check
them on a linear problem whose Jacobian, rank and profiles are known.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.core.config import Config
from sim.engine.evaluators import Evaluator
from sim.errors import ConfigError
from sim.experiments.validation.replications import compare, measure, replication_tasks, run_replication
from sim.experiments.validation.targets import Spec
from sim.files import read_toml

Moments = Callable[[np.ndarray], np.ndarray]  # points (n × K) → moments (n × M)
CHI2_1_95 = 3.841  # 95 % point of χ²(1): the profile threshold, if the tolerances were standard errors

SETTINGS = {  # key: (type, minimum, maximum)
    "replications": (int, 1, 100),
    "noise_replications": (int, 3, 1000),
    "step": (float, 1e-4, 0.25),
    "check_step": (float, 1e-4, 0.25),
    "profile_points": (int, 3, 101),
    "gauss_newton_steps": (int, 0, 10),
    "rank_tolerance": (float, 1e-12, 0.5),
}


@dataclass(frozen=True)
class Settings:
    spec: str  # the targets file whose calibration is examined
    config: str  # the fitted config
    replications: int  # seeds per point (the fit's, so the objective is the one that was minimised)
    noise_replications: int  # seeds at the fit for the moments' sampling correlation
    step: float  # finite-difference step, as a fraction of each parameter's box
    check_step: float  # a second step: derivatives that change much with the step are unreliable
    profile_points: int  # grid points per parameter, spanning its whole box
    gauss_newton_steps: int  # re-optimisation steps of the other parameters at each profile point
    rank_tolerance: float  # a scaled singular value below this fraction of the largest counts as zero


def load_settings(path: str | Path) -> Settings:
    data = read_toml(path, "--settings")[0].get("identification")
    if not isinstance(data, dict):
        raise ConfigError("identification", f"missing table [identification] in {path}")
    unknown = set(data) - set(SETTINGS) - {"spec", "config"}
    if unknown:
        allowed = ", ".join(["spec", "config", *SETTINGS])
        raise ConfigError(f"identification.{sorted(unknown)[0]}", f"unknown key; allowed: {allowed}")
    values: dict[str, Any] = {}
    for key, (kind, low, high) in SETTINGS.items():
        value = data.get(key)
        if not isinstance(value, (int, float)) or isinstance(value, bool) or (kind is int and value != int(value)):
            raise ConfigError(f"identification.{key}", f"must be a number ({kind.__name__}) from {low} to {high}")
        if not low <= value <= high:
            raise ConfigError(f"identification.{key}", f"must be from {low} to {high}; got {value}")
        values[key] = kind(value)
    for key in ("spec", "config"):
        if not isinstance(data.get(key), str):
            raise ConfigError(f"identification.{key}", "must be a file name")
    return Settings(spec=data["spec"], config=data["config"], **values)


# --- the numerical pieces -----------------------------------------------------------------------------------------
def objective(moments: np.ndarray, target: np.ndarray, tolerance: np.ndarray) -> np.ndarray:
    """Q for each row of ``moments``: the sum of squared misses in tolerance units (calibrate's objective)."""
    return (((np.atleast_2d(moments) - target) / tolerance) ** 2).sum(axis=1)


def difference_points(point: np.ndarray, steps: np.ndarray, bounds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The 2K points of a central difference (a step clipped at a bound makes it one-sided) and their spacing."""
    upper = np.minimum(point + steps, bounds[:, 1])
    lower = np.maximum(point - steps, bounds[:, 0])
    points = np.repeat(point[None, :], 2 * len(point), axis=0)
    index = np.arange(len(point))
    points[2 * index, index] = upper
    points[2 * index + 1, index] = lower
    return points, upper - lower


def jacobian(moments: Moments, point: np.ndarray, steps: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """dm/dθ (M × K) at ``point`` by central differences of step ``steps`` (one batch of 2K evaluations)."""
    points, spacing = difference_points(point, steps, bounds)
    values = moments(points)
    return ((values[0::2] - values[1::2]) / spacing[:, None]).T


@dataclass
class Identification:
    singular_values: np.ndarray  # of the scaled Jacobian, largest first
    rank: int
    condition: float  # largest / smallest singular value (inf when one is zero)
    standard_errors: np.ndarray  # in parameter units (inf: not identified locally)
    weakest: np.ndarray  # the parameter direction (in box widths) of the smallest singular value, unit length


def identify(
    jac: np.ndarray, tolerance: np.ndarray, widths: np.ndarray, replications: int, rank_tolerance: float
) -> Identification:
    """Rank, conditioning and SMM standard errors from the Jacobian (moments in tolerances, parameters in widths)."""
    scaled = jac / tolerance[:, None] * widths[None, :]
    _, singular, right = np.linalg.svd(scaled, full_matrices=False)
    if len(singular) < jac.shape[1]:  # fewer moments than parameters: the missing singular values are zero
        singular = np.concatenate([singular, np.zeros(jac.shape[1] - len(singular))])
        right = np.linalg.svd(scaled, full_matrices=True)[2]
    rank = int((singular > rank_tolerance * singular[0]).sum()) if singular[0] > 0 else 0
    condition = float(singular[0] / singular[-1]) if singular[-1] > 0 else float("inf")
    inverse = np.zeros_like(singular)
    inverse[:rank] = 1 / singular[:rank] ** 2
    variance = (right.T**2 * inverse[None, :]).sum(axis=1)  # diagonal of V S⁻² V' (box widths²)
    loaded = (np.abs(right[rank:]) > 1e-9).any(axis=0)  # parameters that move along a null direction
    errors = np.sqrt((1 + 1 / replications) * variance) * widths
    errors[loaded] = np.inf
    weakest = right[-1] * np.sign(right[-1][np.argmax(np.abs(right[-1]))])  # its largest loading positive
    return Identification(singular, rank, condition, errors, weakest)


def profile_points(bounds: np.ndarray, index: int, count: int, fitted: float) -> np.ndarray:
    """An even grid over the box of parameter ``index``, plus the fitted value itself."""
    return np.unique(np.append(np.linspace(bounds[index, 0], bounds[index, 1], count), fitted))


def profiles(
    moments: Moments,
    point: np.ndarray,
    jac: np.ndarray,
    target: np.ndarray,
    tolerance: np.ndarray,
    bounds: np.ndarray,
    count: int,
    steps: int,
) -> pd.DataFrame:
    """Q along each parameter's box: ``conditional`` (the others at ``point``) and ``profile`` (the best of the
    conditional point and ``steps`` Gauss-Newton steps of the others with the fixed Jacobian ``jac``, clipped to
    the box). One row per (parameter index, value); every step is one batch of evaluations over all rows."""
    grid = [(k, v) for k in range(len(point)) for v in profile_points(bounds, k, count, point[k])]
    current = np.repeat(point[None, :], len(grid), axis=0)
    for row, (k, value) in enumerate(grid):
        current[row, k] = value
    values = moments(current)
    conditional = objective(values, target, tolerance)
    best, best_points = conditional.copy(), current.copy()
    weighted = jac / tolerance[:, None]
    for _ in range(steps):
        for row, (k, _value) in enumerate(grid):
            free = [j for j in range(len(point)) if j != k]
            residual = (values[row] - target) / tolerance
            move = np.linalg.lstsq(weighted[:, free], -residual, rcond=None)[0]
            current[row, free] = np.clip(current[row, free] + move, bounds[free, 0], bounds[free, 1])
        values = moments(current)
        loss = objective(values, target, tolerance)
        better = loss < best
        best[better], best_points[better] = loss[better], current[better]
    frame = pd.DataFrame({"parameter": [k for k, _ in grid], "value": [v for _, v in grid]})
    frame["conditional"], frame["profile"] = conditional, best
    for j in range(len(point)):
        frame[f"at_{j}"] = best_points[:, j]
    return frame


def profile_extent(frame: pd.DataFrame, minimum: float, threshold: float = CHI2_1_95) -> tuple[float, float, str]:
    """Where the profile lies within ``threshold`` of ``minimum`` (from the outermost grid points inside to where
    the profile crosses the threshold, interpolated linearly to the next grid point out), and a verdict:
    'bounded' when it rises above the threshold on both sides inside the box, 'one side' on one, 'flat' on none."""
    ordered = frame.sort_values("value")
    values, losses = ordered["value"].to_numpy(float), ordered["profile"].to_numpy(float) - minimum
    inside = np.flatnonzero(losses <= threshold)
    first, last = inside[0], inside[-1]

    def crossing(inner: int, outer: int) -> float:
        share = (threshold - losses[inner]) / (losses[outer] - losses[inner])
        return float(values[inner] + share * (values[outer] - values[inner]))

    low = crossing(first, first - 1) if first > 0 else float(values[0])
    high = crossing(last, last + 1) if last < len(values) - 1 else float(values[-1])
    closed = int(first > 0) + int(last < len(values) - 1)
    return low, high, ("flat", "one side", "bounded")[closed]


def recorded_objective(path: str | Path) -> float | None:
    """The objective ``relsim calibrate`` wrote in the fitted config's header (None if the file has none)."""
    text = Path(path).read_text(encoding="utf-8", errors="replace")
    found = re.search(r"^# Objective \(sum of squared misses in tolerance units\) ([0-9.]+)", text, re.MULTILINE)
    return float(found.group(1)) if found else None


# --- the simulated moments ----------------------------------------------------------------------------------------
def simulated_moments(
    spec: Spec, base: Config, names: list[str], replications: int, evaluator: Evaluator
) -> tuple[Moments, list[str]]:
    """The batch moment function of the calibration targets (the targets' order), from ``replications`` seeds per
    point (the spec's seed rule: common random numbers across points); one evaluator call per batch."""
    targets = [target for target in spec.targets if target.calibrate]
    fitted = spec.only(targets)
    experiments = {target.experiment for target in targets}

    def moments(points: np.ndarray) -> np.ndarray:
        tasks, owners = [], []
        for row, vector in enumerate(np.atleast_2d(points)):
            config = base.replace(**{name: float(value) for name, value in zip(names, vector, strict=True)})
            for task in replication_tasks(fitted, config, replications, experiments):
                tasks.append(task)
                owners.append(row)
        rows: list[list[dict]] = [[] for _ in range(len(np.atleast_2d(points)))]
        results: list[dict] = [{} for _ in tasks]
        for index, result in evaluator.evaluate(run_replication, tasks):
            results[index] = result
        for owner, result in zip(owners, results, strict=True):
            rows[owner].append(result)
        out = []
        for group in rows:
            frame = pd.DataFrame(group).sort_values(["experiment", "replication"], kind="stable")
            out.append(compare(fitted, frame).set_index("target").loc[[t.name for t in targets], "simulated"])
        return np.array(out, dtype=float)

    return moments, [target.name for target in targets]


@dataclass
class Result:
    settings: Settings
    names: list[str]  # the calibrated parameters
    bounds: np.ndarray  # K × 2: their boxes (the spec's [calibration.parameters])
    fitted: np.ndarray  # the fitted config's values
    targets: list[str]  # the calibration targets (the moments)
    target: np.ndarray
    tolerance: np.ndarray
    moments: np.ndarray  # at the fit, from the settings' replications
    objective: float  # Q at the fit
    jacobian: np.ndarray  # M × K at the settings' step
    check: np.ndarray  # M × K at the check step
    identification: Identification
    profiles: pd.DataFrame
    correlation: pd.DataFrame  # the moments' correlation across replications at the fit
    noise: np.ndarray  # the moments' standard deviation across single replications, in tolerances
    evaluations: int  # simulated points (each of ``settings.replications`` seeds)
    seconds: float
    recorded: float | None = None  # the objective the fitted config's header records (its fit's code and spec)
    check_identification: Identification | None = None  # rank and conditioning at the check step

    @property
    def lowest(self) -> pd.Series:
        """The profile point with the lowest objective (the fit itself if none is lower)."""
        return self.profiles.loc[self.profiles["profile"].idxmin()]


def run_identification(
    settings: Settings, spec: Spec, base: Config, evaluator: Evaluator, recorded: float | None = None
) -> Result:
    """Everything the identification report needs, at the fitted config ``base``, on ``evaluator`` (``recorded``:
    the objective the fitted config's header gives, for comparison)."""
    started = time.perf_counter()
    names = list(spec.calibration_parameters)
    if not names or not any(target.calibrate for target in spec.targets):
        raise ConfigError("calibration", "the spec marks no targets with calibrate = true or lists no parameters")
    bounds = np.array([spec.calibration_parameters[name] for name in names], dtype=float)
    fitted = np.array([getattr(base, name) for name in names], dtype=float)
    outside = [name for name, value, (low, high) in zip(names, fitted, bounds, strict=True) if not low <= value <= high]
    if outside:
        raise ConfigError(outside[0], "the fitted value lies outside its box in the spec's [calibration.parameters]")
    calibrated = [target for target in spec.targets if target.calibrate]
    target = np.array([t.value for t in calibrated], dtype=float)
    tolerance = np.array([t.tolerance for t in calibrated], dtype=float)
    widths = bounds[:, 1] - bounds[:, 0]
    count = 0
    with evaluator:
        simulate, order = simulated_moments(spec, base, names, settings.replications, evaluator)

        def moments(points: np.ndarray) -> np.ndarray:
            nonlocal count
            count += len(np.atleast_2d(points))
            return simulate(points)

        at_fit = moments(fitted[None, :])[0]
        jac = jacobian(moments, fitted, settings.step * widths, bounds)
        check = jacobian(moments, fitted, settings.check_step * widths, bounds)
        table = profiles(
            moments, fitted, jac, target, tolerance, bounds, settings.profile_points, settings.gauss_newton_steps
        )
        fitted_spec = spec.only(calibrated)
        rows = measure(fitted_spec, base, settings.noise_replications, {t.experiment for t in calibrated}, evaluator)
    table.insert(1, "name", [names[k] for k in table["parameter"]])
    per_replication = pd.DataFrame(
        {t.name: rows.loc[rows["experiment"] == t.experiment, t.measure].to_numpy() for t in calibrated}
    )
    return Result(
        settings, names, bounds, fitted, order, target, tolerance, at_fit,
        float(objective(at_fit, target, tolerance)[0]), jac, check,
        identify(jac, tolerance, widths, settings.replications, settings.rank_tolerance), table,
        per_replication.corr(), per_replication.std(ddof=1).to_numpy() / tolerance, count,
        time.perf_counter() - started, recorded,
        identify(check, tolerance, widths, settings.replications, settings.rank_tolerance),
    )  # fmt: skip
