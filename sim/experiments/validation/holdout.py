"""Hold-out targets (``experiments/holdout.toml``; issue 13, item 6): fixed before any fit, never used in fitting.

Each target names a scenario (an experiment of :mod:`.holdout_measures`), the published number, its source and an
acceptance rule: ``range`` (95 % CI inside [low, high]), ``sign`` (95 % CI above ``above`` or below ``below``) or
``equivalence`` (90 % CI inside [low, high]). CIs are t intervals over replications with seeds derived from the
file's seed by the engine's seed rule. A measure that is not applicable (a precondition fails) is reported as
such, neither pass nor fail.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.core.config import Config, from_mapping
from sim.engine.evaluators import Evaluator, make_evaluator
from sim.engine.plan import derive_seed
from sim.errors import ConfigError
from sim.experiments.validation.holdout_measures import HOLDOUT_EXPERIMENTS, split_scenario
from sim.files import read_toml
from sim.outputs.stats import mean_interval

HOLDOUT_SPEC = "experiments/holdout.toml"
NOT_CONFIG = ("describe", "precondition", "runs", "policies")  # scenario keys that are not overrides


def load_holdout(path: str | Path = HOLDOUT_SPEC) -> dict[str, Any]:
    spec, _ = read_toml(path, "--spec")
    for key in ("meta", "scenarios", "targets"):
        if not isinstance(spec.get(key), dict):
            raise ConfigError(key, f"missing table [{key}] in {path}")
    for name, target in spec["targets"].items():
        if target["scenario"] not in HOLDOUT_EXPERIMENTS:
            raise ConfigError(f"targets.{name}.scenario", f"must be one of {', '.join(HOLDOUT_EXPERIMENTS)}")
    return spec


def scenario_overrides(spec: dict[str, Any], name: str) -> tuple[dict[str, Any], list[str]]:
    """The scenario's overrides the model can apply (plus its runs or policies), and the names it could not apply
    (fields that do not exist yet, such as issue 12's ``segment``)."""
    table = spec["scenarios"][name]
    applied, skipped = split_scenario({k: v for k, v in table.items() if k not in NOT_CONFIG})
    for key in ("runs", "policies"):
        if key in table:
            applied[key] = table[key]
            for entry in table[key]:
                skipped += [field for field in split_scenario(entry)[1] if field not in ("name",)]
    return applied, sorted(set(skipped))


def run_scenario(task: dict[str, Any]) -> dict[str, Any]:
    """One replication of one hold-out scenario: a pure function of the task (plain data), for any evaluator."""
    return HOLDOUT_EXPERIMENTS[task["scenario"]](from_mapping(task["config"]), task["seed"], dict(task["overrides"]))


def run_holdout(
    base: Config, spec: dict[str, Any], replications: int | None = None, evaluator: Evaluator | None = None
) -> dict[str, list[dict]]:
    """Every scenario used by a target, ``replications`` times (default: the file's), as lists of measurements.

    Replication r of every scenario has the seed ``derive_seed(file seed, r)`` (the engine's seed rule; common random
    numbers across scenarios); the replications run on ``evaluator`` (default: a process per core), and the
    results do not depend on it."""
    count = replications or int(spec["meta"]["replications"])
    seed = int(spec["meta"]["seed"])
    needed = sorted({target["scenario"] for target in spec["targets"].values()})
    tasks = [
        {
            "scenario": name,
            "config": base.as_dict(),
            "seed": derive_seed(seed, index),
            "overrides": scenario_overrides(spec, name)[0],
        }
        for name in needed
        for index in range(count)
    ]
    results: dict[str, list[dict]] = {name: [{} for _ in range(count)] for name in needed}
    with evaluator or make_evaluator() as running:
        for position, values in running.evaluate(run_scenario, tasks):
            results[tasks[position]["scenario"]][position % count] = values
    return results


def judge(target: dict[str, Any], values: list[float]) -> dict[str, Any]:
    """The target's verdict from the replications' values (NaN values: not applicable)."""
    array = np.asarray(values, float)
    if np.isnan(array).all():
        return {"mean": math.nan, "ci_low": math.nan, "ci_high": math.nan, "verdict": "not applicable"}
    confidence = 0.90 if target["rule"] == "equivalence" else 0.95
    mean, low, high = mean_interval(array, confidence)
    if target["rule"] == "sign":
        passed = low > target["above"] if "above" in target else high < target["below"]
    else:
        passed = target["low"] <= low and high <= target["high"]
    return {"mean": mean, "ci_low": low, "ci_high": high, "verdict": "pass" if passed else "fail"}


def wanted(target: dict[str, Any]) -> str:
    if target["rule"] == "sign":
        return f"> {target['above']:g}" if "above" in target else f"< {target['below']:g}"
    ci = "90 % CI" if target["rule"] == "equivalence" else "95 % CI"
    return f"{ci} in [{target['low']:g}, {target['high']:g}]"


def holdout_table(spec: dict[str, Any], results: dict[str, list[dict]]) -> pd.DataFrame:
    rows = []
    for name, target in spec["targets"].items():
        values = [replication[name] for replication in results[target["scenario"]]]
        _, skipped = scenario_overrides(spec, target["scenario"])
        rows.append(
            {
                "target": name,
                "counts": bool(target.get("counts", False)),
                "source": target["source"].split(")")[0] + ")",  # authors (year)
                "published": target["published"],
                "wanted": wanted(target),
                **judge(target, values),
                "not_applied": ", ".join(skipped),
            }
        )
    return pd.DataFrame(rows)
