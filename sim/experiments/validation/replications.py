"""Running the validation experiments on the one engine, and comparing their measurements with the targets.

One replication of one experiment is a task of plain data (the experiment's name, the base config as a flat
mapping, the scenario, the seed); :func:`run_replication` is a pure module-level function of it, so any
evaluator (in process, process pool, Dask) computes the same rows. Seeds come from the engine's seed rule
(:func:`sim.engine.plan.derive_seed`) keyed by the replication alone: every experiment's replication r uses
the same seed (common random numbers across experiments, as before).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from sim.core.config import Config, from_mapping
from sim.core.limits import check_memory
from sim.engine.evaluators import Evaluator, make_evaluator
from sim.engine.plan import derive_seed
from sim.errors import ConfigError
from sim.experiments.validation.measures import EXPERIMENTS
from sim.experiments.validation.targets import KINDS, Spec
from sim.outputs.stats import mean_interval

# Model runs per replication (the bisection of `defections` runs about twenty): the slow tasks are handed out
# first so that no worker is left with a long one at the end.
RUNS_PER_REPLICATION = {"defections": 20, "quadrant": 5, "channel_costs": 2}


def replication_tasks(
    spec: Spec, base: Config, replications: int | None = None, experiments: set[str] | None = None
) -> list[dict[str, Any]]:
    """One task per (experiment, replication), the slowest first; plain data, so they pickle anywhere."""
    needed = experiments or {target.experiment for target in spec.targets}
    config = base.as_dict()
    tasks = [
        {
            "experiment": name,
            "replication": replication,
            "seed": derive_seed(spec.seed, replication),
            "config": config,
            "scenario": dict(spec.scenarios[name]),
        }
        for name in sorted(needed)
        for replication in range(replications or spec.replications)
    ]
    return sorted(tasks, key=lambda task: -_cost(task))


def _cost(task: dict[str, Any]) -> float:
    size = {**task["config"], **task["scenario"]}
    return RUNS_PER_REPLICATION.get(task["experiment"], 1) * size["n_customers"] * size["years"]


def run_replication(task: dict[str, Any]) -> dict[str, Any]:
    """One replication of one experiment: a row of named measurements (a pure function of the task)."""
    base = from_mapping(task["config"])
    values = EXPERIMENTS[task["experiment"]](base, task["seed"], dict(task["scenario"]))
    return {
        "experiment": task["experiment"],
        "replication": task["replication"],
        **{name: float(value) for name, value in values.items()},
    }


def measure(
    spec: Spec,
    base: Config,
    replications: int | None = None,
    experiments: set[str] | None = None,
    evaluator: Evaluator | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """Every needed experiment for every replication, on ``evaluator`` (default: a process per core).

    One row per (experiment, replication), ordered by both, one column per measure; ``progress(done, total)``
    is called once before the first replication and as each finishes. The table does not depend on the
    evaluator or its number of workers.
    """
    tasks = replication_tasks(spec, base, replications, experiments)
    evaluator = evaluator or make_evaluator()
    if not getattr(evaluator, "address", None):  # runs on this machine: will they fit in its memory?
        check_memory(({**task["config"], **task["scenario"]} for task in tasks), evaluator.workers)
    rows: list[dict[str, Any]] = [{} for _ in tasks]
    if progress:
        progress(0, len(tasks))
    with evaluator:
        for done, (index, row) in enumerate(evaluator.evaluate(run_replication, tasks), start=1):
            rows[index] = row
            if progress:
                progress(done, len(tasks))
    _check_measures(spec, rows)
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    return frame.sort_values(["experiment", "replication"], kind="stable").reset_index(drop=True)


def _check_measures(spec: Spec, rows: list[dict[str, Any]]) -> None:
    """A target naming a measure its experiment never reports is a slip in the spec, not a failed target."""
    produced: dict[str, set[str]] = {}
    for row in rows:
        produced.setdefault(row["experiment"], set()).update(row)
    for target in spec.targets:
        names = produced.get(target.experiment)
        if names is not None and target.measure not in names:
            allowed = ", ".join(sorted(names - {"experiment", "replication"}))
            raise ConfigError(
                f"targets.{target.name}.measure", f"{target.experiment} measures {allowed}; got {target.measure!r}"
            )


def compare(spec: Spec, measurements: pd.DataFrame) -> pd.DataFrame:
    """One row per target: simulated mean and 95 % CI against the target, pass or fail, and the target's kind.

    The interval needs two replications; with one, its bounds are NaN (shown as n/a) and range targets fail.
    """
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
                "replications": int(values.notna().sum()),
                "wanted": target.wanted,
                "passed": target.passes(mean, low, high),
                "calibrated": target.calibrate,
                "kind": target.kind,
            }
        )
    return pd.DataFrame(rows)


def failures(table: pd.DataFrame) -> dict[str, list[str]]:
    """The failing targets of a comparison, by kind (out-of-sample, verification, calibration)."""
    failed = table.loc[~table["passed"].astype(bool)]
    return {kind: failed.loc[failed["kind"] == kind, "target"].tolist() for kind in KINDS}


def counts(table: pd.DataFrame) -> dict[str, tuple[int, int]]:
    """(passed, total) for each kind of target."""
    return {
        kind: (int(table.loc[table["kind"] == kind, "passed"].sum()), int((table["kind"] == kind).sum()))
        for kind in KINDS
    }
