"""The matrix experiment (issue 5): is Kotler's recommended relationship level the most profitable one per cell?

The parts, in the order a run uses them (docs/MATRIX.md explains the design and the statistics):

- :mod:`.spec`: ``experiments/matrix.toml`` read into a validated :class:`MatrixSpec` (Kotler's cells come from
  sim.experiments.kotler);
- :mod:`.plan`: the spec compiled to a sweep of explicit points and run on the one engine (sim.engine: seeds,
  margin sharing, evaluators, the resumable store), then arranged as the runs table;
- :mod:`.analysis`: per-level summaries with t-intervals, verdicts, the bootstrap interval of the agreement score,
  the mechanism behind each disagreement and the technology-heavy and tiered claims;
- :mod:`.report`: REPORT.md and the ``--json`` records. sim.viz.matrix draws the figures and writes the folder.
"""

from __future__ import annotations

from sim.experiments.kotler import Cell
from sim.experiments.matrix.analysis import MatrixResult, analyse, bootstrap_agreement, cube, mechanism, verdicts
from sim.experiments.matrix.plan import run_matrix, runs_table, sweep_data, sweep_spec
from sim.experiments.matrix.report import interval, json_records, money, render_report
from sim.experiments.matrix.spec import (
    METRICS,
    SCENARIOS,
    MatrixSpec,
    load_spec,
    parse_spec,
    policies,
    run_config,
)

__all__ = [
    "METRICS",
    "SCENARIOS",
    "Cell",
    "MatrixResult",
    "MatrixSpec",
    "analyse",
    "bootstrap_agreement",
    "cube",
    "interval",
    "json_records",
    "load_spec",
    "mechanism",
    "money",
    "parse_spec",
    "policies",
    "render_report",
    "run_config",
    "run_matrix",
    "runs_table",
    "sweep_data",
    "sweep_spec",
    "verdicts",
]
