"""Stylized facts as data: reproduce them, calibrate to them, report on them (issue 4; Rand & Rust 2011).

The targets live in ``experiments/validation.toml``. Each names an *experiment* (a function below that runs
the model in a documented scenario and returns named measurements), the measurement it compares, the
published value, its source, and a tolerance. ``relsim validate`` runs every experiment over several seeds
and writes a report; ``relsim calibrate`` fits the free behavioural parameters to the targets marked
``calibrate = true`` by simulated method of moments. Kotler's matrix is never a target.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize

from sim.core.config import FIELDS, Config, ConfigError, from_mapping, load
from sim.core.model import RelationshipModel
from sim.core.trace import OUTCOMES, repurchase_after_problem
from sim.files import atomic_write, read_toml
from sim.outputs.results import run
from sim.outputs.stats import mean_interval

# ---------------------------------------------------------------------------------------------------------------
# Experiments: each runs the model from a base config and a seed and returns named measurements.


def complaint_outcomes(base: Config, seed: int, scenario: dict[str, Any]) -> dict[str, float]:
    """TARP's repurchase shares: customers still served 12 months after a problem, by severity and outcome."""
    config = base.replace(**scenario, seed=seed)
    model = RelationshipModel(config, trace=True).run()
    table = repurchase_after_problem(model.trace, horizon_months=12, last_period=config.periods)
    return {f"repurchase_{row.severity}_{row.outcome}": float(row.repurchase) for row in table.itertuples()}


def word_of_mouth(base: Config, seed: int, scenario: dict[str, Any]) -> dict[str, float]:
    """People told per satisfied and per dissatisfied story."""
    monthly = run(base.replace(**scenario, seed=seed)).monthly
    return {
        "people_told_per_satisfied_story": monthly["good_mentions"].sum() / monthly["happy_tellers"].sum(),
        "people_told_per_dissatisfied_story": monthly["bad_mentions"].sum() / monthly["unhappy_tellers"].sum(),
        "bad_to_good_mentions": monthly["bad_mentions"].sum() / monthly["good_mentions"].sum(),
    }


def channel_costs(base: Config, seed: int, scenario: dict[str, Any]) -> dict[str, float]:
    """Cost per contact by channel, and what routing the lowest-value customers to IVR saves and loses."""
    routed_share = scenario.get("ivr_routing_share", 0.5)
    plain = run(base.replace(**{**scenario, "ivr_routing_share": 0.0}, seed=seed))
    routed = run(base.replace(**scenario, seed=seed))
    monthly = routed.monthly
    before, after = plain.summary, routed.summary
    # routing moves the inbound contacts (questions, complaints) of the routed customers; outbound ones stay
    inbound_share = (plain.monthly["cost_question"].sum() + plain.monthly["cost_complaint"].sum()) / max(
        plain.monthly["relationship_cost"].sum(), 1e-12
    )
    saving_per_contact = 1 - base.ivr_contact_cost / base.agent_contact_cost
    return {
        "cost_per_agent_contact": monthly["cost_agent"].sum() / monthly["contacts_agent"].sum(),
        "cost_per_ivr_contact": monthly["cost_ivr"].sum() / monthly["contacts_ivr"].sum(),
        "routing_cost_to_serve_change": after["cost_to_serve_per_customer"] / before["cost_to_serve_per_customer"] - 1,
        "routing_expected_cost_change": -routed_share * inbound_share * saving_per_contact,
        "routing_saving_vs_expected": (after["cost_to_serve_per_customer"] / before["cost_to_serve_per_customer"] - 1)
        / (-routed_share * inbound_share * saving_per_contact),
        "routing_retention_change": after["retention_rate"] - before["retention_rate"],
        "routing_profit_change": after["discounted_profit"] / before["discounted_profit"] - 1,
    }


def acquisition(base: Config, seed: int, scenario: dict[str, Any]) -> dict[str, float]:
    """Cost of a customer won by paid marketing, as a multiple of the yearly cost of keeping one."""
    config = base.replace(**scenario, seed=seed)
    monthly = run(config).monthly
    paid = (monthly["joined"] - monthly["joined_by_referral"]).sum()
    keeping = config.keeping_cost_share * config.revenue_per_customer
    return {
        "acquisition_cost_multiple_effective": monthly["acquisition_cost"].sum() / paid / keeping,
        "acquisition_cost_multiple_nominal": config.acquisition_cost_multiple,
    }


def defections(base: Config, seed: int, scenario: dict[str, Any]) -> dict[str, float]:
    """Reichheld & Sasser (1990): profit gained by cutting the defection rate by 5 percentage points.

    The cut is made by lowering the switching baseline (``churn_intercept``) until the mean annual churn is
    5 points lower with the same random numbers (bisection); profit is the 10-year discounted profit.
    """
    cut = scenario.pop("defection_cut", 0.05)
    config = base.replace(**scenario, seed=seed)
    reference = run(config).summary
    goal = reference["churn_rate"] - cut

    def churn_after(shift: float) -> float:
        return run(config.replace(churn_intercept=config.churn_intercept - shift)).summary["churn_rate"]

    low, high = 0.0, 1.0
    while churn_after(high) > goal and high < 40:
        low, high = high, high * 2
    for _ in range(14):
        middle = (low + high) / 2
        low, high = (middle, high) if churn_after(middle) > goal else (low, middle)
    improved = run(config.replace(churn_intercept=config.churn_intercept - high)).summary
    return {
        "churn_before": reference["churn_rate"],
        "churn_after": improved["churn_rate"],
        "profit_increase": improved["discounted_profit"] / reference["discounted_profit"] - 1,
    }


def quadrant(base: Config, seed: int, scenario: dict[str, Any]) -> dict[str, float]:
    """Satisfaction is not loyalty: hostages under monopoly and high switching cost, mercenaries under price
    competition. Each measure is a difference of quadrant shares against the scenario's market."""
    config = base.replace(**scenario, seed=seed)

    def shares(**changes: Any) -> dict[str, float]:
        return run(config.replace(**changes)).summary["quadrant_shares"]

    market = shares()
    monopoly = shares(competition=0.0)
    locked_in = shares(switching_cost_mean=config.switching_cost_mean * 5)
    fierce = shares(competition=1.0)
    mild = shares(competition=0.1)
    return {
        "hostage_share_market": market["hostage"],
        "hostage_share_monopoly": monopoly["hostage"],
        "hostage_gain_monopoly": monopoly["hostage"] - market["hostage"],
        "hostage_gain_switching_cost": locked_in["hostage"] - market["hostage"],
        "mercenary_share_monopoly": monopoly["mercenary"],
        "mercenary_gain_price_competition": fierce["mercenary"] - mild["mercenary"],
        "satisfied_share_not_loyal_price_competition": fierce["mercenary"] / (fierce["mercenary"] + fierce["loyalist"]),
    }


EXPERIMENTS: dict[str, Callable[[Config, int, dict[str, Any]], dict[str, float]]] = {
    "complaint_outcomes": complaint_outcomes,
    "word_of_mouth": word_of_mouth,
    "channel_costs": channel_costs,
    "acquisition": acquisition,
    "defections": defections,
    "quadrant": quadrant,
}


# ---------------------------------------------------------------------------------------------------------------
# The spec file


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

    def passes(self, mean: float, ci_low: float, ci_high: float) -> bool:
        """Point targets: the mean within the tolerance. Ranges: the whole CI inside the range, so that a
        directional claim ("more hostages under monopoly") passes only when the difference is significant."""
        if self.value is not None:
            return abs(mean - self.value) <= self.tolerance
        inside_low = self.low is None or ci_low > self.low
        inside_high = self.high is None or ci_high < self.high
        return inside_low and inside_high

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


_TARGET_KEYS = {"experiment", "measure", "source", "description", "value", "tolerance", "low", "high", "calibrate"}


def load_spec(path: str | Path) -> Spec:
    """Read and check a validation spec; every problem is a ConfigError naming the key."""
    path = Path(path)
    data = read_toml(path, "--spec")[0]
    unknown = set(data) - {"settings", "scenarios", "targets", "calibration"}
    if unknown:
        raise ConfigError(sorted(unknown)[0], "unknown section; allowed: settings, scenarios, targets, calibration")
    settings = data.get("settings", {})
    scenarios = data.get("scenarios", {})
    for name, values in scenarios.items():
        for key in values:
            if key not in FIELDS and key != "defection_cut":
                raise ConfigError(f"scenarios.{name}.{key}", "unknown field; see `relsim fields`")
        try:
            from_mapping({k: v for k, v in values.items() if k in FIELDS})
        except ConfigError as error:
            raise ConfigError(f"scenarios.{name}.{error.field}", str(error).split(": ", 1)[1]) from None
    targets = []
    for name, values in data.get("targets", {}).items():
        where = f"targets.{name}"
        extra = set(values) - _TARGET_KEYS
        if extra:
            raise ConfigError(f"{where}.{sorted(extra)[0]}", f"unknown key; allowed: {', '.join(sorted(_TARGET_KEYS))}")
        if values.get("experiment") not in EXPERIMENTS:
            raise ConfigError(f"{where}.experiment", f"must be one of {', '.join(EXPERIMENTS)}")
        if values["experiment"] not in scenarios:
            raise ConfigError(f"{where}.experiment", f"needs a [scenarios.{values['experiment']}] section")
        if ("value" in values) == ("low" in values or "high" in values) or ("value" in values) != (
            "tolerance" in values
        ):
            raise ConfigError(where, "give either value and tolerance, or low and/or high")
        targets.append(
            Target(
                name=name,
                **{key: values.get(key, "") for key in ("experiment", "measure", "source", "description")},
                value=values.get("value"),
                tolerance=values.get("tolerance"),
                low=values.get("low"),
                high=values.get("high"),
                calibrate=bool(values.get("calibrate", False)),
            )
        )
    parameters = {}
    for name, bounds in data.get("calibration", {}).get("parameters", {}).items():
        if name not in FIELDS:
            raise ConfigError(f"calibration.parameters.{name}", "unknown field; see `relsim fields`")
        if len(bounds) != 2 or not bounds[0] < bounds[1]:
            raise ConfigError(f"calibration.parameters.{name}", "must be [low, high] with low < high")
        parameters[name] = (float(bounds[0]), float(bounds[1]))
    replications = settings.get("replications", 10)
    if not isinstance(replications, int) or replications < 2:
        raise ConfigError("settings.replications", "must be an integer of at least 2")
    return Spec(targets, scenarios, replications, int(settings.get("seed", 0)), parameters, path)


# ---------------------------------------------------------------------------------------------------------------
# Running the experiments


def _seeds(root: int, count: int) -> list[int]:
    return [int(s.generate_state(1)[0]) for s in np.random.SeedSequence(root).spawn(count)]


def measure(
    spec: Spec,
    base: Config,
    replications: int | None = None,
    experiments: set[str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> pd.DataFrame:
    """Run each needed experiment for every seed; one row per (experiment, replication), one column per measure."""
    needed = experiments or {target.experiment for target in spec.targets}
    rows = []
    for name in sorted(needed):
        for replication, seed in enumerate(_seeds(spec.seed, replications or spec.replications)):
            if progress:
                progress(f"{name} {replication + 1}")
            values = EXPERIMENTS[name](base, seed, dict(spec.scenarios[name]))
            rows.append({"experiment": name, "replication": replication, **values})
    return pd.DataFrame(rows)




def compare(spec: Spec, measurements: pd.DataFrame) -> pd.DataFrame:
    """One row per target: simulated mean and 95 % CI against the target, pass or fail."""
    rows = []
    for target in spec.targets:
        if target.measure in measurements:
            values = measurements.loc[measurements["experiment"] == target.experiment, target.measure]
        else:  # the experiment was not run (e.g. during calibration)
            values = pd.Series(dtype=float)
        mean, low, high = mean_interval(values)
        rows.append(
            {
                "target": target.name,
                "source": target.source,
                "description": target.description,
                "simulated": mean,
                "ci_low": low,
                "ci_high": high,
                "wanted": target.wanted,
                "passed": target.passes(mean, low, high),
                "calibrated": target.calibrate,
            }
        )
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------------------------
# Calibration: simulated method of moments


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
    progress: Callable[[str], None] | None = None,
) -> Calibration:
    """Fit ``spec.calibration_parameters`` to the calibration targets.

    Objective: the sum over targets of ((simulated mean - target) / tolerance)^2, with the simulated means
    from fixed seeds (common random numbers keep the objective smooth enough for a derivative-free search).
    Powell's method searches the box given in the spec; the start is the base config.
    """
    targets = [target for target in spec.targets if target.calibrate]
    if not targets or not spec.calibration_parameters:
        raise ConfigError("calibration", "the spec marks no targets with calibrate = true or lists no parameters")
    names = list(spec.calibration_parameters)
    bounds = [spec.calibration_parameters[name] for name in names]
    experiments = {target.experiment for target in targets}
    count = 0
    started = time.perf_counter()

    def objective(vector: np.ndarray) -> float:
        nonlocal count
        count += 1
        candidate = base.replace(**{name: float(value) for name, value in zip(names, vector, strict=True)})
        table = compare(_only(spec, targets), measure(spec, candidate, replications, experiments))
        values = table.set_index("target")["simulated"]
        loss = sum(((values[t.name] - t.value) / t.tolerance) ** 2 for t in targets if not math.isnan(values[t.name]))
        if progress:
            progress(f"evaluation {count}: loss {loss:.3f}")
        return float(loss)

    start = np.array(
        [min(max(getattr(base, name), low), high) for name, (low, high) in zip(names, bounds, strict=True)]
    )
    result = optimize.minimize(
        objective,
        start,
        method="Powell",
        bounds=bounds,
        options={"maxfev": max_evaluations, "xtol": 1e-2, "ftol": 1e-3},
    )
    fitted = {name: round(float(value), 4) for name, value in zip(names, result.x, strict=True)}
    table = compare(_only(spec, targets), measure(spec, base.replace(**fitted), spec.replications, experiments))
    return Calibration(fitted, float(result.fun), count, table, time.perf_counter() - started)


def _only(spec: Spec, targets: list[Target]) -> Spec:
    return Spec(targets, spec.scenarios, spec.replications, spec.seed, spec.calibration_parameters, spec.path)


def write_calibrated(calibration: Calibration, path: str | Path, spec: Spec) -> Path:
    """The fitted parameters as a flat config file the other experiments can load (atomically replaced)."""
    path = Path(path)
    lines = [
        "# Written by `relsim calibrate`: the behavioural parameters fitted to the stylized facts of",
        f"# {spec.path} (spec hash {spec.digest}); every other field keeps its default.",
        f"# Objective (sum of squared misses in tolerance units) {calibration.objective:.3f} after",
        f"# {calibration.evaluations} evaluations, {calibration.seconds:.0f} s.",
        *(f"{name} = {value!r}" for name, value in calibration.parameters.items()),
    ]
    text = "\n".join(lines) + "\n"
    atomic_write(path, lambda temporary: temporary.write_text(text))
    return path


# ---------------------------------------------------------------------------------------------------------------
# The report




def base_config(path: str | None) -> Config:
    return load(path) if path else Config()


def summary_json(table: pd.DataFrame) -> str:
    return json.dumps(table.to_dict(orient="records"), indent=2, default=float)


__all__ = [
    "EXPERIMENTS",
    "OUTCOMES",
    "Spec",
    "Target",
    "calibrate",
    "compare",
    "load_spec",
    "measure",
    "write_calibrated",
]
