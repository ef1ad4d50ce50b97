"""The verdict's figures (P(Kotler's level is best) per cell, regret over the draws) and its output folder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from sim.core.levels import LEVEL_NAMES
from sim.engine.evaluators import Evaluator
from sim.errors import ConfigError
from sim.experiments.verdict import VerdictResult, VerdictSpec, render_report, run_verdict
from sim.files import output_folder, staged_folder

ROWS = ("many", "medium", "few")


def plot_p_best(result: VerdictResult, path: Path) -> None:
    """A 3 × 3 panel: P(Kotler's level is the most profitable) per cell, with his level and the model's best."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    p = result.primary
    columns = list(dict.fromkeys(p["column"]))
    grid = np.full((len(ROWS), len(columns)), np.nan)
    fig = Figure(figsize=(8, 5.5))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    for row in p.itertuples():
        i, j = ROWS.index(row.row), columns.index(row.column)
        grid[i, j] = row.p_recommended_best
        mark = "agrees" if row.agrees else "differs"
        ax.text(j, i, f"Kotler {row.recommended}\nP(best) {row.p_recommended_best:.2f}\nmodel {row.best} ({mark})",
                ha="center", va="center", fontsize=8)  # fmt: skip
    image = ax.imshow(grid, vmin=0, vmax=1, cmap="RdYlGn")
    fig.colorbar(image, ax=ax, label="P(Kotler's level is the most profitable)")
    ax.set_xticks(range(len(columns)), [f"{c} margin" for c in columns])
    ax.set_yticks(range(len(ROWS)), [f"{r} customers" for r in ROWS])
    ax.set_title(f"Mapping '{result.spec.primary}': probability over the parameter draws")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def plot_regret(result: VerdictResult, path: Path) -> None:
    """Per cell, the regret of following Kotler in each parameter draw (capped at 100 %)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    draws = result.draws
    fig = Figure(figsize=(9, 4.5))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    cells = list(dict.fromkeys(result.primary["cell"]))
    rng = np.random.default_rng(0)  # horizontal jitter only
    for i, cell in enumerate(cells):
        values = np.minimum(draws.loc[draws["cell"] == cell, "regret"].to_numpy(dtype=float), 1.0) if len(draws) else []
        ax.scatter(i + rng.uniform(-0.2, 0.2, len(values)), values, s=10, alpha=0.6)
    ax.axhline(result.spec.materiality, color="grey", linestyle="--", label="materiality margin")
    ax.set_xticks(range(len(cells)), cells, rotation=30, ha="right")
    ax.set_ylabel("relative profit lost by following Kotler")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def plot_hypercube(result: VerdictResult, path: Path) -> None:
    """The Latin hypercube: customers × value per customer (log scales), coloured by the model's best level; a ring
    marks the points where Kotler's level agrees (best or equivalent), the marker size the margin."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    cube = result.hypercube
    fig = Figure(figsize=(9.5, 5.5))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    colours = dict(zip(LEVEL_NAMES, ("#999999", "#4c72b0", "#55a868", "#dd8452", "#c44e52"), strict=False))
    for level in LEVEL_NAMES:
        points = cube[cube["best"] == level] if len(cube) else cube
        if len(points):
            ax.scatter(points["n_customers"], points["revenue_per_customer"], s=20 + 200 * points["margin"],
                       color=colours.get(level, "black"), alpha=0.75, label=f"best: {level}")  # fmt: skip
    agree = cube[cube["agrees"]] if len(cube) else cube
    if len(agree):
        ax.scatter(agree["n_customers"], agree["revenue_per_customer"], s=60 + 260 * agree["margin"],
                   facecolors="none", edgecolors="black", linewidths=1.2, label="Kotler agrees")  # fmt: skip
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("customers")
    ax.set_ylabel("revenue per customer-year ($)")
    ax.set_title("Latin hypercube at the files' values (marker size: margin)")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # beside the points, never over them
    fig.tight_layout()
    fig.savefig(path, dpi=110)


TABLES = ("cells", "factorial", "scores", "robustness", "sensitivity", "reduction", "draws", "src", "fit", "changes",
          "summary", "hypercube", "hypercube_summary")  # fmt: skip
FILES = (*(f"{name}.csv" for name in TABLES), "parameters.json", "p_best.png", "regret.png", "hypercube.png",
         "REPORT.md")  # fmt: skip
STORE = "runs"  # the engine's resumable stores inside the output folder (one per sweep), until the results are in


def run_and_write(
    spec: VerdictSpec, out: str | Path, evaluator: Evaluator | None = None, progress: bool = False
) -> VerdictResult:
    """Run (or resume) the verdict with its sweeps stored in ``out/runs/``, then write its results into ``out``.

    ``out`` is claimed (checked, locked, marked) for the whole run, the stores being part of the verdict's output,
    so that an interrupted verdict is resumed by the same command; they go once the results are written.
    """
    with output_folder(out, "verdict", keep=(STORE,), legacy=FILES):
        result = run_verdict(spec, evaluator=evaluator, store=Path(out) / STORE, progress=progress)
        write_results(out, result)
    return result


def write_results(out_dir: str | Path, result: VerdictResult) -> Path:
    """Every table as CSV, parameters.json, the two figures and REPORT.md, moved into place only when complete."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ConfigError("--out", f"{out} exists and is not a directory")
    spec = result.spec
    with staged_folder(out, "verdict", keep=(STORE,), discard=(STORE,), legacy=FILES) as staging:
        for name in TABLES:
            getattr(result, name).to_csv(staging / f"{name}.csv", index=False, float_format="%.6g")
        parameters = {
            "spec": spec.source, "spec_sha256": spec.source_hash, "mode": spec.mode, "years": spec.years,
            "seed": spec.seed, "materiality": spec.materiality, "alpha": spec.alpha,
            "nominal_replications": spec.nominal_replications, "draws": spec.draws,
            "alternative_draws": spec.alternative_draws, "draw_replications": spec.draw_replications,
            "elasticity": list(spec.elasticity), "primary": spec.primary,
            "sensitivity_draws": spec.sensitivity_draws, "robustness_elasticities": list(spec.robustness_elasticities),
            "hypercube": spec.hypercube.__dict__ if spec.hypercube else None,
            "mappings": {m.name: {row: u.__dict__ for row, u in m.rows.items()} for m in spec.mappings},
            "timings_s": result.timings, "evaluator": result.evaluator, "code_version": result.code_version,
        }  # fmt: skip
        (staging / "parameters.json").write_text(json.dumps(parameters, indent=2) + "\n")
        plot_p_best(result, staging / "p_best.png")
        plot_regret(result, staging / "regret.png")
        plot_hypercube(result, staging / "hypercube.png")
        (staging / "REPORT.md").write_text(render_report(result))
    return out
