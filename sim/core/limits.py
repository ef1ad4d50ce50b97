"""Resources a command will need, checked before it starts: memory of its runs, size of an export, size of a design.

The figures per customer are measured by ``benchmarks/bench_memory.py`` (tracemalloc peaks in one process, the
slope between two population sizes so that fixed costs cancel) and rounded up; the benchmark reports whether
they still cover what it measures. A run's customer base can grow up to ``market_size_multiple × n_customers``
(the market is finite: acquisitions stop there), so its memory is projected at that size.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from typing import Any

from sim.errors import ConfigError

INIT_BYTES_PER_CUSTOMER = 260  # peak while the initial customers are drawn (float64 draws beside the arrays)
BASE_BYTES_PER_CUSTOMER = 150  # peak per customer of the largest base (arrays, growth slack, buffers, copies)
WORKER_BYTES = 160 * 2**20  # a worker process's own memory: a spawned interpreter with numpy, pandas and Mesa
# A worker's batch of small runs (sim.core.batch: at most 250,000 customer slots; 70-79 MiB at its peak with its
# pools of random numbers, work buffers and records, benchmarks/bench_memory.py; runs above 20,000 customers are
# never batched).
BATCH_BYTES = 96 * 2**20
TRACE_BYTES_PER_CUSTOMER_MONTH = 180  # peak of a traced run plus its export (records, then DataFrames)
CSV_BYTES_PER_CUSTOMER_MONTH = 130  # what `relsim run --export` writes per customer and month served
EXPORT_CONFIRM_BYTES = 1_000_000_000  # larger exports need --yes
MAX_SWEEP_RUNS = 1_000_000  # runs (points × scenarios × replications) in one sweep

_enforced = True


@contextmanager
def memory_check(enabled: bool) -> Iterator[None]:
    """``with memory_check(False):`` lets the runs inside start whatever their projected memory
    (``--skip-memory-check``)."""
    global _enforced
    previous, _enforced = _enforced, enabled
    try:
        yield
    finally:
        _enforced = previous


def gigabytes(size: float) -> str:
    return f"{size / 1e9:,.1f} GB" if size >= 1e8 else f"{size / 1e6:,.0f} MB"


def available_memory() -> int | None:
    """Bytes this process may still allocate: the system's MemAvailable, or less under a cgroup limit."""
    found: list[int] = []
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    found.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        with suppress(OSError, ValueError, AttributeError):
            found.append(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    try:
        with open("/sys/fs/cgroup/memory.max") as limit, open("/sys/fs/cgroup/memory.current") as current:
            text = limit.read().strip()
            if text != "max":
                found.append(max(int(text) - int(current.read()), 0))
    except (OSError, ValueError):
        pass
    return min(found) if found else None


def largest_base(config: Mapping[str, Any]) -> int:
    """The most customers a run can have: the whole market, ``market_size_multiple × n_customers``."""
    return math.ceil(float(config["market_size_multiple"]) * int(config["n_customers"]))


def run_bytes(config: Mapping[str, Any]) -> int:
    """Projected peak memory of one run (a config's fields as a mapping, e.g. ``Config.as_dict()``)."""
    initial = INIT_BYTES_PER_CUSTOMER * int(config["n_customers"])
    return max(initial, BASE_BYTES_PER_CUSTOMER * largest_base(config))


def check_memory(configs: Iterable[Mapping[str, Any]], workers: int = 1, *, option: str = "n_customers") -> None:
    """Refuse runs whose projected memory, ``workers`` at a time, exceeds the memory available now."""
    available = available_memory()
    if not _enforced or available is None:
        return
    largest = max(configs, key=run_bytes, default=None)
    if largest is None:
        return
    each = run_bytes(largest)
    need = workers * (each + BATCH_BYTES) + (WORKER_BYTES * workers if workers > 1 else 0)
    if need <= available:
        return
    at_once = f"; {workers} at once with their worker processes need {gigabytes(need)}" if workers > 1 else ""
    raise ConfigError(
        option,
        f"a run may grow to {largest_base(largest):,} customers (n_customers {int(largest['n_customers']):,} × "
        f"market_size_multiple {float(largest['market_size_multiple']):g}) and need about {gigabytes(each)}{at_once}, "
        f"but {gigabytes(available)} is available; lower n_customers or market_size_multiple, use fewer workers, "
        "or pass --skip-memory-check",
    )


def export_size(config: Mapping[str, Any]) -> tuple[int, int, int]:
    """(customer-months, bytes of CSV, bytes of memory) of exporting a run whose base stays near n_customers."""
    customer_months = int(config["n_customers"]) * 12 * int(config["years"])
    return (
        customer_months,
        customer_months * CSV_BYTES_PER_CUSTOMER_MONTH,
        customer_months * TRACE_BYTES_PER_CUSTOMER_MONTH + run_bytes(config),
    )


def check_export(config: Mapping[str, Any], confirmed: bool) -> None:
    """Refuse an export that would not fit in memory, and ask for ``--yes`` before writing a large one."""
    customer_months, disk, memory = export_size(config)
    available = available_memory()
    what = f"{customer_months:,} customer-months (n_customers {int(config['n_customers']):,} × {config['years']} years)"
    if _enforced and available is not None and memory > available:
        raise ConfigError(
            "--export",
            f"{what} need about {gigabytes(memory)} of memory but {gigabytes(available)} is available; export a "
            "smaller run (n_customers, years) or pass --skip-memory-check",
        )
    if disk > EXPORT_CONFIRM_BYTES and not confirmed:
        raise ConfigError("--export", f"{what} make about {gigabytes(disk)} of CSV; add --yes to write them")


def design_runs(design: str, samples: int | None, sizes: Sequence[int], scenarios: int, replications: int) -> int:
    """Runs of a sweep design, counted without building it: a grid is the product of its factors' sizes; SALib's
    Sobol (first and total order) takes samples × (factors + 2), Morris samples × (factors + 1), Latin samples;
    explicit points (``design = "points"``) are counted as ``samples``, one scenario."""
    if design == "grid":
        points = math.prod(sizes)
    else:
        per_sample = {"sobol": len(sizes) + 2, "morris": len(sizes) + 1}.get(design, 1)
        points = (samples or 0) * per_sample
    return points * max(scenarios, 1) * replications


def check_design(design: str, samples: int | None, sizes: Sequence[int], scenarios: int, replications: int) -> None:
    """Refuse a design too large to build and run, before it is built."""
    runs = design_runs(design, samples, sizes, scenarios, replications)
    if runs <= MAX_SWEEP_RUNS:
        return
    unit = "points" if design == "points" else "samples"
    count = "×".join(str(size) for size in sizes) if design == "grid" else f"{samples:,} {unit}"
    raise ConfigError(
        {"grid": "vary", "points": "points"}.get(design, "sweep.samples"),
        f"the {design} design makes {runs:,} runs ({count}, {max(scenarios, 1)} scenario(s), {replications} "
        f"replication(s)); at most {MAX_SWEEP_RUNS:,} in one sweep: lower it or split it into several sweeps",
    )
