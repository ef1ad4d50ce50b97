"""The continuous matrix's phase maps and its report; runs the phase sweep and writes its output folder."""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.core.levels import LEVEL_NAMES
from sim.engine.evaluators import Evaluator, make_evaluator
from sim.engine.sweep import CUSTOMERS, run_sweep
from sim.experiments.kotler import Cell
from sim.experiments.phase import PhaseSpec, agreement, edges, kotler_regions, winners
from sim.files import output_folder, staged_folder

# An earlier relsim's phase folder (no marker): the names it wrote; the plain ones must all be there.
LEGACY = ("REPORT.md", "phase.csv", "phase.png", "runs", "phase_*.png", "kotler_cells*.csv", "spec*.toml", "*.json")


def _level_names(table: pd.DataFrame) -> tuple[str, ...]:
    """The shipped levels, then any other level that wins somewhere (a level a run config added), in order."""
    return (*LEVEL_NAMES, *sorted(set(table["winner"]) - set(LEVEL_NAMES)))


def _draw(ax: Any, part: pd.DataFrame, cells: Sequence[Cell], title: str, names: Sequence[str]) -> None:
    from matplotlib import colormaps
    from matplotlib.colors import BoundaryNorm, ListedColormap
    from matplotlib.patches import Rectangle

    colours = [colormaps["viridis"](x) for x in np.linspace(0.1, 0.9, len(names))]
    xs = np.sort(part[CUSTOMERS].unique())
    ys = np.sort(part["margin"].unique())
    grid = part.pivot(index="margin", columns=CUSTOMERS, values="winner").reindex(index=ys, columns=xs)
    codes = grid.apply(lambda col: col.map(names.index)).to_numpy(float)
    share = part.pivot(index="margin", columns=CUSTOMERS, values="win_share").reindex(index=ys, columns=xs)
    x_edges, y_edges = edges(xs, log=True), edges(ys, log=False)
    cmap = ListedColormap(colours)
    norm = BoundaryNorm(np.arange(-0.5, len(names)), cmap.N)
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


def _legend(fig: Any, names: Sequence[str]) -> None:
    from matplotlib import colormaps
    from matplotlib.patches import Patch

    colours = [colormaps["viridis"](x) for x in np.linspace(0.1, 0.9, len(names))]
    handles = [Patch(facecolor=c, label=name) for c, name in zip(colours, names, strict=True)]
    handles.append(Patch(facecolor="white", edgecolor="black", hatch="///", label="close call (wins < 60 % of reps)"))
    ncol = len(handles) if fig.get_figwidth() > 9 else 3
    fig.legend(handles=handles, loc="lower center", ncol=ncol, fontsize=8, frameon=False)


def plot_phase(table: pd.DataFrame, cells: Sequence[Cell], path: Path, years: int, scenario: str | None = None) -> None:
    """The winning level over customers × margin with Kotler's cells; all markets in panels unless one is named."""
    from matplotlib.figure import Figure

    scenarios = [scenario] if scenario is not None else list(dict.fromkeys(table["scenario"]))
    cols = min(2, len(scenarios))
    rows = math.ceil(len(scenarios) / cols)
    fig = Figure(figsize=(6.6 * cols, 4.6 * rows + (1.2 if cols == 1 else 0.5)))
    axes = fig.subplots(rows, cols, squeeze=False)
    names = _level_names(table)
    for ax, name in zip(axes.ravel(), scenarios, strict=False):
        _draw(ax, table[table["scenario"] == name], cells, name.replace("_", " ") or "market", names)
    for ax in axes.ravel()[len(scenarios) :]:
        ax.axis("off")
    fig.suptitle(
        f"Most profitable relationship level ({years}-year discounted profit)\nKotler's matrix in white, "
        "+ marks the matrix experiment's cells",
        fontsize=10 if cols == 1 else 11,
    )
    fig.tight_layout(rect=(0, 0.1 if cols == 1 else 0.06, 1, 0.95))
    _legend(fig, names)
    fig.savefig(path, dpi=120)


def write_report(out: Path, spec: PhaseSpec, table: pd.DataFrame, cells_table: pd.DataFrame, seconds: float) -> Path:
    sweep = spec.sweep
    customers = next(f for f in sweep.factors if f.name == CUSTOMERS)
    margin = next(f for f in sweep.factors if f.name == "margin")
    lines = [
        "# The continuous matrix: winning relationship level over customers × margin",
        "",
        f"Generated by `relsim phase {spec.source}` ({seconds:.0f} s); the spec is copied to `spec.toml`, the sweep's "
        "rows are in `runs/runs.parquet` with its manifest, the winners in `phase.csv`. Kotler's cells are his "
        "matrix of relationship levels by number of customers and margin (Kotler 2000; full references in the "
        "repository's docs/MODEL.md, References).",
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
            + ", ".join(f"{lv} {shares.get(lv, 0):.0%}" for lv in _level_names(table) if shares.get(lv, 0) > 0)
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
    with output_folder(out, "phase", keep=("runs",), legacy=LEGACY):  # checked and locked before the sweep
        result = run_sweep(spec.sweep, out / "runs", evaluator or make_evaluator(), progress=progress)
        seconds = result.seconds  # of the session that finished the sweep (0 if unknown)
        table = winners(spec.sweep, result.frame)
        cells_table = agreement(table, spec.cells)
        with staged_folder(out, "phase", keep=("runs",)) as staging:
            table.to_csv(staging / "phase.csv", index=False, float_format="%.8g")
            if len(cells_table):
                cells_table.to_csv(staging / "kotler_cells.csv", index=False, float_format="%.4g")
            years = int(spec.sweep.base["years"])
            plot_phase(table, spec.cells, staging / "phase.png", years)
            if table["scenario"].nunique() > 1:
                for scenario in table["scenario"].unique():
                    plot_phase(table, spec.cells, staging / f"phase_{scenario}.png", years, scenario=scenario)
            if spec.source and Path(spec.source).is_file():
                shutil.copyfile(spec.source, staging / "spec.toml")
            (staging / "timings.json").write_text(json.dumps({"sweep_seconds": round(seconds, 1)}, indent=2) + "\n")
            write_report(staging, spec, table, cells_table, seconds)
    return table
