"""Sweep throughput (issue 6): runs per second on 1 vs 2 local workers, and the 10,000-run sweep.

    python benchmarks/bench_sweep.py                 # both measurements, a table
    python benchmarks/bench_sweep.py --scaling       # 1 vs 2 workers only (target: >= 1.8x on 2)
    python benchmarks/bench_sweep.py --runs          # the 10,000-run sweep (experiments/sweeps/scale.toml)
    python benchmarks/bench_sweep.py --json          # figures as JSON

Every figure is the whole `relsim sweep` path after reading the spec: planning, simulating on the evaluator,
writing one Parquet part per chunk, consolidating into runs.parquet. Runs are small (500 customers x 5 years).
The 1-vs-2 comparison alternates the two settings `--repeat` times and keeps each one's best time, so that a
burst of other work on the machine does not decide the ratio; the load average before and after is reported,
because other jobs on a 2-core machine take cores away from the second worker first.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from sim.engine.evaluators import make_evaluator
from sim.engine.sweep import load_spec, plan, run_sweep

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "experiments" / "sweeps" / "scale.toml"
TARGET_RATIO = 1.8


def _timed(spec, workers: int) -> tuple[float, int]:
    folder = Path(tempfile.mkdtemp(prefix="bench-sweep-"))
    try:
        start = time.perf_counter()
        result = run_sweep(spec, folder / "out", make_evaluator(workers), progress=sys.stderr.isatty())
        return time.perf_counter() - start, len(result.frame)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def scaling(replications: int = 3, repeat: int = 2) -> dict:
    """Runs per second of the scale spec (fewer replications) on 1 and on 2 workers; best of ``repeat`` each."""
    spec = dataclasses.replace(load_spec(SPEC), replications=replications)
    load_before = os.getloadavg()
    best = {1: float("inf"), 2: float("inf")}
    runs = 0
    for _ in range(repeat):
        for workers in (1, 2):
            seconds, runs = _timed(spec, workers)
            best[workers] = min(best[workers], seconds)
    load_after = os.getloadavg()
    rate = {w: runs / s for w, s in best.items()}
    return {
        "runs": runs,
        "simulations": plan(spec).simulations,
        "runs_per_s_1_worker": round(rate[1], 1),
        "runs_per_s_2_workers": round(rate[2], 1),
        "ratio": round(rate[2] / rate[1], 3),
        "target_ratio": TARGET_RATIO,
        "meets_target": rate[2] / rate[1] >= TARGET_RATIO,
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in load_after],
    }


def full_sweep(workers: int | None = None) -> dict:
    """The 10,000-run sweep on all cores (or ``workers``)."""
    spec = load_spec(SPEC)
    load_before = os.getloadavg()
    seconds, runs = _timed(spec, workers or (os.cpu_count() or 1))
    return {
        "runs": runs,
        "simulations": plan(spec).simulations,
        "workers": workers or os.cpu_count(),
        "wall_s": round(seconds, 1),
        "runs_per_s": round(runs / seconds, 1),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scaling", action="store_true", help="only 1 vs 2 workers")
    parser.add_argument("--runs", action="store_true", help="only the 10,000-run sweep")
    parser.add_argument("--repeat", type=int, default=2, help="alternations of the 1-vs-2 comparison")
    parser.add_argument("--replications", type=int, default=3, help="replications of the scaling design")
    parser.add_argument("--workers", type=int, help="workers of the 10,000-run sweep (default: all cores)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    both = not (args.scaling or args.runs)
    figures: dict = {"python": platform.python_version(), "cores": os.cpu_count(), "machine": platform.machine()}
    if args.scaling or both:
        figures["scaling"] = scaling(args.replications, args.repeat)
    if args.runs or both:
        figures["sweep_10000"] = full_sweep(args.workers)
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    if "scaling" in figures:
        s = figures["scaling"]
        print(
            f"1 vs 2 workers ({s['runs']:,} runs, best of {args.repeat}): {s['runs_per_s_1_worker']} vs "
            f"{s['runs_per_s_2_workers']} runs/s = {s['ratio']}x (target >= {TARGET_RATIO}x: "
            f"{'met' if s['meets_target'] else 'NOT met'}); load average before {s['load_average_before']}, "
            f"after {s['load_average_after']}"
        )
    if "sweep_10000" in figures:
        s = figures["sweep_10000"]
        print(
            f"10,000-run sweep: {s['runs']:,} runs ({s['simulations']:,} simulations) in {s['wall_s']} s on "
            f"{s['workers']} workers, {s['runs_per_s']} runs/s; load average before {s['load_average_before']}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
