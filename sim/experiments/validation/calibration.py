"""Calibration by simulated method of moments: fit the spec's free parameters to its calibration targets.

The optimiser asks for one objective value at a time; each value's replications run on the engine's evaluator,
so a fit uses every core without changing its result. The fitted parameters are written as a flat config file
with a header naming its origin: that header is how ``relsim calibrate`` recognises a file it wrote itself, and
it never replaces any other file.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sim.core.config import Config
from sim.engine.evaluators import Evaluator, make_evaluator
from sim.errors import ConfigError
from sim.experiments.validation.replications import compare, measure
from sim.experiments.validation.targets import Spec
from sim.files import atomic_write

HEADER = "# Written by `relsim calibrate`"
DEFAULT_FOLDER = Path("out")


@dataclass
class Calibration:
    parameters: dict[str, float]
    objective: float
    evaluations: int
    fitted: pd.DataFrame
    seconds: float


def calibrate(
    spec: Spec,
    base: Config,
    replications: int = 2,
    max_evaluations: int = 250,
    evaluator: Evaluator | None = None,
    progress: Callable[[int, float, float], None] | None = None,
) -> Calibration:
    """Fit ``spec.calibration_parameters`` to the calibration targets.

    Objective: the sum over targets of ((simulated mean - target) / tolerance)^2, with the simulated means
    from fixed seeds (common random numbers keep the objective smooth enough for a derivative-free search).
    Powell's method searches the box given in the spec; the start is the base config. The objective is
    deterministic but rough (a count of simulated customers), and Powell may end on a point worse than one it
    has tried, so the result is the best point evaluated. ``progress(evaluations, objective, best objective)`` is
    called after every evaluation.
    """
    from scipy import optimize

    targets = [target for target in spec.targets if target.calibrate]
    if not targets or not spec.calibration_parameters:
        raise ConfigError("calibration", "the spec marks no targets with calibrate = true or lists no parameters")
    names = list(spec.calibration_parameters)
    bounds = [spec.calibration_parameters[name] for name in names]
    experiments = {target.experiment for target in targets}
    fitted_spec = spec.only(targets)
    evaluator = evaluator or make_evaluator()
    count, best, best_vector = 0, math.inf, None
    started = time.perf_counter()

    def objective(vector: np.ndarray) -> float:
        nonlocal count, best, best_vector
        count += 1
        candidate = base.replace(**{name: float(value) for name, value in zip(names, vector, strict=True)})
        table = compare(fitted_spec, measure(fitted_spec, candidate, replications, experiments, evaluator))
        values = table.set_index("target")["simulated"]
        loss = sum(((values[t.name] - t.value) / t.tolerance) ** 2 for t in targets if not math.isnan(values[t.name]))
        if loss < best:
            best, best_vector = float(loss), np.array(vector, dtype=float)
        if progress:
            progress(count, float(loss), best)
        return float(loss)

    start = np.array(
        [min(max(getattr(base, name), low), high) for name, (low, high) in zip(names, bounds, strict=True)]
    )
    with evaluator:  # one pool for the whole fit
        optimize.minimize(
            objective,
            start,
            method="Powell",
            bounds=bounds,
            options={"maxfev": max_evaluations, "xtol": 1e-2, "ftol": 1e-3},
        )
        fitted = {name: round(float(value), 4) for name, value in zip(names, best_vector, strict=True)}
        measurements = measure(fitted_spec, base.replace(**fitted), spec.replications, experiments, evaluator)
    table = compare(fitted_spec, measurements)
    return Calibration(fitted, best, count, table, time.perf_counter() - started)


def default_path(spec: Spec) -> Path:
    """Where a fit goes unless told otherwise: a new file named by the spec's hash, never the committed config."""
    return DEFAULT_FOLDER / (f"calibrated-{spec.digest}.toml" if spec.digest else "calibrated.toml")


def written_by_calibrate(path: Path) -> bool:
    try:
        with open(path, encoding="utf-8", errors="replace") as stream:
            return stream.readline().startswith(HEADER)
    except OSError:
        return False


def check_out(path: str | Path, force: bool = False) -> Path:
    """Refuse an output that exists, unless ``force``; even then, refuse one that ``relsim calibrate`` did not
    write (its first line is not our header). Checked before the fit, so a refusal costs nothing."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError("--out", f"{path} is a folder; give a file name such as {path / 'calibrated.toml'}")
    if path.exists() or path.is_symlink():
        if not force:
            raise ConfigError("--out", f"{path} exists; pass --force to replace it or choose another --out")
        if not written_by_calibrate(path):
            raise ConfigError("--out", f"{path} was not written by relsim calibrate; it is never replaced")
    return path


def write_calibrated(calibration: Calibration, path: str | Path, spec: Spec) -> Path:
    """The fitted parameters as a flat config file the other experiments can load (atomically replaced)."""
    path = Path(path)
    lines = [
        f"{HEADER}: the behavioural parameters fitted to the stylized facts of",
        f"# {spec.path} (spec hash {spec.digest}); every other field keeps its default.",
        f"# Objective (sum of squared misses in tolerance units) {calibration.objective:.3f} after",
        f"# {calibration.evaluations} evaluations, {calibration.seconds:.0f} s.",
        *(f"{name} = {value!r}" for name, value in calibration.parameters.items()),
    ]
    text = "\n".join(lines) + "\n"
    atomic_write(path, lambda temporary: temporary.write_text(text))
    return path
