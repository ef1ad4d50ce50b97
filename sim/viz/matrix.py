"""The matrix experiment's figures (heat map, profit by level) and its output folder, written atomically."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sim.engine.evaluators import Evaluator
from sim.errors import ConfigError
from sim.experiments import matrix as experiment
from sim.experiments.matrix import MatrixResult, MatrixSpec, render_report
from sim.files import output_folder, staged_folder

# What `relsim matrix` writes (an earlier relsim wrote exactly these without a marker).
FILES = ("REPORT.md", "cells.csv", "heatmap.png", "parameters.json", "profit_by_level.png", "runs.csv.gz",
         "technology_heavy.csv", "tiered.csv")  # fmt: skip
STORE = "runs"  # the engine's resumable store inside the output folder, until the results replace it


def _level_colours(levels: Sequence[str]) -> list[Any]:
    from matplotlib import colormaps

    cmap = colormaps["viridis"]
    return [cmap(x) for x in np.linspace(0.1, 0.9, len(levels))]


def _grid(spec: MatrixSpec) -> tuple[list[str], list[str]]:
    rows = list(dict.fromkeys(c.row for c in spec.cells))
    columns = list(dict.fromkeys(c.column for c in spec.cells))
    return rows, columns


def plot_heatmap(result: MatrixResult, path: Path) -> None:
    """Two panels: the model's best level per cell (agreement marked) and Kotler's recommendation."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.colors import ListedColormap
    from matplotlib.figure import Figure
    from matplotlib.patches import Rectangle

    spec = result.spec
    rows, columns = _grid(spec)
    levels = spec.levels
    colours = _level_colours(levels)
    cmap = ListedColormap(colours)
    verdict = result.verdicts.set_index("cell")
    fig = Figure(figsize=(12, 5.2))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 2)
    for ax, title, key in (
        (axes[0], "Model: most profitable level", "best_level"),
        (axes[1], "Kotler: recommended level", "recommended_level"),
    ):
        grid = np.full((len(rows), len(columns)), np.nan)
        for cell in spec.cells:
            i, j = rows.index(cell.row), columns.index(cell.column)
            level = verdict.loc[cell.name, key]
            grid[i, j] = levels.index(level)
            text = level
            agrees = bool(verdict.loc[cell.name, "agreement"])
            if key == "best_level":
                text += "\nagrees" if agrees else "\ndiffers"
                if not agrees:
                    ax.add_patch(Rectangle((j - 0.47, i - 0.47), 0.94, 0.94, fill=False, edgecolor="red", lw=3))
            dark = levels.index(level) < len(levels) / 2 - 0.5  # viridis is dark at its low end
            ax.text(j, i, text, ha="center", va="center", fontsize=11, color="white" if dark else "black")
        ax.imshow(grid, cmap=cmap, vmin=-0.5, vmax=len(levels) - 0.5)
        ax.set_xticks(range(len(columns)), [f"{c} margin" for c in columns])
        labels = []
        for r in rows:
            cell = next(c for c in spec.cells if c.row == r)
            labels.append(f"{r}\n{cell.customers:,} × {cell.revenue_per_customer:,.0f} $")
        ax.set_yticks(range(len(rows)), labels)
        ax.set_title(title)
    low, high = result.agreement_ci
    fig.suptitle(
        f"Kotler's recommendation holds in {result.agreement} of {len(spec.cells)} cells "
        f"({spec.confidence:.0%} bootstrap CI {low:.0f}–{high:.0f}); red frame: differs"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def plot_profit_by_level(result: MatrixResult, path: Path) -> None:
    """A bar chart per cell: mean profit per level with CI whiskers; Kotler's level highlighted."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    spec = result.spec
    rows, columns = _grid(spec)
    fig = Figure(figsize=(13, 10))
    FigureCanvasAgg(fig)
    axes = np.atleast_2d(fig.subplots(len(rows), len(columns), squeeze=False))
    for ax in axes.ravel():
        ax.set_visible(False)
    x = np.arange(len(spec.levels))
    for name, group in result.cells.groupby("cell", sort=False):
        cell = next(c for c in spec.cells if c.name == name)
        ax = axes[rows.index(cell.row), columns.index(cell.column)]
        ax.set_visible(True)
        mean = group["profit_mean"].to_numpy() / 1e6
        low = group["profit_ci_low"].to_numpy() / 1e6
        high = group["profit_ci_high"].to_numpy() / 1e6
        # Levels far below the best (Partnership for mass markets) would flatten the rest: clip them and label.
        top = np.nanmax(np.where(np.isfinite(high), high, mean))
        # "Far below": under the usual levels' spread (median rule) and well below the best in absolute terms.
        middle = float(np.median(mean))
        best = float(np.max(mean))
        off = (mean < middle - 5.0 * max(best - middle, 1e-9)) & (mean < best - 3.0 * max(abs(best), 1e-9))
        lows = np.where(np.isfinite(low), low, mean)[~off]
        floor = min(0.0, float(lows.min()))
        span = max(top - floor, 1e-9)
        floor = floor - (0.12 * span if off.any() else 0.02 * span if floor < 0 else 0.0)
        shown = np.where(off, floor, mean)
        colours = ["tab:orange" if lv == cell.recommended else "lightgray" for lv in spec.levels]
        edges = ["black" if best else "none" for best in group["is_best"]]
        ax.bar(x, shown, color=colours, edgecolor=edges, linewidth=1.5, hatch=None)
        errors = np.vstack([mean - low, high - mean])
        visible = ~off & np.isfinite(errors).all(0)
        ax.errorbar(x[visible], mean[visible], yerr=errors[:, visible], fmt="none", ecolor="black", capsize=3)
        for i in np.flatnonzero(off):
            ax.text(x[i], floor, f"{mean[i]:,.0f}\n(off scale)", ha="center", va="bottom", fontsize=7)
        ax.set_ylim(floor, top + 0.08 * max(top - floor, 1e-9))
        ax.axhline(0, color="black", lw=0.5)
        ax.set_xticks(x, list(spec.levels), fontsize=7)
        verdict = "agrees" if bool(group["agreement"].iloc[0]) else "differs"
        ax.set_title(f"{name}: Kotler {cell.recommended}, {verdict}", fontsize=9)
        ax.set_ylabel("$M", fontsize=8)
    fig.suptitle(
        f"{spec.metric.replace('_', ' ')} by level ({spec.confidence:.0%} CI over {spec.replications} "
        "replications); orange: Kotler's level; black edge: best\nWhiskers are each level's own CI; the verdict "
        "uses paired differences between levels (common random numbers), which are much narrower"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def run_matrix(
    spec: MatrixSpec, out: str | Path, evaluator: Evaluator | None = None, progress: bool = False
) -> MatrixResult:
    """Run (or resume) the matrix with its resumable store in ``out/runs/``, then write its results into ``out``.

    ``out`` is claimed (checked, locked, marked) for the whole run, with the store as part of the matrix's
    output, so an interrupted matrix can be resumed by the same command; the store goes once the results are in.
    """
    with output_folder(out, "matrix", keep=(STORE,), legacy=FILES):
        result = experiment.run_matrix(spec, evaluator=evaluator, store=Path(out) / STORE, progress=progress)
        write_results(out, result)
    return result


def write_results(out_dir: str | Path, result: MatrixResult) -> Path:
    """Write cells.csv, technology_heavy.csv, tiered.csv, runs.csv.gz, parameters.json, the figures and REPORT.md.

    Everything is written into a temporary directory beside ``out_dir`` and moved into place at the end, so a
    failed run leaves no half-written results (an existing ``out_dir`` is replaced only when all is written; the
    run's store, ``out/runs/``, goes with the earlier results).
    """
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ConfigError("--out", f"{out} exists and is not a directory")
    with staged_folder(out, "matrix", keep=(STORE,), discard=(STORE,), legacy=FILES) as staging:
        started = time.perf_counter()
        result.cells.to_csv(staging / "cells.csv", index=False)
        result.technology_heavy.to_csv(staging / "technology_heavy.csv", index=False)
        result.tiered.to_csv(staging / "tiered.csv", index=False)
        result.runs.to_csv(
            staging / "runs.csv.gz", index=False, float_format="%.8g", compression={"method": "gzip", "mtime": 0}
        )  # mtime 0: the same runs give the same bytes
        spec = result.spec
        parameters = {
            "spec": spec.source,
            "spec_sha256": spec.source_hash,
            "mode": spec.mode,
            "base_config": spec.base_config,
            "base_config_sha256": spec.base_config_hash,
            "market": dict(spec.market),
            "market_overrides": dict(spec.market_overrides),
            "technology_heavy": dict(spec.technology_heavy),
            "tier_share": spec.tier_share,
            "replications": spec.replications,
            "years": spec.years,
            "base_seed": spec.base_seed,
            "seeds": spec.seeds(),
            "metric": spec.metric,
            "confidence": spec.confidence,
            "bootstrap": spec.bootstrap,
            "bootstrap_seed": spec.bootstrap_seed,
            "cells": [{**c.__dict__, "also_acceptable": list(c.also_acceptable), "scale": c.scale} for c in spec.cells],
            "agreement": result.agreement,
            "agreement_ci": list(result.agreement_ci),
            "timings_s": result.timings,
            "evaluator": result.evaluator,
            "resumed_runs": result.resumed,
        }
        (staging / "parameters.json").write_text(json.dumps(parameters, indent=2) + "\n")
        plot_heatmap(result, staging / "heatmap.png")
        plot_profit_by_level(result, staging / "profit_by_level.png")
        result.timings["writing_s"] = time.perf_counter() - started
        (staging / "REPORT.md").write_text(render_report(result))
    return out
