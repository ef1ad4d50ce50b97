"""The targets file: stylized facts as data (``experiments/validation.toml``), read into a checked :class:`Spec`.

Each target names an experiment (:mod:`.measures`, run in the ``[scenarios]`` section of the same name), the
measurement it compares, its source, and either ``value`` ± ``tolerance`` or a range (``low`` and/or ``high``).
``calibrate = true`` marks the targets ``relsim calibrate`` fits; ``verification = "why"`` the input echoes,
identities and signs fixed by the rules (tests of the code, run by tests/test_verification.py); every other target
is out of sample.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sim.core.config import FIELDS, from_mapping
from sim.core.inputs import is_field
from sim.errors import ConfigError
from sim.experiments.validation.measures import EXPERIMENTS
from sim.files import read_toml

CALIBRATION = "calibration"  # fitted by `relsim calibrate`: passing shows the fit, not the model's validity
VERIFICATION = "verification"  # an input echo, an identity or a sign fixed by the rules: a test of the code only
OUT_OF_SAMPLE = "out-of-sample"  # never used in fitting
KINDS = (OUT_OF_SAMPLE, VERIFICATION, CALIBRATION)
MIN_REPLICATIONS = 2  # a t interval needs two replications


@dataclass(frozen=True)
class Target:
    name: str
    experiment: str
    measure: str
    source: str
    description: str
    value: float | None = None  # a point target with a tolerance ...
    tolerance: float | None = None
    low: float | None = None  # ... or a range (either bound may be open)
    high: float | None = None
    calibrate: bool = False
    verification: str = ""  # why the target verifies the code rather than tests the model (empty: it does not)

    def passes(self, mean: float, ci_low: float, ci_high: float) -> bool:
        """Point targets: the mean within the tolerance. Ranges: the whole CI inside the range, so that a
        directional claim ("more hostages under monopoly") passes only when the difference is significant; an
        interval that could not be computed (NaN) never passes a range."""
        if self.value is not None:
            return abs(mean - self.value) <= self.tolerance
        inside_low = self.low is None or ci_low > self.low
        inside_high = self.high is None or ci_high < self.high
        return inside_low and inside_high

    @property
    def kind(self) -> str:
        if self.calibrate:
            return CALIBRATION
        return VERIFICATION if self.verification else OUT_OF_SAMPLE

    @property
    def wanted(self) -> str:
        if self.value is not None:
            return f"{self.value:g} ± {self.tolerance:g}"
        if self.low is not None and self.high is not None:
            return f"{self.low:g} to {self.high:g}"
        return f"> {self.low:g}" if self.low is not None else f"< {self.high:g}"


@dataclass
class Spec:
    targets: list[Target]
    scenarios: dict[str, dict[str, Any]]
    replications: int
    seed: int
    calibration_parameters: dict[str, tuple[float, float]] = field(default_factory=dict)
    path: Path | None = None

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()[:12] if self.path else ""

    def only(self, targets: list[Target]) -> Spec:
        """The same spec restricted to some targets (calibration compares only the fitted ones)."""
        return Spec(targets, self.scenarios, self.replications, self.seed, self.calibration_parameters, self.path)


_TARGET_KEYS = {
    "experiment",
    "measure",
    "source",
    "description",
    "value",
    "tolerance",
    "low",
    "high",
    "calibrate",
    "verification",
}


def load_spec(path: str | Path) -> Spec:
    """Read and check a validation spec; every problem is a ConfigError naming the key."""
    path = Path(path)
    data = read_toml(path, "--spec")[0]
    unknown = set(data) - {"settings", "scenarios", "targets", "calibration"}
    if unknown:
        raise ConfigError(sorted(unknown)[0], "unknown section; allowed: settings, scenarios, targets, calibration")
    settings = data.get("settings", {})
    scenarios = {name: _flat(values) for name, values in data.get("scenarios", {}).items()}
    _check_scenarios(scenarios)
    targets = [_target(name, values, scenarios) for name, values in data.get("targets", {}).items()]
    parameters = _calibration_parameters(data.get("calibration", {}).get("parameters", {}))
    replications = settings.get("replications", 10)
    if not isinstance(replications, int) or replications < MIN_REPLICATIONS:
        raise ConfigError("settings.replications", f"must be an integer of at least {MIN_REPLICATIONS}")
    return Spec(targets, scenarios, replications, int(settings.get("seed", 0)), parameters, path)


def _flat(values: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """TOML reads ``levels.partnership.structural_bond = 0.5`` as nested tables; the config's name is the dotted
    one, as in sweep specs."""
    flat: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, dict):
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _check_scenarios(scenarios: dict[str, dict[str, Any]]) -> None:
    for name, values in scenarios.items():
        for key in values:  # config fields and level parameters (levels.NAME.PARAMETER)
            if not is_field(key) and key != "defection_cut":
                raise ConfigError(f"scenarios.{name}.{key}", "unknown field; see `relsim fields`")
        try:
            from_mapping({k: v for k, v in values.items() if k != "defection_cut"})
        except ConfigError as error:
            raise ConfigError(f"scenarios.{name}.{error.field}", str(error).split(": ", 1)[1]) from None


def _target(name: str, values: dict[str, Any], scenarios: dict[str, Any]) -> Target:
    where = f"targets.{name}"
    extra = set(values) - _TARGET_KEYS
    if extra:
        raise ConfigError(f"{where}.{sorted(extra)[0]}", f"unknown key; allowed: {', '.join(sorted(_TARGET_KEYS))}")
    if values.get("experiment") not in EXPERIMENTS:
        raise ConfigError(f"{where}.experiment", f"must be one of {', '.join(EXPERIMENTS)}")
    if values["experiment"] not in scenarios:
        raise ConfigError(f"{where}.experiment", f"needs a [scenarios.{values['experiment']}] section")
    is_point = "value" in values
    if is_point == ("low" in values or "high" in values) or is_point != ("tolerance" in values):
        raise ConfigError(where, "give either value and tolerance, or low and/or high")
    return Target(
        name=name,
        **{key: values.get(key, "") for key in ("experiment", "measure", "source", "description")},
        value=values.get("value"),
        tolerance=values.get("tolerance"),
        low=values.get("low"),
        high=values.get("high"),
        calibrate=bool(values.get("calibrate", False)),
        verification=str(values.get("verification", "")),
    )


def _calibration_parameters(table: dict[str, Any]) -> dict[str, tuple[float, float]]:
    parameters = {}
    for name, bounds in table.items():
        if name not in FIELDS:
            raise ConfigError(f"calibration.parameters.{name}", "unknown field; see `relsim fields`")
        numbers = isinstance(bounds, list) and all(isinstance(b, (int, float)) for b in bounds)
        if not numbers or len(bounds) != 2 or not bounds[0] < bounds[1]:
            raise ConfigError(f"calibration.parameters.{name}", "must be [low, high] with low < high")
        parameters[name] = (float(bounds[0]), float(bounds[1]))
    return parameters
