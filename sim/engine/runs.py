"""One chunk of a sweep: pure, picklable functions of plain data returning plain rows, so every evaluator
(in-process, process pool, Dask) gives bit-identical results."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from sim.core.config import from_mapping
from sim.core.inputs import with_seed
from sim.engine.spec import SUMMARY_METRICS
from sim.outputs.accounts import accounts, ledger, summary_figures


def simulate(params: Mapping[str, Any], seed: int, summary: bool = False) -> dict[str, Any]:
    """Run the model once: the ledger its accounts need (and the summary's other figures if asked)."""
    return simulate_many([(params, seed)], summary, batch_size=1)[0]


def simulate_many(
    jobs: Sequence[tuple[Mapping[str, Any], int]], summary: bool = False, batch_size: int | None = None
) -> list[dict[str, Any]]:
    """Every (params, seed) job's series, in order. Jobs of one structure are stepped together in batches
    (sim/core/batch.py; ``batch_size`` runs at most, automatic when None, 1 for none); a job the batch cannot
    hold runs alone. Either way a job's series is the same, bit for bit."""
    from sim.core.batch import batch_key, run_batch, unbatchable
    from sim.core.batch import batch_size as automatic

    configs, templates = _configs(jobs)
    series: list[dict[str, Any] | None] = [None] * len(configs)
    groups: dict[tuple[Any, ...], list[int]] = {}
    keys: dict[int, tuple[Any, ...] | None] = {}  # by the checked config a job's config was made from
    for index, (config, template) in enumerate(zip(configs, templates, strict=True)):
        if id(template) not in keys:
            keys[id(template)] = None if batch_size == 1 or unbatchable(template) else batch_key(template)
        key = keys[id(template)]
        if key is None:
            series[index] = _series(_single(config), config, summary)
        else:
            groups.setdefault(key, []).append(index)
    for members in groups.values():
        size = batch_size or automatic([configs[i] for i in members])
        for start in range(0, len(members), size):
            part = members[start : start + size]
            records = run_batch([configs[i] for i in part], means=False) if len(part) > 1 else None
            for position, index in enumerate(part):
                record = records[position] if records else _single(configs[index])
                series[index] = _series(record, configs[index], summary)
    return series  # type: ignore[return-value]


def _configs(jobs: Sequence[tuple[Mapping[str, Any], int]]) -> tuple[list[Any], list[Any]]:
    """Each job's config, checked once per distinct parameter set: replications differ only in the seed (one
    from the engine's seed rule, always valid), so they share the checked config (returned too) with their own
    seed."""
    checked: dict[int, tuple[Mapping[str, Any], Any]] = {}
    configs, templates = [], []
    for params, seed in jobs:
        held = checked.get(id(params))
        if held is None or held[0] is not params:
            held = checked[id(params)] = (params, from_mapping({**params, "seed": seed}))
        configs.append(with_seed(held[1], seed))
        templates.append(held[1])
    return configs, templates


def _single(config: Any) -> Any:
    from sim.core.model import RelationshipModel  # imported here: `import sim.engine.sweep` stays light for the CLI

    return RelationshipModel(config).run().history


def _series(record: Any, config: Any, summary: bool) -> dict[str, Any]:
    series: dict[str, Any] = ledger(record, config.discount_rate)
    if summary:
        series["summary"] = summary_figures(record)
    return series


def metrics(series: Mapping[str, Any], margin: float, scale: float, names: Iterable[str]) -> dict[str, float]:
    """The named metrics of one simulation at ``margin``: the accounts (totals scaled from the sample to the firm)
    and, for the rest of the summary's scalars, the summary."""
    figures = accounts(series, margin, scale)
    return {name: figures[name] if name in figures else series["summary"][name] for name in names}


def run_task(
    task: Mapping[str, Any], settings: Mapping[str, Any], series: Mapping[str | None, Mapping[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """One simulation per compared level (one in all without [compare]); one row per point it serves.
    ``series``: the simulations already run (by level; None without [compare]), as :func:`run_chunk` batches them."""
    names = settings["metrics"]
    levels = settings["levels"]
    runs = series if series is not None else _simulations([task], settings, 1)[0]
    rows = []
    for target in task["targets"]:
        row = {
            "run": target["point"] * settings["replications"] + task["replication"],
            "point": target["point"],
            "replication": task["replication"],
            "seed": task["seed"],
            **target["values"],
        }
        if not levels:
            row.update(metrics(runs[None], target["margin"], target["scale"], names))
        else:
            per_level = {level: metrics(runs[level], target["margin"], target["scale"], names) for level in levels}
            for name in names:
                row.update({f"{name}.{level}": per_level[level][name] for level in levels})
            row.update(_derived(per_level, settings))
        rows.append(row)
    return rows


def _simulations(
    tasks: Sequence[Mapping[str, Any]], settings: Mapping[str, Any], batch_size: int | None
) -> list[dict[str | None, dict[str, Any]]]:
    """Every simulation the tasks need (one per compared level), run together; by task, then by level."""
    levels = settings["levels"] or [None]
    variants: dict[tuple[int, str | None], Mapping[str, Any]] = {}  # one parameter set per point and level
    jobs = []
    for task in tasks:
        params = task["params"]
        for level in levels:
            key = (id(params), level)
            if key not in variants:
                variants[key] = {**params, "level": level} if level else params
            jobs.append((variants[key], task["seed"]))
    summary = any(name in SUMMARY_METRICS for name in settings["metrics"])
    done = iter(simulate_many(jobs, summary, batch_size))
    return [{level: next(done) for level in levels} for _ in tasks]


def _derived(per_level: Mapping[str, Mapping[str, float]], settings: Mapping[str, Any]) -> dict[str, Any]:
    levels, metric, derived = settings["levels"], settings["compare_metric"], settings["derived"]
    values = np.array([per_level[level][metric] for level in levels])
    order = np.argsort(-values, kind="stable")  # ties: the lower (cheaper) level wins
    out: dict[str, Any] = {}
    if "winner" in derived:
        out["winner"] = levels[int(order[0])]
    if "advantage" in derived:
        baseline = settings["baseline"]
        base = per_level[baseline][metric]
        out.update({f"advantage.{level}": per_level[level][metric] - base for level in levels if level != baseline})
    if "lead" in derived:
        out["lead"] = float(values[order[0]] - values[order[1]])
    return out


def run_chunk(chunk: Mapping[str, Any]) -> tuple[int, list[dict[str, Any]]]:
    """Every task of a chunk, in order: the unit an evaluator runs and a Parquet part stores. Its simulations are
    stepped together in batches of ``chunk["batch_size"]`` (automatic when absent or None)."""
    settings, tasks = chunk["settings"], chunk["tasks"]
    series = _simulations(tasks, settings, chunk.get("batch_size"))
    return chunk["chunk"], [
        row for task, runs in zip(tasks, series, strict=True) for row in run_task(task, settings, runs)
    ]
