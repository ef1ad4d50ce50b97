"""Sweeps in memory, for notebooks and experiments: ``sim.sweep(spec)`` returns the rows as a DataFrame.

The same plan, seeds and chunk function as ``relsim sweep`` (sim.engine.plan, sim.engine.runs) on any evaluator,
so the rows are identical to a stored sweep's; nothing is written to disk, and nothing is resumed.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sim.core.limits import check_memory
from sim.engine.evaluators import Evaluator, make_evaluator
from sim.engine.plan import plan
from sim.engine.runs import run_chunk
from sim.engine.spec import SweepSpec, read_spec, read_spec_file


def as_spec(spec: SweepSpec | Mapping[str, Any] | str | Path, base_dir: str | Path = ".") -> SweepSpec:
    """A :class:`SweepSpec` from a spec, a TOML file, or a dict in the TOML layout (paths relative to
    ``base_dir``); invalid input raises one ConfigError naming its key."""
    if isinstance(spec, SweepSpec):
        return spec
    if isinstance(spec, Mapping):
        return read_spec(spec, base_dir=base_dir)
    return read_spec_file(spec)


def sweep(
    spec: SweepSpec | Mapping[str, Any] | str | Path,
    *,
    evaluator: Evaluator | None = None,
    workers: int | None = None,
) -> Any:
    """Run every simulation of a sweep and return one row per run, sorted by run (a pandas DataFrame).

    ``spec``: a :class:`SweepSpec`, a path to a spec file, or a dict in the TOML layout, e.g.
    ``{"fixed": {"years": 3}, "vary": {"competition": [0.2, 0.8]}, "compare": {"levels": ["basic", "proactive"]}}``.
    Runs on ``evaluator``, else on ``workers`` local processes (default: every core; 1: in this process).
    """
    import pandas as pd

    plan_ = plan(as_spec(spec))
    evaluator = evaluator or make_evaluator(workers)
    if not getattr(evaluator, "address", None):  # runs on this machine: will they fit in its memory?
        check_memory((task["params"] for chunk in plan_.chunks for task in chunk["tasks"]), evaluator.workers)
    parts: list[list[dict[str, Any]]] = [[] for _ in plan_.chunks]
    with evaluator:
        chunks = [{**chunk, "batch_size": evaluator.batch_size} for chunk in plan_.chunks]
        for index, (_, rows) in evaluator.evaluate(run_chunk, chunks):
            parts[index] = rows
    frame = pd.DataFrame([row for part in parts for row in part], columns=plan_.columns)
    return frame.sort_values("run", kind="stable").reset_index(drop=True)
