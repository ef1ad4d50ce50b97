"""Parameter sweeps (issue 6): a spec as data, runs as pure functions, results as resumable Parquet.

The pieces, in the order ``relsim sweep SPEC.toml`` uses them (docs/SWEEPS.md explains the format and design);
this module drives them and re-exports the public names, so callers import from ``sim.engine.sweep`` only:

- :func:`load_spec` reads a TOML spec into a validated :class:`SweepSpec` (base config, fixed fields, factors,
  design, replications, seed, outputs); every error is one :class:`~sim.core.config.ConfigError` naming its key;
- :func:`design` turns the factors into design points (grid, Latin hypercube, Sobol/Saltelli, Morris; the sampled
  designs come from SALib);
- :func:`plan` lists the simulations: points that differ only in ``margin`` share one simulation (margin enters
  only the accounts), each simulation's seed derives from the sweep seed and its index (SeedSequence spawning),
  and simulations are cut into chunks;
- :func:`run_chunk` runs one chunk: a pure, picklable function of plain data returning plain rows, so any
  evaluator (:mod:`sim.engine.evaluators`: in-process, process pool, Dask) gives bit-identical results;
- :func:`run_sweep` drives an evaluator and appends each finished chunk to ``parts/`` as one Parquet file,
  written atomically; a restarted sweep skips the chunks already written (resume), and a finished one is
  consolidated into ``runs.parquet``. ``manifest.json`` holds the spec and its hash;
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import math
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sim import __version__
from sim.core.limits import check_memory
from sim.engine import api, checks
from sim.engine.evaluators import Evaluator, make_evaluator
from sim.engine.plan import cut, design, legacy_chunk_size, plan, plan_order, run_seed
from sim.engine.runs import metrics, run_chunk, simulate
from sim.engine.spec import (
    CUSTOMERS,
    MANIFEST,
    METRICS,
    PARTS,
    RESULTS,
    SUMMARY_METRICS,
    SweepSpec,
    read_spec,
    read_spec_file,
)
from sim.engine.store import (
    COMMAND,
    FILES,
    LEGACY,
    check_out,
    clean_parts,
    consolidate,
    load_results,
    schema,
    verify_parts,
    write_json,
    write_part,
)
from sim.files import output_folder

__all__ = [
    "CUSTOMERS",
    "MANIFEST",
    "METRICS",
    "RESULTS",
    "SUMMARY_METRICS",
    "SweepResult",
    "SweepSpec",
    "design",
    "load_results",
    "load_spec",
    "metrics",
    "parse_spec",
    "plan",
    "run_chunk",
    "run_seed",
    "run_sweep",
    "simulate",
]


def parse_spec(data: Mapping[str, Any], base_dir: Path | str = ".", source: str | None = None) -> SweepSpec:
    """A validated sweep spec from TOML data: every simulation's config is built and checked before anything runs."""
    spec = read_spec(data, base_dir, source)
    plan(spec)
    return spec


def load_spec(path: str | Path) -> SweepSpec:
    """Read a sweep spec file and check every simulation's config (paths inside it are relative to the file)."""
    spec = read_spec_file(path)
    plan(spec)
    return spec


@dataclass
class SweepResult:
    out: Path
    table: Any = dataclasses.field(repr=False)  # the rows (pyarrow Table), sorted by run
    runs: int
    new_runs: int
    seconds: float
    evaluator: str
    spec_hash: str

    @property
    def rate(self) -> float:
        return self.new_runs / self.seconds if self.seconds > 0 else math.nan

    @functools.cached_property
    def frame(self) -> Any:
        """Every row, sorted by run (a pandas DataFrame, made from the table when first asked for)."""
        return self.table.to_pandas()


def run_sweep(
    spec: SweepSpec,
    out: Path | str | None = None,
    evaluator: Evaluator | None = None,
    progress: bool = False,
) -> SweepResult:
    """Run (or resume) a sweep into ``out``; returns every row. Chunks already stored are not run again."""
    if importlib.util.find_spec("pyarrow") is None:
        raise checks.fail("out", "storing sweep results needs pyarrow: pip install pyarrow")

    out = Path(out if out is not None else spec.out or "")
    if not str(out) or str(out) == ".":
        raise checks.fail("out", "no output folder: set sweep.out in the spec or pass --out")
    plan_ = plan(spec)
    evaluator = evaluator or make_evaluator()
    if not getattr(evaluator, "address", None):  # runs on this machine: will they fit in its memory?
        check_memory((task["params"] for chunk in plan_.chunks for task in chunk["tasks"]), evaluator.workers)
    # Claimed (checked, locked, marked) for the whole session: a second sweep into this folder is refused.
    with output_folder(out, COMMAND, keep=FILES, legacy=LEGACY, option="out"):
        return _run_in(out, spec, plan_, evaluator, progress)


def sweep_rows(
    spec: SweepSpec, evaluator: Evaluator, store: Path | str | None = None, progress: bool = False
) -> tuple[Any, int]:
    """Every row of a sweep (a DataFrame sorted by run) and how many came from an earlier, interrupted start: in
    memory (:func:`sim.engine.api.sweep`) without ``store``, else resumable in ``store`` (:func:`run_sweep`)."""
    if store is None:
        return api.sweep(spec, evaluator=evaluator), 0
    stored = run_sweep(spec, store, evaluator, progress=progress)
    return stored.frame, stored.runs - stored.new_runs


def _run_in(out: Path, spec: SweepSpec, plan_: Any, evaluator: Evaluator, progress: bool) -> SweepResult:
    import pyarrow as pa

    manifest = check_out(out, spec)
    if manifest is not None:  # resuming: cut the simulations into the chunks the stored parts were made of
        plan_ = _rechunk(plan_, manifest)
    started = time.perf_counter()
    if manifest is not None and (out / RESULTS).is_file():  # finished (runs.parquet is written last but one)
        table = consolidate(out, plan_, manifest, 0.0, evaluator.describe())
        seconds = float(manifest.get("last_session_seconds") or 0.0)  # the time of the run that finished it
        return SweepResult(out, table, plan_.runs, 0, seconds, manifest.get("evaluator", "?"), spec.hash())
    clean_parts(out)  # a killed writer's leftovers; its chunk simply runs again
    done = verify_parts(out, manifest) if manifest is not None else set()  # before any new work

    with evaluator:  # connect or start workers before anything is written: a failure leaves nothing behind
        if manifest is None:  # written before the first run
            manifest = {
                "relsim_version": __version__,
                "spec_hash": spec.hash(),
                "name": spec.name,
                "spec_path": spec.source,
                "runs": plan_.runs,
                "simulations": plan_.simulations,
                "chunks": len(plan_.chunks),
                "chunk_size": len(plan_.chunks[0]["tasks"]) if plan_.chunks else 0,
                "chunk_order": "batch",  # sim.engine.plan.batch_order (absent: the design's order, before it)
                "columns": plan_.columns,
                "spec": spec.canonical(),
                "spec_text": spec.source_text,
                "complete": False,
                "parts": {},
            }
            write_json(out / MANIFEST, manifest)
        (out / PARTS).mkdir(exist_ok=True)
        # Batch size is how a worker steps its chunk, not what it computes: it is in no hash or manifest.
        pending = [{**c, "batch_size": evaluator.batch_size} for c in plan_.chunks if c["chunk"] not in done]
        rows_per_chunk = {c["chunk"]: sum(len(t["targets"]) for t in c["tasks"]) for c in plan_.chunks}
        already = sum(rows_per_chunk[c] for c in done)
        table_schema = schema(plan_)
        bar = None
        try:  # the bar is drawn inside: a Ctrl+C right after it appears still ends its line before the message
            bar = _progress_bar(plan_.runs, already, spec.name, progress)
            for _, (chunk_id, rows) in evaluator.evaluate(run_chunk, pending):
                write_part(out, manifest, chunk_id, pa.Table.from_pylist(rows, schema=table_schema))
                bar.update(len(rows))
        finally:
            if bar is not None:
                bar.close()
    seconds = time.perf_counter() - started
    table = consolidate(out, plan_, manifest, seconds, evaluator.describe())
    return SweepResult(out, table, plan_.runs, plan_.runs - already, seconds, evaluator.describe(), spec.hash())


def _rechunk(plan_: Any, manifest: dict[str, Any]) -> Any:
    tasks = [task for chunk in plan_.chunks for task in chunk["tasks"]]
    size = manifest.get("chunk_size") or plan_.spec.chunk_size or legacy_chunk_size(len(tasks))
    ordered = manifest.get("chunk_order") == "batch"
    if plan_.chunks and size == len(plan_.chunks[0]["tasks"]) and ordered:
        return plan_
    if not ordered:  # stored before chunks were cut in batch order
        tasks = plan_order(tasks)
    settings = plan_.chunks[0]["settings"] if plan_.chunks else {}
    return dataclasses.replace(plan_, chunks=cut(tasks, settings, size))


def _progress_bar(total: int, initial: int, name: str, enabled: bool) -> Any:
    from tqdm import tqdm  # a dependency of mesa

    return tqdm(
        total=total,
        initial=initial,
        desc=f"relsim sweep {name}",
        unit="run",
        file=sys.stderr,
        mininterval=0.5,
        smoothing=0.05,
        disable=not enabled,
    )
