"""A continuous version of Kotler's matrix (issue 6): the winning level over customers (log scale) × margin.

A phase spec is a grid sweep spec (docs/SWEEPS.md) over exactly two factors, ``customers`` (the firm's
number of customers, total revenue fixed so that value per customer changes) and ``margin``, comparing levels at
every point, for one or more named markets (``[scenarios]``), plus a ``[phase]`` table. Margin enters only
the accounts, so the sweep runs one simulation per level × customers value × replication × market and derives
every margin from it (sim.engine.sweep's margin sharing; tests/test_sweep_phase.py checks it against direct runs).

Per market and grid point the winner is the level with the highest mean discounted profit over replications
(paired: every level of a replication shares the seed); ``win_share`` is the share of replications in which
that level also wins on its own. Kotler's 3×3 cells are read from the matrix experiment's spec and drawn over
the diagram. Output: ``phase.csv``, ``phase.png`` (all markets), ``phase_<market>.png``, ``REPORT.md``, the spec
copy ``spec.toml`` and the sweep's rows in ``runs/``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import shutil
import sys
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.core.config import ConfigError
from sim.core.levels import LEVEL_NAMES
from sim.engine.evaluators import Evaluator, make_evaluator
from sim.engine.sweep import CUSTOMERS, SweepSpec, add_execution_options, parse_spec, run_sweep

SECTION_KEYS = ("out", "matrix")


@dataclass(frozen=True)
class KotlerCell:
    row: str
    column: str
    customers: int
    margin: float
    recommended: str
    also_acceptable: tuple[str, ...] = ()


@dataclass(frozen=True)
class PhaseSpec:
    sweep: SweepSpec
    out: str
    cells: tuple[KotlerCell, ...]
    matrix: str | None = None
    source: str | None = None


def _kotler_cells(path: Path) -> tuple[KotlerCell, ...]:
    from sim.experiments.matrix import load_spec as load_matrix

    if not path.is_file():
        raise ConfigError("phase.matrix", f"file not found: {path}")
    try:
        spec = load_matrix(path)
    except ConfigError as error:
        raise ConfigError("phase.matrix", f"{path}: {error}") from None
    return tuple(
        KotlerCell(c.row, c.column, c.customers, c.margin, c.recommended, c.also_acceptable) for c in spec.cells
    )


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
    cells: tuple[KotlerCell, ...] = ()
    matrix = None
    if "matrix" in section:
        if not isinstance(section["matrix"], str):
            raise ConfigError("phase.matrix", f"must be a path to the matrix spec; got {section['matrix']!r}")
        matrix = str(base_dir / section["matrix"])
        cells = _kotler_cells(Path(matrix))
    return PhaseSpec(spec, out, cells, matrix, source)


def load_phase(path: str | Path) -> PhaseSpec:
    path = Path(path)
    try:
        text = path.read_text()
        data = tomllib.loads(text)
    except OSError as error:
        raise ConfigError("SPEC", f"cannot read {path}: {error.strerror or error}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError("SPEC", f"{path} is not valid TOML: {error}") from None
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


def _edges(centres: Sequence[float], log: bool) -> np.ndarray:
    """Cell edges around sorted grid centres: midpoints (geometric on a log axis), extended at both ends."""
    c = np.log10(np.asarray(centres, float)) if log else np.asarray(centres, float)
    if len(c) == 1:
        inner = np.array([c[0] - 0.5, c[0] + 0.5])
    else:
        mid = (c[1:] + c[:-1]) / 2
        inner = np.concatenate([[c[0] - (mid[0] - c[0])], mid, [c[-1] + (c[-1] - mid[-1])]])
    return 10.0**inner if log else inner


def kotler_regions(
    cells: Sequence[KotlerCell], x_range: tuple[float, float], y_range: tuple[float, float]
) -> list[dict]:
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


def agreement(table: pd.DataFrame, cells: Sequence[KotlerCell]) -> pd.DataFrame:
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
def _draw(ax: Any, part: pd.DataFrame, cells: Sequence[KotlerCell], title: str) -> None:
    from matplotlib import colormaps
    from matplotlib.colors import BoundaryNorm, ListedColormap
    from matplotlib.patches import Rectangle

    colours = [colormaps["viridis"](x) for x in np.linspace(0.1, 0.9, len(LEVEL_NAMES))]
    xs = np.sort(part[CUSTOMERS].unique())
    ys = np.sort(part["margin"].unique())
    grid = part.pivot(index="margin", columns=CUSTOMERS, values="winner").reindex(index=ys, columns=xs)
    codes = grid.apply(lambda col: col.map(LEVEL_NAMES.index)).to_numpy(float)
    share = part.pivot(index="margin", columns=CUSTOMERS, values="win_share").reindex(index=ys, columns=xs)
    x_edges, y_edges = _edges(xs, log=True), _edges(ys, log=False)
    cmap = ListedColormap(colours)
    norm = BoundaryNorm(np.arange(-0.5, len(LEVEL_NAMES)), cmap.N)
    ax.pcolormesh(x_edges, y_edges, codes, cmap=cmap, norm=norm, shading="flat")
    # Points where the winner wins in fewer than 60 % of replications: a close call, hatched.
    close = share.to_numpy(float) < 0.6
    for i, j in zip(*np.nonzero(close), strict=True):
        ax.add_patch(
            Rectangle(
                (x_edges[j], y_edges[i]),
                x_edges[j + 1] - x_edges[j],
                y_edges[i + 1] - y_edges[i],
                fill=False,
                hatch="////",
                edgecolor=(1, 1, 1, 0.55),
                lw=0,
            )
        )
    ax.set_xscale("log")
    ax.set_xlim(x_edges[0], x_edges[-1])
    ax.set_ylim(max(0.0, y_edges[0]), y_edges[-1])
    for region in kotler_regions(cells, (x_edges[0], x_edges[-1]), (y_edges[0], y_edges[-1])):
        cell = region["cell"]
        ax.add_patch(
            Rectangle(
                (region["x0"], region["y0"]),
                region["x1"] - region["x0"],
                region["y1"] - region["y0"],
                fill=False,
                edgecolor="white",
                lw=1.6,
            )
        )
        label = cell.recommended + (f" (or {', '.join(cell.also_acceptable)})" if cell.also_acceptable else "")
        top = min(region["y1"], y_edges[-1])
        ax.text(
            math.sqrt(region["x0"] * min(region["x1"], x_edges[-1])),
            top - 0.012,
            f"Kotler: {label}",
            ha="center",
            va="top",
            fontsize=6.5,
            color="black",
            bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "alpha": 0.7, "edgecolor": "none"},
        )
        ax.plot(cell.customers, cell.margin, marker="+", color="white", ms=7, mew=1.5)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("customers (total revenue fixed; log scale)", fontsize=8)
    ax.set_ylabel("gross margin", fontsize=8)
    ax.tick_params(labelsize=7)


def _legend(fig: Any) -> None:
    from matplotlib import colormaps
    from matplotlib.patches import Patch

    colours = [colormaps["viridis"](x) for x in np.linspace(0.1, 0.9, len(LEVEL_NAMES))]
    handles = [Patch(facecolor=c, label=name) for c, name in zip(colours, LEVEL_NAMES, strict=True)]
    handles.append(Patch(facecolor="white", edgecolor="black", hatch="///", label="close call (wins < 60 % of reps)"))
    ncol = len(handles) if fig.get_figwidth() > 9 else 3
    fig.legend(handles=handles, loc="lower center", ncol=ncol, fontsize=8, frameon=False)


def plot_phase(
    table: pd.DataFrame, cells: Sequence[KotlerCell], path: Path, years: int, scenario: str | None = None
) -> None:
    """The winning level over customers × margin with Kotler's cells; all markets in panels unless one is named."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scenarios = [scenario] if scenario is not None else list(dict.fromkeys(table["scenario"]))
    cols = min(2, len(scenarios))
    rows = math.ceil(len(scenarios) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(6.6 * cols, 4.6 * rows + (1.2 if cols == 1 else 0.5)), squeeze=False)
    for ax, name in zip(axes.ravel(), scenarios, strict=False):
        _draw(ax, table[table["scenario"] == name], cells, name.replace("_", " ") or "market")
    for ax in axes.ravel()[len(scenarios) :]:
        ax.axis("off")
    fig.suptitle(
        f"Most profitable relationship level ({years}-year discounted profit)\nKotler's matrix in white, "
        "+ marks the matrix experiment's cells",
        fontsize=10 if cols == 1 else 11,
    )
    fig.tight_layout(rect=(0, 0.1 if cols == 1 else 0.06, 1, 0.95))
    _legend(fig)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_report(out: Path, spec: PhaseSpec, table: pd.DataFrame, cells_table: pd.DataFrame, seconds: float) -> Path:
    sweep = spec.sweep
    customers = next(f for f in sweep.factors if f.name == CUSTOMERS)
    margin = next(f for f in sweep.factors if f.name == "margin")
    lines = [
        "# The continuous matrix: winning relationship level over customers × margin",
        "",
        f"Generated by `relsim phase {spec.source}` ({seconds:.0f} s); the spec is copied to `spec.toml`, the sweep's "
        "rows are in `runs/runs.parquet` with its manifest, the winners in `phase.csv`.",
        "",
        f"Grid: {len(customers.values or ())} customer counts from {min(customers.values or (0,)):,} to "
        f"{max(customers.values or (0,)):,} (log scale; total revenue ${sweep.total_revenue or 0:,.0f} a year, so "
        f"revenue per customer falls as customers rise; at most {sweep.sample_customers or 0:,} simulated, totals "
        f"scaled) × {len(margin.values or ())} margins from {min(margin.values or (0,)):g} to "
        f"{max(margin.values or (0,)):g}; {sweep.replications} replications with common random numbers; "
        f"{sweep.base['years']} years; metric {sweep.compare_metric}. One simulation per level × customers × "
        "replication × market serves every margin.",
        "",
    ]
    for scenario, part in table.groupby("scenario", sort=False):
        overrides = dict(sweep.scenarios).get(scenario, {})
        changes = ", ".join(f"{k} = {v!r}" for k, v in overrides.items()) or "the calibrated market"
        shares = part["winner"].value_counts(normalize=True)
        lines += [
            f"## {scenario or 'market'}",
            "",
            f"Market: {changes}. Share of the grid won: "
            + ", ".join(f"{lv} {shares.get(lv, 0):.0%}" for lv in LEVEL_NAMES if shares.get(lv, 0) > 0)
            + f"; close calls (winner wins < 60 % of replications): {(part['win_share'] < 0.6).mean():.0%}.",
            "",
            f"![{scenario}](phase_{scenario}.png)" if scenario else "![phase](phase.png)",
            "",
        ]
        if len(cells_table):
            sub = cells_table[cells_table["scenario"] == scenario]
            lines += [
                "| Kotler cell | recommended | recommended wins (share of region) | winners in region | winner at the "
                "matrix's cell |",
                "|---|---|---:|---|---|",
            ]
            lines += [
                f"| {r.cell} | {r.recommended} | {r.share_recommended_wins:.0%} | {r.winners_in_region} | "
                f"{r.winner_at_cell} |"
                for r in sub.itertuples()
            ]
            lines.append("")
    path = out / "REPORT.md"
    path.write_text("\n".join(lines))
    return path


def run_phase(
    spec: PhaseSpec, out: Path | str | None = None, evaluator: Evaluator | None = None, progress: bool = False
) -> pd.DataFrame:
    """Run (or resume) the phase sweep, then write the winners, figures and report into ``out``."""
    out = Path(out or spec.out)
    result = run_sweep(spec.sweep, out / "runs", evaluator or make_evaluator(), progress=progress)
    seconds = result.seconds  # of the session that finished the sweep (0 if unknown)
    table = winners(spec.sweep, result.frame)
    cells_table = agreement(table, spec.cells)
    table.to_csv(out / "phase.csv", index=False, float_format="%.8g")
    if len(cells_table):
        cells_table.to_csv(out / "kotler_cells.csv", index=False, float_format="%.4g")
    years = int(spec.sweep.base["years"])
    plot_phase(table, spec.cells, out / "phase.png", years)
    if table["scenario"].nunique() > 1:
        for scenario in table["scenario"].unique():
            plot_phase(table, spec.cells, out / f"phase_{scenario}.png", years, scenario=scenario)
    if spec.source and Path(spec.source).is_file():
        shutil.copyfile(spec.source, out / "spec.toml")
    (out / "timings.json").write_text(json.dumps({"sweep_seconds": round(seconds, 1)}, indent=2) + "\n")
    write_report(out, spec, table, cells_table, seconds)
    return table


# ----------------------------------------------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------------------------------------------
def add_phase_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``relsim phase`` to the CLI's subparsers."""
    parser = subparsers.add_parser(
        "phase",
        help="the continuous matrix: winning level over customers x margin, with Kotler's cells drawn over it",
        description="Run a phase spec's grid (resumable sweep) and write phase.csv, phase*.png and REPORT.md.",
    )
    parser.add_argument("spec", metavar="SPEC.toml", help="phase spec, e.g. experiments/sweeps/phase.toml")
    parser.add_argument("--out", metavar="DIR", help="output folder (default: the spec's phase.out)")
    add_execution_options(parser)
    return parser


def run_phase_command(args: argparse.Namespace) -> int:
    evaluator = make_evaluator(args.workers, args.scheduler, args.dask)
    spec = load_phase(args.spec)
    out = Path(args.out or spec.out)
    table = run_phase(spec, out, evaluator, progress=True)
    print("relsim phase: share of the customers × margin grid won by each level")
    for scenario, part in table.groupby("scenario", sort=False):
        shares = part["winner"].value_counts(normalize=True)
        text = "  ".join(f"{lv} {shares.get(lv, 0):4.0%}" for lv in LEVEL_NAMES)
        print(f"  {scenario or 'market':18s} {text}")
    print(f"  report: {out / 'REPORT.md'}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m sim.experiments.phase``: the same as ``relsim phase``."""
    from sim.cli import standalone  # imported here: sim.cli imports this module

    return standalone("phase", add_phase_parser, run_phase_command, argv)


if __name__ == "__main__":
    from sim.experiments.phase import main as _main

    sys.exit(_main())
