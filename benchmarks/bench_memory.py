"""Peak memory per customer, in one process: the figures behind sim/core/limits.py's projections.

    python benchmarks/bench_memory.py            # a table
    python benchmarks/bench_memory.py --json     # the figures as JSON

Every figure is a tracemalloc peak (numpy reports its arrays to tracemalloc) measured at two sizes; the slope
between them is the memory per customer (or per customer-month) with the fixed costs of the process cancelled:

- initial: building a model (drawing the initial customers: float64 draws beside the population's arrays);
- steady: a two-year run at the default config after it is built, per customer of the largest base reached;
- growing: a run whose base grows fast towards the market (acquisition_rate 10, market_size_multiple 5), per
  customer of the largest base reached (growth slack and the copies made while the arrays grow);
- export: a traced run and `relsim run --export`, per customer-month served, and the CSV bytes on disk;
- worker: the private memory of a process-pool worker after a small run (forked: shared pages not counted), and
  this process's resident memory with the model imported, before any run (what a spawned worker costs).

Each row says whether the constant in sim/core/limits.py still covers the measurement.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from sim.core import limits
from sim.core.batch import batch_size, run_batch
from sim.core.config import from_mapping
from sim.core.model import RelationshipModel
from sim.engine.evaluators import ProcessPoolEvaluator
from sim.outputs.export import export_run

SIZES = (50_000, 200_000)
GROWING = {"acquisition_rate": 10.0, "market_size_multiple": 5.0, "years": 10}


def _peak(n: int, *, trace: bool = False, export: bool = False, **params: object) -> tuple[int, int, int, int]:
    """(peak bytes while building, peak bytes over the run, largest base, customer-months served)."""
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    model = RelationshipModel(n_customers=n, seed=1, trace=trace, **{"years": 2, **params})
    built = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.reset_peak()  # the run's own peak from here (building has its own figure)
    largest = served = 0
    while model.running and model.steps < model.config.periods:
        model.step()
        largest = max(largest, model.population.n)
        served += model.population.n
    if export:
        with tempfile.TemporaryDirectory() as scratch:
            export_run(model, model.config, Path(scratch) / "export")
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    return built, peak, largest, served


def _batch_peak(customers: int = 500, years: int = 5) -> tuple[int, int]:
    """(peak bytes, runs) of one automatic-size batch of small runs (sim/core/batch.py) stepped to the end."""
    configs = [from_mapping({"n_customers": customers, "years": years, "seed": seed}) for seed in range(2000)]
    configs = configs[: batch_size(configs)]
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    run_batch(configs, means=False)
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    return peak, len(configs)


def _slope(rows: list[tuple[float, float]]) -> float:
    (x0, y0), (x1, y1) = rows
    return (y1 - y0) / (x1 - x0)


def _worker_memory(_: object) -> int:
    """Private memory of this (pool worker) process after one small run."""
    RelationshipModel(n_customers=2_000, years=1, seed=1).run()
    private = 0
    with open("/proc/self/smaps_rollup") as smaps:
        for line in smaps:
            if line.startswith(("Private_Clean:", "Private_Dirty:")):
                private += int(line.split()[1]) * 1024
    return private


def _csv_bytes(n: int) -> float:
    model = RelationshipModel(n_customers=n, seed=1, years=2, trace=True).run()
    with tempfile.TemporaryDirectory() as scratch:
        folder = export_run(model, model.config, Path(scratch) / "export")
        size = sum(path.stat().st_size for path in folder.iterdir())
    return size / float(model.monthly()["active"].sum())


def _resident() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmRSS:"))


def measure(sizes: tuple[int, ...] = SIZES) -> dict:
    resident = _resident() if sys.platform == "linux" else 0
    initial, steady, growing, export = [], [], [], []
    for n in sizes:
        built, peak, largest, _ = _peak(n)
        initial.append((n, built))
        steady.append((largest, peak))
        _, peak, largest, _ = _peak(n // 4, **GROWING)
        growing.append((largest, peak))
        _, peak, _, served = _peak(n // 4, trace=True, export=True)
        export.append((served, peak))
    figures: dict = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "machine": platform.machine(),
        "bytes_per_customer": {
            "initial": _slope(initial),
            "steady": _slope(steady),
            "growing": _slope(growing),
        },
        "export_bytes_per_customer_month": {"memory": _slope(export), "csv": _csv_bytes(sizes[0] // 10)},
        "worker_bytes": {"forked_private": 0, "process_resident": resident},
    }
    figures["batch_bytes"], figures["batch_runs"] = _batch_peak()
    if sys.platform == "linux":
        with ProcessPoolEvaluator(1) as pool:
            figures["worker_bytes"]["forked_private"] = max(result for _, result in pool.evaluate(_worker_memory, [0]))
    per_customer = figures["bytes_per_customer"]
    figures["covered"] = {
        "INIT_BYTES_PER_CUSTOMER": per_customer["initial"] <= limits.INIT_BYTES_PER_CUSTOMER,
        "BASE_BYTES_PER_CUSTOMER": max(per_customer["steady"], per_customer["growing"])
        <= limits.BASE_BYTES_PER_CUSTOMER,
        "TRACE_BYTES_PER_CUSTOMER_MONTH": figures["export_bytes_per_customer_month"]["memory"]
        <= limits.TRACE_BYTES_PER_CUSTOMER_MONTH,
        "CSV_BYTES_PER_CUSTOMER_MONTH": figures["export_bytes_per_customer_month"]["csv"]
        <= limits.CSV_BYTES_PER_CUSTOMER_MONTH,
        "WORKER_BYTES": max(figures["worker_bytes"].values()) <= limits.WORKER_BYTES,
        "BATCH_BYTES": figures["batch_bytes"] <= limits.BATCH_BYTES,
    }
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    figures = measure()
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print(f"python {figures['python']} numpy {figures['numpy']} ({figures['machine']})")
    for name, value in figures["bytes_per_customer"].items():
        print(f"  {name:<10} {value:8.0f} bytes per customer")
    for name, value in figures["export_bytes_per_customer_month"].items():
        print(f"  export {name:<6} {value:5.0f} bytes per customer-month")
    for name, value in figures["worker_bytes"].items():
        print(f"  worker {name:<16} {value / 2**20:6.0f} MiB")
    print(f"  batch of {figures['batch_runs']} small runs {figures['batch_bytes'] / 2**20:6.0f} MiB at its peak")
    for constant, covered in figures["covered"].items():
        status = "covered    " if covered else "NOT covered"
        print(f"  {status}  sim/core/limits.py {constant} = {getattr(limits, constant):,}")


if __name__ == "__main__":
    main()
