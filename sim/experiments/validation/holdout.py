"""Hold-out targets (``experiments/holdout.toml``; issue 13, item 6): fixed before any fit, never used in fitting.

Each target names a scenario (an experiment of :mod:`.holdout_measures`), the published number, its source and an
acceptance rule: ``range`` (95 % CI inside [low, high]), ``sign`` (95 % CI above ``above`` or below ``below``) or
``equivalence`` (90 % CI inside [low, high]). CIs are t intervals over replications with seeds derived from the
file's seed by the engine's seed rule. A measure that is not applicable (a precondition fails) is reported as
such, neither pass nor fail.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
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


@dataclass
class Holdout:
    """A judged hold-out file: where it came from, the replications per scenario and one row per target."""

    path: str
    replications: int
    table: pd.DataFrame


NOT_CONFIG = ("describe", "precondition", "runs", "policies")  # scenario keys that are not overrides


RULES = {"range": ("low", "high"), "sign": (), "equivalence": ("low", "high")}


def load_holdout(path: str | Path = HOLDOUT_SPEC, option: str = "--spec") -> dict[str, Any]:
    """Read and check a hold-out file; every problem is a ConfigError naming the key (``option``: the command's
    option that named the file)."""
    spec, _ = read_toml(path, option)
    for key in ("meta", "scenarios", "targets"):
        if not isinstance(spec.get(key), dict):
            raise ConfigError(key, f"missing table [{key}] in {path}")
    for name, target in spec["targets"].items():
        for key in ("scenario", "source", "published", "rule"):
            if key not in target:
                raise ConfigError(f"targets.{name}.{key}", f"missing in {path}")
        if target["scenario"] not in HOLDOUT_EXPERIMENTS:
            raise ConfigError(f"targets.{name}.scenario", f"must be one of {', '.join(HOLDOUT_EXPERIMENTS)}")
        if target["rule"] not in RULES:
            raise ConfigError(f"targets.{name}.rule", f"must be one of {', '.join(RULES)}")
        bounds = RULES[target["rule"]] or (("above",) if "above" in target else ("below",))
        for bound in bounds:
            if not isinstance(target.get(bound), (int, float)):
                raise ConfigError(f"targets.{name}.{bound}", f"a number is needed for rule {target['rule']!r}")
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
    base: Config,
    spec: dict[str, Any],
    replications: int | None = None,
    evaluator: Evaluator | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, list[dict]]:
    """Every scenario used by a target, ``replications`` times (default: the file's), as lists of measurements.

    Replication r of every scenario has the seed ``derive_seed(file seed, r)`` (the engine's seed rule; common random
    numbers across scenarios); the replications run on ``evaluator`` (default: a process per core), and the
    results do not depend on it. ``progress(done, total)`` is called before the first replication and after each."""
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
    if progress:
        progress(0, len(tasks))
    with evaluator or make_evaluator() as running:
        for done, (position, values) in enumerate(running.evaluate(run_scenario, tasks), start=1):
            results[tasks[position]["scenario"]][position % count] = values
            if progress:
                progress(done, len(tasks))
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


def tally(table: pd.DataFrame) -> dict[str, int]:
    """The counted targets by verdict: how many pass, fail and do not apply (the headline of both reports)."""
    counted = table.loc[table["counts"], "verdict"]
    return {
        "counted": len(counted),
        "pass": int((counted == "pass").sum()),
        "fail": int((counted == "fail").sum()),
        "not applicable": int((counted == "not applicable").sum()),
        "not counted": int((~table["counts"]).sum()),
    }


def headline(table: pd.DataFrame) -> str:
    """One line: 'hold-out: 3 of 10 pass (5 fail, 2 not applicable)'."""
    count = tally(table)
    return (
        f"hold-out: {count['pass']} of {count['counted']} pass ({count['fail']} fail, "
        f"{count['not applicable']} not applicable)"
    )
