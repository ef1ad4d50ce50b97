"""The matrix on the one engine: a :class:`MatrixSpec` compiled to a sweep of explicit points, run by sim.engine.

Every run of the experiment is a point: (scenario, cell, policy) with the fields the experiment sets. The engine
then does what the matrix needs and every other experiment shares:

- cells that differ only in margin share one simulation (margin enters only the accounts), and so do labels;
- replication r uses the seed SeedSequence(base_seed, spawn_key=(r,)) at every point (common random numbers,
  the engine's seed rule), so that differences between levels, policies and scenarios are paired;
- the simulations run on any evaluator (in-process, process pool, Dask) with identical results, and into a
  resumable store when asked (``relsim matrix`` keeps one in ``OUT/runs/`` until the results are written).

:func:`runs_table` turns the engine's rows into the experiment's runs table (runs.csv.gz), in its order.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.engine.evaluators import Evaluator, make_evaluator
from sim.engine.provenance import code_revision
from sim.engine.sweep import SweepSpec, parse_spec, sweep_rows
from sim.experiments.kotler import Cell
from sim.experiments.matrix.analysis import MatrixResult, analyse
from sim.experiments.matrix.spec import METRICS, SCENARIOS, MatrixSpec, policies, run_fields

LABELS = ("cell", "policy")
KEYS = ("scenario", "cell", "policy", "level", "tier_level", "replication", "seed")
# The engine's name of a run's customers at the end; the experiment's runs table calls it customers_end.
ENGINE_NAMES = {"customers_end": "active_customers_end"}
CHUNKS = 96  # about this many chunks: progress and resume granularity without a file per simulation


def groups(cells: Sequence[Cell]) -> list[list[Cell]]:
    """Cells that differ only in margin: one simulation serves them all (margin enters only the accounts)."""
    found: dict[tuple[int, float, int], list[Cell]] = {}
    for cell in cells:
        found.setdefault((cell.customers, cell.revenue_per_customer, cell.sample_customers), []).append(cell)
    return list(found.values())


def _points(spec: MatrixSpec) -> tuple[list[dict[str, Any]], list[int]]:
    """Every run as a point, ordered scenario → group of cells → policy → cell, and each point's simulation
    (the points of one simulation are consecutive)."""
    points: list[dict[str, Any]] = []
    simulation: list[int] = []
    for scenario in SCENARIOS:
        for group in groups(spec.cells):
            for policy, level, tier_level in policies(scenario, spec.levels):
                for cell in group:
                    fields = run_fields(spec, cell, level, tier_level)
                    fields.pop("years")  # the same for every run: [fixed]
                    labels = {"scenario": scenario, "cell": cell.name, "policy": policy}
                    points.append(labels | {"customers": cell.customers} | fields)
                    starts = cell is group[0]  # the first cell of a group starts the next simulation
                    simulation.append(simulation[-1] + starts if simulation else 0)
    return points, simulation


def sweep_data(spec: MatrixSpec) -> dict[str, Any]:
    """The experiment as a sweep spec in the TOML layout (docs/SWEEPS.md, design = "points")."""
    points, simulation = _points(spec)
    simulations = (max(simulation) + 1) * spec.replications
    return {
        "sweep": {
            "name": "matrix",
            "design": "points",
            "labels": list(LABELS),
            "replications": spec.replications,
            "seed": spec.base_seed,
            "common_random_numbers": True,
            "chunk_size": max(1, math.ceil(simulations / CHUNKS)),
        },
        "fixed": {**spec.market, "years": spec.years},
        "scenarios": {"uniform": {}, "technology_heavy": dict(spec.technology_heavy), "tiered": {}},
        "points": points,
        "outputs": {"metrics": [ENGINE_NAMES.get(name, name) for name in METRICS]},
    }


def sweep_spec(spec: MatrixSpec) -> SweepSpec:
    """The compiled, validated sweep spec (every simulation's config checked by the engine)."""
    return parse_spec(sweep_data(spec), source=spec.source)


def runs_table(spec: MatrixSpec, frame: pd.DataFrame) -> pd.DataFrame:
    """The engine's rows as the experiment's runs: one row per scenario × cell × policy × replication, ordered
    by simulation, then replication, then cell (the order of results/matrix/runs.csv.gz)."""
    _, simulation = _points(spec)
    point = frame["point"].to_numpy()
    order = np.lexsort((point, frame["replication"].to_numpy(), np.asarray(simulation)[point]))
    rows = frame.iloc[order].rename(columns={engine: name for name, engine in ENGINE_NAMES.items()})
    return rows[[*KEYS, *METRICS]].reset_index(drop=True)


def run_matrix(
    spec: MatrixSpec,
    *,
    evaluator: Evaluator | None = None,
    workers: int | None = None,
    store: str | Path | None = None,
    progress: bool = False,
) -> MatrixResult:
    """Run the whole experiment (all cells and levels, both further claims) on the engine and analyse it.

    ``store``: a folder for the engine's resumable store (a rerun after an interruption continues there);
    without it the runs stay in memory. ``evaluator`` (or ``workers`` local processes) runs the simulations.
    """
    sweep = sweep_spec(spec)
    evaluator = evaluator or make_evaluator(workers)
    code_version = code_revision()  # before the store or the results are written
    start = time.perf_counter()
    frame, resumed = sweep_rows(sweep, evaluator, store, progress)
    simulated = time.perf_counter()
    result = analyse(spec, runs_table(spec, frame), evaluator=evaluator.describe())
    result.timings = {"simulation_s": simulated - start, "analysis_s": time.perf_counter() - simulated}
    result.resumed = resumed
    result.code_version = code_version
    return result
