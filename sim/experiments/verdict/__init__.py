"""The probabilistic verdict on Kotler's matrix (issue 12, items 4-5): spec, plan, analysis, tables, report.

``run_verdict(spec)`` runs the experiment's sweeps (nominal, draws, sensitivity, robustness, hypercube) on the one
engine and returns a :class:`VerdictResult`; sim.viz.verdict writes its folder. docs/VERDICT.md explains the design.
"""

from __future__ import annotations

import time
from pathlib import Path

from sim.engine.evaluators import Evaluator, make_evaluator
from sim.engine.provenance import code_revision
from sim.experiments.verdict.plan import check, run_sweeps
from sim.experiments.verdict.report import json_records, render_report
from sim.experiments.verdict.spec import VerdictSpec, load_spec, parse_spec
from sim.experiments.verdict.tables import VerdictResult, analyse

__all__ = [
    "VerdictResult", "VerdictSpec", "check", "json_records", "load_spec", "parse_spec", "render_report",
    "run_verdict",
]  # fmt: skip


def run_verdict(
    spec: VerdictSpec,
    *,
    evaluator: Evaluator | None = None,
    workers: int | None = None,
    store: str | Path | None = None,
    progress: bool = False,
) -> VerdictResult:
    """Run the whole experiment and analyse it: in memory, or resumable with ``store`` (see :func:`run_sweeps`)."""
    evaluator = evaluator or make_evaluator(workers)
    code_version = code_revision()  # before anything is written
    frames, timings = run_sweeps(spec, evaluator=evaluator, store=store, progress=progress)
    started = time.perf_counter()
    result = analyse(spec, frames, timings, evaluator=type(evaluator).__name__)
    result.timings["analysis_s"] = time.perf_counter() - started
    result.code_version = code_version or ""
    return result
