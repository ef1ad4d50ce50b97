"""A continuous version of Kotler's matrix (issue 6): the winning level over customers (log scale) × margin.

A phase spec is a grid sweep spec (docs/SWEEPS.md) over exactly two factors, ``customers`` (the firm's
number of customers, total revenue fixed so that value per customer changes) and ``margin``, comparing levels at
every point, for one or more named markets (``[scenarios]``), plus a ``[phase]`` table. Margin enters only
the accounts, so the sweep runs one simulation per level × customers value × replication × market and derives
every margin from it (sim.engine.sweep's margin sharing; tests/test_sweep_phase.py checks it against direct runs).

Per market and grid point the winner is the level with the highest mean discounted profit over replications
(paired: every level of a replication shares the seed); ``win_share`` is the share of replications in which
that level also wins on its own. Kotler's 3×3 cells are read from the matrix spec (sim.experiments.kotler) and
drawn over the diagram. Output: ``phase.csv``, ``phase.png`` (all markets), ``phase_<market>.png``,
``REPORT.md``, the spec copy ``spec.toml`` and the sweep's rows in ``runs/``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.core.config import ConfigError
from sim.engine.sweep import CUSTOMERS, SweepSpec, parse_spec
from sim.experiments.kotler import Cell, read_cells
from sim.files import read_toml

SECTION_KEYS = ("out", "matrix")


@dataclass(frozen=True)
class PhaseSpec:
    sweep: SweepSpec
    out: str
    cells: tuple[Cell, ...]
    matrix: str | None = None
    source: str | None = None


def _kotler_cells(path: Path) -> tuple[Cell, ...]:
    if not path.is_file():
        raise ConfigError("phase.matrix", f"file not found: {path}")
    try:
        return read_cells(path)
    except ConfigError as error:
        raise ConfigError("phase.matrix", f"{path}: {error}") from None


def parse_phase(data: Mapping[str, Any], base_dir: Path | str = ".", source: str | None = None) -> PhaseSpec:
    """A validated :class:`PhaseSpec`: a grid over customers × margin comparing levels, and where to draw it."""
    base_dir = Path(base_dir)
    data = dict(data)
    section = data.pop("phase", None)
    if not isinstance(section, Mapping):
        raise ConfigError("phase", "missing table [phase] (out, matrix)")
    unknown = sorted(set(section) - set(SECTION_KEYS))
    if unknown:
        raise ConfigError(f"phase.{unknown[0]}", f"unknown key; allowed: {', '.join(SECTION_KEYS)}")
    out = section.get("out")
    if not isinstance(out, str) or not out:
        raise ConfigError("phase.out", f"must be a folder name; got {out!r}")
    sweep_table = data.get("sweep", {})
    if not isinstance(sweep_table, Mapping):
        raise ConfigError("sweep", f"must be a table; got {sweep_table!r}")
    for key in ("design", "out"):
        if key in sweep_table:
            raise ConfigError(f"sweep.{key}", "set by [phase] (a grid, written to phase.out/runs); remove it")
    vary = data.get("vary", {})
    if not isinstance(vary, Mapping) or set(vary) != {CUSTOMERS, "margin"}:
        names = ", ".join(vary) if isinstance(vary, Mapping) else repr(vary)
        raise ConfigError("vary", f"a phase diagram varies exactly customers and margin; got {names or 'nothing'}")
    compare = data.get("compare")
    if not isinstance(compare, Mapping) or "levels" not in compare:
        raise ConfigError("compare", "a phase diagram compares levels: add [compare] levels = [...]")
    spec = parse_spec({**data, "sweep": {**sweep_table, "design": "grid", "out": f"{out}/runs"}}, base_dir, source)
    cells: tuple[Cell, ...] = ()
    matrix = None
    if "matrix" in section:
        if not isinstance(section["matrix"], str):
            raise ConfigError("phase.matrix", f"must be a path to the matrix spec; got {section['matrix']!r}")
        matrix = str(base_dir / section["matrix"])
        cells = _kotler_cells(Path(matrix))
    return PhaseSpec(spec, out, cells, matrix, source)


def load_phase(path: str | Path) -> PhaseSpec:
    path = Path(path)
    data, text = read_toml(path, "SPEC")
    spec = parse_phase(data, base_dir=path.parent, source=str(path))
    return replace(spec, sweep=replace(spec.sweep, source_text=text))


# ----------------------------------------------------------------------------------------------------------------
# Analysis
# ----------------------------------------------------------------------------------------------------------------
def winners(spec: SweepSpec, frame: pd.DataFrame) -> pd.DataFrame:
    """One row per market × customers × margin: each level's mean profit, the winner, its lead and win share."""
    levels = list(spec.compare_levels)
    metric = spec.compare_metric
    columns = [f"{metric}.{level}" for level in levels]
    keys = ["scenario", CUSTOMERS, "margin"] if "scenario" in frame else [CUSTOMERS, "margin"]
    values = frame[columns].to_numpy(float)
    per_run_winner = np.argmax(values, axis=1)
    work = frame[keys + columns].copy()
    work["_winner"] = per_run_winner
    grouped = work.groupby(keys, sort=False)
    means = grouped[columns].mean()
    mean_values = means.to_numpy(float)
    best = np.argmax(mean_values, axis=1)
    ordered = np.sort(mean_values, axis=1)
    table = means.rename(columns={c: f"{metric}_{level}" for c, level in zip(columns, levels, strict=True)})
    table.insert(0, "winner", [levels[i] for i in best])
    table.insert(1, "lead", ordered[:, -1] - ordered[:, -2])
    won = grouped["_winner"].apply(list)
    table.insert(2, "win_share", [float(np.mean(np.asarray(w) == b)) for w, b in zip(won, best, strict=True)])
    table = table.reset_index()
    if spec.total_revenue is not None:
        table.insert(
            table.columns.get_loc(CUSTOMERS) + 1, "revenue_per_customer", spec.total_revenue / table[CUSTOMERS]
        )
    if "scenario" not in table:
        table.insert(0, "scenario", "")
    return table


def edges(centres: Sequence[float], log: bool) -> np.ndarray:
    """Cell edges around sorted grid centres: midpoints (geometric on a log axis), extended at both ends."""
    c = np.log10(np.asarray(centres, float)) if log else np.asarray(centres, float)
    if len(c) == 1:
        inner = np.array([c[0] - 0.5, c[0] + 0.5])
    else:
        mid = (c[1:] + c[:-1]) / 2
        inner = np.concatenate([[c[0] - (mid[0] - c[0])], mid, [c[-1] + (c[-1] - mid[-1])]])
    return 10.0**inner if log else inner


def kotler_regions(cells: Sequence[Cell], x_range: tuple[float, float], y_range: tuple[float, float]) -> list[dict]:
    """Each Kotler cell as a rectangle in (customers, margin): rows split at geometric midpoints between the rows'
    customer counts, columns at midpoints between the columns' margins, outer cells reaching the axes' ends."""
    rows = sorted({c.customers for c in cells})
    cols = sorted({c.margin for c in cells})
    x_edges = [x_range[0], *[math.sqrt(a * b) for a, b in itertools.pairwise(rows)], x_range[1]]
    y_edges = [y_range[0], *[(a + b) / 2 for a, b in itertools.pairwise(cols)], y_range[1]]
    regions = []
    for cell in cells:
        i, j = rows.index(cell.customers), cols.index(cell.margin)
        regions.append({"cell": cell, "x0": x_edges[i], "x1": x_edges[i + 1], "y0": y_edges[j], "y1": y_edges[j + 1]})
    return regions


def agreement(table: pd.DataFrame, cells: Sequence[Cell]) -> pd.DataFrame:
    """Per market and Kotler cell: the share of grid points in the cell's region where Kotler's level wins, and
    the winner at the grid point nearest the matrix experiment's own cell (its customers and margin)."""
    if not cells:
        return pd.DataFrame()
    x_range = (table[CUSTOMERS].min() * 0.5, table[CUSTOMERS].max() * 2)
    y_range = (0.0, 1.0)
    records = []
    for scenario, part in table.groupby("scenario", sort=False):
        for region in kotler_regions(cells, x_range, y_range):
            cell = region["cell"]
            inside = part[
                (part[CUSTOMERS] >= region["x0"])
                & (part[CUSTOMERS] < region["x1"])
                & (part["margin"] >= region["y0"])
                & (part["margin"] < region["y1"])
            ]
            accepted = {cell.recommended, *cell.also_acceptable}
            distance = (np.log10(part[CUSTOMERS] / cell.customers)) ** 2 + ((part["margin"] - cell.margin) / 0.25) ** 2
            nearest = part.loc[distance.idxmin()]
            records.append(
                {
                    "scenario": scenario,
                    "cell": f"{cell.row}_{cell.column}",
                    "recommended": cell.recommended,
                    "points": len(inside),
                    "share_recommended_wins": float(inside["winner"].eq(cell.recommended).mean())
                    if len(inside)
                    else math.nan,
                    "share_acceptable_wins": float(inside["winner"].isin(accepted).mean()) if len(inside) else math.nan,
                    "winners_in_region": ", ".join(
                        f"{lv} {n / len(inside):.0%}" for lv, n in inside["winner"].value_counts().items()
                    ),
                    "winner_at_cell": nearest["winner"],
                }
            )
    return pd.DataFrame(records)


# ----------------------------------------------------------------------------------------------------------------
# Figures and report
# ----------------------------------------------------------------------------------------------------------------
