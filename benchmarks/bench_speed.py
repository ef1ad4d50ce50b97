"""Speed and memory of the vectorised model against the agent-per-customer reference, in one process.

    python benchmarks/bench_speed.py            # a table
    python benchmarks/bench_speed.py --json     # the figures as JSON

Customer-steps per second = customers served summed over the timed months / wall time of those months, on
one core (numpy does not thread these operations). Both models are built first and run one untimed year so
that the population has reached its working mix of tenures and levels of satisfaction; the reference is
timed over fewer months because it is slow. Memory per customer counts the arrays that grow with the
number of customers (the population's fields and the step's work buffers) per active customer, and for the
reference the Python memory its agents take (tracemalloc) per customer.
Targets from issue 3: >= 100x the reference, >= 30 M customer-steps/s, <= 100 bytes per customer.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import tracemalloc

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from sim.core.model import RelationshipModel
from sim.core.reference import ReferenceModel

SIZES = (10_000, 100_000)
LEVEL = "reactive"  # the default level; `--level` measures another


def _speed(model, months: int, repeats: int = 1) -> float:
    """Best of ``repeats`` timings of ``months`` steps, in customer-steps per second (works for both models)."""
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(months):
            model.step()
        elapsed = time.perf_counter() - start
        served = float(model.monthly()["active"].iloc[-months:].sum())
        best = max(best, served / elapsed)
    return best


def measure(level: str = LEVEL, sizes: tuple[int, ...] = SIZES) -> dict:
    figures: dict = {
        "level": level,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "machine": platform.machine(),
        "sizes": {},
    }
    for n in sizes:
        model = RelationshipModel(level=level, n_customers=n, years=5, seed=1)
        for _ in range(12):
            model.step()
        vectorised = _speed(model, months=12, repeats=3)
        buffers = sum(array.nbytes for array in model._buffers.values())
        bytes_per_customer = (model.population.nbytes + buffers) / model.population.n

        tracemalloc.start()
        reference = ReferenceModel(level=level, n_customers=n, years=5, seed=1)
        reference_bytes = tracemalloc.get_traced_memory()[0] / n
        tracemalloc.stop()
        for _ in range(2):
            reference.step()
        reference_speed = _speed(reference, months=3 if n <= 10_000 else 1)
        figures["sizes"][str(n)] = {
            "vectorised_customer_steps_per_second": vectorised,
            "reference_customer_steps_per_second": reference_speed,
            "speedup": vectorised / reference_speed,
            "vectorised_bytes_per_customer": bytes_per_customer,
            "reference_bytes_per_customer": reference_bytes,
        }
    worst = min(figures["sizes"].values(), key=lambda row: row["vectorised_customer_steps_per_second"])
    largest = figures["sizes"][str(max(sizes))]
    figures["targets"] = {
        "speedup_at_least_100": min(row["speedup"] for row in figures["sizes"].values()) >= 100,
        "at_least_30M_customer_steps_per_second_at_largest_size": largest["vectorised_customer_steps_per_second"]
        >= 30e6,
        "at_least_30M_customer_steps_per_second_at_every_size": worst["vectorised_customer_steps_per_second"] >= 30e6,
        "at_most_100_bytes_per_customer": max(row["vectorised_bytes_per_customer"] for row in figures["sizes"].values())
        <= 100,
    }
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--level", default=LEVEL, help="relationship level to measure (default: reactive)")
    args = parser.parse_args()
    figures = measure(args.level)
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print(f"level={figures['level']} python {figures['python']} numpy {figures['numpy']}")
    header = ("customers", "vectorised M/s", "reference M/s", "speedup", "B/customer", "ref B/cust")
    print(" ".join(f"{name:>{width}}" for name, width in zip(header, (10, 15, 14, 8, 11, 11), strict=True)))
    for n, row in figures["sizes"].items():
        print(
            f"{int(n):>10,} {row['vectorised_customer_steps_per_second'] / 1e6:>15.1f} "
            f"{row['reference_customer_steps_per_second'] / 1e6:>14.3f} {row['speedup']:>8.0f} "
            f"{row['vectorised_bytes_per_customer']:>11.0f} {row['reference_bytes_per_customer']:>11.0f}"
        )
    for target, met in figures["targets"].items():
        print(f"  {'met    ' if met else 'NOT met'}  {target}")


if __name__ == "__main__":
    main()
