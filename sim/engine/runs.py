"""One chunk of a sweep: pure, picklable functions of plain data returning plain rows, so every evaluator
(in-process, process pool, Dask) gives bit-identical results."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from sim.core.config import from_mapping
from sim.engine.spec import SUMMARY_METRICS
from sim.outputs.accounts import accounts, ledger


def simulate(params: Mapping[str, Any], seed: int, summary: bool = False) -> dict[str, Any]:
    """Run the model once: the ledger its accounts need (and the full summary's scalars if asked)."""
    from sim.core.model import RelationshipModel  # imported here: `import sim.engine.sweep` stays light for the CLI

    config = from_mapping({**params, "seed": seed})
    model = RelationshipModel(config).run()
    series: dict[str, Any] = ledger(model.history, config.discount_rate)
    if summary:
        from sim.outputs.results import summarise

        series["summary"] = _flatten(summarise(model.monthly(), config))
    return series


def _flatten(summary: Mapping[str, Any]) -> dict[str, float]:
    flat: dict[str, float] = {}
    for key, value in summary.items():
        if isinstance(value, Mapping):
            for inner, number in value.items():
                flat[f"{key}.{inner}"] = math.nan if number is None else float(number)
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and value is not None:
            flat[key] = float(value)
        elif value is None:
            flat[key] = math.nan
    return flat


def metrics(series: Mapping[str, Any], margin: float, scale: float, names: Iterable[str]) -> dict[str, float]:
    """The named metrics of one simulation at ``margin``: the accounts (totals scaled from the sample to the firm)
    and, for the rest of the summary's scalars, the summary."""
    figures = accounts(series, margin, scale)
    return {name: figures[name] if name in figures else series["summary"][name] for name in names}


def run_task(task: Mapping[str, Any], settings: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One simulation per compared level (one in all without [compare]); one row per point it serves."""
    names = settings["metrics"]
    summary = any(name in SUMMARY_METRICS for name in names)
    levels = settings["levels"]
    runs = (
        {level: simulate({**task["params"], "level": level}, task["seed"], summary) for level in levels}
        if levels
        else {None: simulate(task["params"], task["seed"], summary)}
    )
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
    """Every task of a chunk, in order: the unit an evaluator runs and a Parquet part stores."""
    settings = chunk["settings"]
    return chunk["chunk"], [row for task in chunk["tasks"] for row in run_task(task, settings)]
