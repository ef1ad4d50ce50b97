"""Batched execution (issue 14): many small runs against one big one, in one process.

    python benchmarks/bench_batch.py            # a table
    python benchmarks/bench_batch.py --json     # the figures as JSON

- ``sweep_seconds``: the 10,000-run scale sweep (experiments/sweeps/scale.toml: 5,000 simulations of 500 customers
  × 5 years) end to end through ``run_sweep`` on every core (planning, simulating, Parquet parts, consolidation);
- ``small_run_efficiency``: the sweep's customer-steps per second (5,000 × 500 customers × 60 months, as the issue
  counts them) divided by (customer-steps per second of one 100,000-customer run at the default level on one
  core × the workers); ``small_run_efficiency_same_level_mix`` divides by big runs of the sweep's own mix of levels
  instead (Partnership's monthly outreach makes a customer-step dearer than Reactive's, batched or not);
- ``speedup_over_single_runs``: the same sweep with every simulation run alone (``batch_size`` 1), over its
  batched time, both on a tenth of the sweep (one replication of each point) so the baseline stays short;
- ``chunk_cpu_speedup``: one chunk (160 simulations at the automatic size) in this process, CPU time run alone over
  batched;
- ``bit_identical``: a sample of the sweep's simulations gives the same rows batched as run alone.
Targets (issue 14): efficiency ≥ 0.5, sweep ≤ 5 s on 2 cores, bit-identical.
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

from sim.core.model import RelationshipModel
from sim.engine.evaluators import make_evaluator
from sim.engine.runs import run_chunk
from sim.engine.sweep import load_spec, plan, run_sweep

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "experiments" / "sweeps" / "scale.toml"


def big_run_speed(customers: int = 100_000, months: int = 12, level: str = "reactive") -> float:
    """Customer-steps per second of one large run (after an untimed year), best of three."""
    model = RelationshipModel(n_customers=customers, years=5, seed=1, level=level)
    for _ in range(12):
        model.step()
    best = 0.0
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(months):
            model.step()
        served = sum(month["active"] for month in model.history[-months:])
        best = max(best, served / (time.perf_counter() - start))
    return best


def sweep_seconds(spec, workers: int, batch_size: int | None) -> float:
    folder = Path(tempfile.mkdtemp(prefix="bench-batch-"))
    try:
        start = time.perf_counter()
        run_sweep(spec, folder / "out", make_evaluator(workers, batch_size=batch_size))
        return time.perf_counter() - start
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def chunk_cpu(spec) -> tuple[float, float]:
    """CPU seconds (this process) of one chunk of the sweep batched and of the same simulations run alone: a ratio
    that other jobs on the machine disturb less than wall times."""
    chunk = plan(spec).chunks[len(plan(spec).chunks) // 2]
    times = []
    for size in (None, 1):
        start = time.process_time()
        run_chunk({**chunk, "batch_size": size})
        times.append(time.process_time() - start)
    return times[0], times[1]


def bit_identical(spec, chunks: int = 2) -> bool:
    """Whole chunks of the sweep batched (automatic size) against the same simulations run alone."""
    sample = plan(spec).chunks[:chunks]
    return all(run_chunk(c)[1] == run_chunk({**c, "batch_size": 1})[1] for c in sample)


def measure(workers: int | None = None) -> dict:
    workers = workers or len(os.sched_getaffinity(0))
    spec = load_spec(SPEC)
    simulations = plan(spec).simulations
    months = 12 * int(spec.base.get("years", 5))
    customers = int(spec.base.get("n_customers", 500))
    single = big_run_speed()
    levels = next((f.values for f in spec.factors if f.name == "level"), None) or ("reactive",)
    # The sweep runs every level equally often: one big run's time per customer-step, averaged over them.
    mix = len(levels) / sum(1.0 / big_run_speed(level=level) for level in levels)
    tenth = dataclasses.replace(spec, replications=1)
    batched_tenth = sweep_seconds(tenth, workers, None)
    alone_tenth = sweep_seconds(tenth, workers, 1)
    seconds = sweep_seconds(spec, workers, None)
    batched_cpu, alone_cpu = chunk_cpu(spec)
    sweep_speed = simulations * customers * months / seconds
    return {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "workers": workers,
        "load_average": os.getloadavg()[0],
        "simulations": simulations,
        "sweep_seconds": seconds,
        "sweep_customer_steps_per_second": sweep_speed,
        "big_run_customer_steps_per_second": single,
        "small_run_efficiency": sweep_speed / (single * workers),
        "big_run_customer_steps_per_second_level_mix": mix,
        "small_run_efficiency_same_level_mix": sweep_speed / (mix * workers),
        "tenth_sweep_seconds_batched": batched_tenth,
        "tenth_sweep_seconds_single_runs": alone_tenth,
        "speedup_over_single_runs": alone_tenth / batched_tenth,
        "chunk_cpu_seconds_batched": batched_cpu,
        "chunk_cpu_seconds_single_runs": alone_cpu,
        "chunk_cpu_speedup": alone_cpu / batched_cpu,
        "bit_identical": bit_identical(spec),
        "targets": {},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--workers", type=int, help="worker processes (default: every core)")
    args = parser.parse_args()
    figures = measure(args.workers)
    figures["targets"] = {
        "small_run_efficiency_at_least_0_5": figures["small_run_efficiency"] >= 0.5,
        "sweep_at_most_5_seconds": figures["sweep_seconds"] <= 5.0,
        "bit_identical": figures["bit_identical"],
    }
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print(
        f"scale sweep ({figures['simulations']:,} simulations) on {figures['workers']} workers: "
        f"{figures['sweep_seconds']:.1f} s, {figures['sweep_customer_steps_per_second'] / 1e6:.1f} M customer-steps/s"
    )
    print(f"one 100,000-customer run: {figures['big_run_customer_steps_per_second'] / 1e6:.1f} M customer-steps/s")
    print(f"big runs at the sweep's level mix: {figures['big_run_customer_steps_per_second_level_mix'] / 1e6:.1f} M/s")
    print(
        f"small-run efficiency: {figures['small_run_efficiency']:.2f} (target 0.5); against the same level mix: "
        f"{figures['small_run_efficiency_same_level_mix']:.2f}"
    )
    print(
        f"a tenth of the sweep: {figures['tenth_sweep_seconds_single_runs']:.1f} s run alone, "
        f"{figures['tenth_sweep_seconds_batched']:.1f} s batched ({figures['speedup_over_single_runs']:.1f}x)"
    )
    print(
        f"one chunk in this process: {figures['chunk_cpu_seconds_single_runs']:.2f} CPU-s run alone, "
        f"{figures['chunk_cpu_seconds_batched']:.2f} batched ({figures['chunk_cpu_speedup']:.1f}x)"
    )
    print(f"bit-identical: {figures['bit_identical']}; load average {figures['load_average']:.1f}")


if __name__ == "__main__":
    main()
