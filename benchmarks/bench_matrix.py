"""Wall time of the full matrix experiment (issue 5): 30 replications, nine cells, five levels, both further claims.

    python benchmarks/bench_matrix.py                    # full run, all cores, results thrown away
    python benchmarks/bench_matrix.py --out /tmp/matrix  # ... and keep the results
    python benchmarks/bench_matrix.py --quick --json     # the --quick design, figures as JSON

The time covers what `relsim matrix` does after reading the spec: compiling it to the engine's plan, simulating
into the engine's resumable store (on a process pool, or Dask with --dask), the analysis (t-intervals, bootstrap,
mechanisms) and writing the CSVs, figures and report.
Target from issue 5: at most 5 minutes on 2 cores for the full run; `--quick` under 30 seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from sim.cli.common import resolve_spec
from sim.cli.experiments import MATRIX_SPEC
from sim.engine.evaluators import make_evaluator
from sim.engine.plan import plan
from sim.experiments import matrix
from sim.viz.matrix import run_matrix

TARGET_S = {"full": 300.0, "quick": 30.0}


def measure(
    quick: bool = False,
    workers: int | None = None,
    replications: int | None = None,
    out: str | None = None,
    dask: bool = False,
) -> dict:
    spec = matrix.load_spec(resolve_spec(MATRIX_SPEC))
    if quick:
        spec = spec.quick_spec()
    if replications is not None:
        spec = spec.reduced(replications=replications)
    evaluator = make_evaluator(workers, dask=dask)
    target = Path(out) if out else Path(tempfile.mkdtemp(prefix="bench-matrix-")) / "matrix"
    start = time.perf_counter()
    result = run_matrix(spec, target, evaluator, progress=sys.stderr.isatty())  # store in target/runs, then results
    wall = time.perf_counter() - start
    if not out:
        shutil.rmtree(target.parent, ignore_errors=True)
    mode = "quick" if quick else "full"
    return {
        "mode": mode,
        "replications": spec.replications,
        "years": spec.years,
        "runs": plan(matrix.sweep_spec(spec)).simulations,
        "cell_results": len(result.runs),
        "evaluator": result.evaluator,
        "cores": os.cpu_count(),
        "wall_s": round(wall, 2),
        "simulation_s": round(result.timings["simulation_s"], 2),
        "analysis_s": round(result.timings["analysis_s"], 2),
        "writing_s": round(result.timings.get("writing_s", float("nan")), 2),
        "target_s": TARGET_S[mode],
        "within_target": wall <= TARGET_S[mode],
        "agreement": result.agreement,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "out": out,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="time the --quick design instead")
    parser.add_argument("--workers", type=int, help="worker processes (default: all cores)")
    parser.add_argument("--dask", action="store_true", help="run on a local Dask cluster instead of a process pool")
    parser.add_argument("--replications", type=int, help="override the spec's replications")
    parser.add_argument("--out", help="keep the results in this directory")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    figures = measure(args.quick, args.workers, args.replications, args.out, args.dask)
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print(
        f"matrix ({figures['mode']}): {figures['runs']} simulations ({figures['replications']} replications, "
        f"{figures['years']} years) on {figures['evaluator']}: {figures['wall_s']:.1f} s wall "
        f"(simulation {figures['simulation_s']:.1f} s, analysis {figures['analysis_s']:.1f} s, writing "
        f"{figures['writing_s']:.1f} s); target <= {figures['target_s']:.0f} s: "
        f"{'met' if figures['within_target'] else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
