"""The experiments' commands: matrix, sweep, phase and sensitivity (validate and calibrate: sim/cli/validation.py).

Each handler checks its options, hands the spec to its experiment (which runs on the one engine) and prints a
short summary; the experiment modules never parse arguments or print.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from sim.cli.common import (
    add_execution_options,
    add_force_option,
    at_least,
    hold_output,
    relax_limits,
    requested_evaluator,
    resolve_spec,
)
from sim.errors import ConfigError

MATRIX_SPEC = Path("experiments") / "matrix.toml"
MATRIX_OUT = Path("results") / "matrix"
MATRIX_QUICK_OUT = Path("out") / "matrix-quick"


# --- relsim matrix ------------------------------------------------------------------------------------------------
def add_matrix(commands: Any) -> None:
    parser = commands.add_parser(
        "matrix",
        help="run the matrix experiment: is Kotler's recommended level the most profitable in each cell?",
        description="Run every relationship level in each cell of Kotler's matrix (common random numbers), plus the "
        "technology-heavy and tiered-policy claims, and write CSVs, figures and REPORT.md. The runs are kept in "
        "OUT/runs/ until the results are written: an interrupted matrix continues there when started again.",
    )
    parser.add_argument(
        "--quick", action="store_true",
        help=f"a smaller run for a first look (under 30 s; writes {MATRIX_QUICK_OUT}/ by default)",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print the per-cell results as JSON")
    parser.add_argument("--replications", type=int, metavar="R", help="replications per cell and level")
    parser.add_argument(
        "--out", metavar="DIR",
        help=f"output directory (default {MATRIX_OUT}/, or {MATRIX_QUICK_OUT}/ with --quick); an earlier matrix "
        "output there is replaced whole; a folder holding other files is refused",
    )  # fmt: skip
    parser.add_argument(
        "--spec", metavar="FILE", default=str(MATRIX_SPEC),
        help=f"experiment spec (default {MATRIX_SPEC}, from the current directory or the repository)",
    )  # fmt: skip
    add_execution_options(parser)
    add_force_option(parser)


def matrix(args: argparse.Namespace) -> int:
    at_least("--replications", args.replications)
    evaluator = requested_evaluator(args)
    spec_path = resolve_spec(args.spec)
    if not spec_path.is_file():
        raise ConfigError("--spec", f"file not found: {args.spec}")
    from sim.experiments import matrix as experiment
    from sim.viz.matrix import FILES, STORE, run_matrix

    spec = experiment.load_spec(spec_path)
    if args.quick:
        spec = spec.quick_spec()
    if args.replications is not None:
        spec = spec.reduced(replications=args.replications)
    out = Path(args.out) if args.out else (MATRIX_QUICK_OUT if args.quick else MATRIX_OUT)
    relax_limits(args)
    hold_output(out, "matrix", force=args.force, keep=(STORE,), legacy=FILES)  # the runs' memory: run_sweep checks
    result = run_matrix(spec, out, evaluator, progress=True)
    if args.json:
        print(json.dumps(experiment.json_records(result), indent=2))
        return 0
    low, high = result.agreement_ci
    seconds = sum(result.timings.get(key, 0) for key in ("simulation_s", "analysis_s"))
    resumed = f", {result.resumed:,} of {len(result.runs):,} runs from an earlier start" if result.resumed else ""
    print(
        f"relsim matrix: Kotler's recommendation holds in {result.agreement} of {len(spec.cells)} cells "
        f"({spec.confidence:.0%} bootstrap CI {low:.0f}–{high:.0f}); {spec.replications} replications, "
        f"{spec.years} years, {seconds:.1f} s on {result.evaluator}{resumed}"
    )
    for _, row in result.verdicts.iterrows():
        mark = "agrees " if row["agreement"] else "DIFFERS"
        difference = experiment.money(row["diff_mean"])
        print(
            f"  {row['cell']:<14} Kotler {row['recommended_level']:<12} model {row['best_level']:<12} {mark}  "
            f"best − Kotler {difference:>10} $M {experiment.interval(row['diff_ci_low'], row['diff_ci_high'])}"
        )
    print(f"  report: {out / 'REPORT.md'}")
    return 0


# --- relsim sweep / phase / sensitivity ---------------------------------------------------------------------------
def add_sweep(commands: Any) -> None:
    parser = commands.add_parser(
        "sweep",
        help="run a parameter sweep from a spec (grid, Latin hypercube, Sobol, Morris); resumable, parallel",
        description="Run every simulation of a sweep spec and store one row per run in OUT/runs.parquet. An "
        "interrupted sweep resumes where it stopped when started again with the same spec.",
    )
    parser.add_argument("spec", metavar="SPEC.toml", help="sweep spec (see docs/SWEEPS.md)")
    parser.add_argument("--out", metavar="DIR", help="output folder (default: the spec's sweep.out)")
    add_execution_options(parser)
    add_force_option(parser)


def sweep(args: argparse.Namespace) -> int:
    from sim.engine import store
    from sim.engine.sweep import RESULTS, load_spec, run_sweep

    evaluator = requested_evaluator(args)
    spec = load_spec(args.spec)
    out = Path(args.out) if args.out else None
    if out is None and spec.out is None:
        raise ConfigError("--out", "no output folder: pass --out DIR or set sweep.out in the spec")
    relax_limits(args)
    folder, option = (out, "--out") if out else (Path(spec.out or ""), "sweep.out")
    hold_output(folder, store.COMMAND, force=args.force, keep=store.FILES, legacy=store.LEGACY, option=option)
    result = run_sweep(spec, out, evaluator, progress=True)
    if result.new_runs == 0:
        print(f"relsim sweep: all {result.runs:,} runs already done; results: {result.out / RESULTS}")
        return 0
    earlier = result.runs - result.new_runs
    resumed = f" ({earlier:,} from an earlier start)" if earlier else ""
    print(
        f"relsim sweep: {result.runs:,} runs{resumed}; {result.new_runs:,} in {result.seconds:.1f} s on "
        f"{result.evaluator}, {result.rate:.1f} runs/s; results: {result.out / RESULTS}"
    )
    return 0


def add_phase(commands: Any) -> None:
    parser = commands.add_parser(
        "phase",
        help="the continuous matrix: winning level over customers x margin, with Kotler's cells drawn over it",
        description="Run a phase spec's grid (resumable sweep) and write phase.csv, phase*.png and REPORT.md.",
    )
    parser.add_argument("spec", metavar="SPEC.toml", help="phase spec, e.g. experiments/sweeps/phase.toml")
    parser.add_argument("--out", metavar="DIR", help="output folder (default: the spec's phase.out)")
    add_execution_options(parser)
    add_force_option(parser)


def phase(args: argparse.Namespace) -> int:
    from sim.experiments.phase import load_phase
    from sim.viz.phase import LEGACY, run_phase

    evaluator = requested_evaluator(args)
    spec = load_phase(args.spec)
    out = Path(args.out or spec.out)
    relax_limits(args)
    hold_output(out, "phase", force=args.force, keep=("runs",), legacy=LEGACY)
    table = run_phase(spec, out, evaluator, progress=True)
    print("relsim phase: share of the customers × margin grid won by each level")
    for scenario, part in table.groupby("scenario", sort=False):
        shares = part["winner"].value_counts(normalize=True)
        text = "  ".join(f"{level} {shares.get(level, 0):4.0%}" for level in spec.sweep.compare_levels)
        print(f"  {scenario or 'market':18s} {text}")
    print(f"  report: {out / 'REPORT.md'}")
    return 0


def add_sensitivity(commands: Any) -> None:
    parser = commands.add_parser(
        "sensitivity",
        help="Morris and Sobol sensitivity of the winning relationship level (SALib)",
        description="Run the Morris and/or Sobol designs of a sensitivity spec (resumable sweeps) and write the "
        "indices (CSV), figures (PNG) and REPORT.md.",
    )
    parser.add_argument("spec", metavar="SPEC.toml", help="sensitivity spec, e.g. experiments/sweeps/sensitivity.toml")
    parser.add_argument("--out", metavar="DIR", help="output folder (default: the spec's sensitivity.out)")
    add_execution_options(parser)
    add_force_option(parser)


def sensitivity(args: argparse.Namespace) -> int:
    from sim.experiments.sensitivity import label, load_sensitivity, ranking
    from sim.viz.sensitivity import LEGACY, run_sensitivity

    evaluator = requested_evaluator(args)
    spec = load_sensitivity(args.spec)
    out = Path(args.out or spec.out)
    relax_limits(args)
    hold_output(out, "sensitivity", force=args.force, keep=[f"runs-{method}" for method in spec.sweeps], legacy=LEGACY)
    results = run_sensitivity(spec, out, evaluator, progress=True)
    for method, frame in results.items():
        value = "mu_star_relative" if method == "morris" else "ST"
        print(f"relsim sensitivity: {method} (top factors by {value})")
        for response, text in ranking(frame, value).items():
            print(f"  {label(response):28s} {text}")
    print(f"  report: {out / 'REPORT.md'}")
    return 0


COMMANDS = {
    "matrix": (add_matrix, matrix),
    "sweep": (add_sweep, sweep),
    "sensitivity": (add_sensitivity, sensitivity),
    "phase": (add_phase, phase),
}
