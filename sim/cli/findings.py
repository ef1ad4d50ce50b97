"""The findings' commands: the hold-out targets (never fitted) and the probabilistic verdict on Kotler's matrix."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from sim.cli.common import (
    DEFAULT_BASE,
    add_execution_options,
    add_force_option,
    at_least,
    hold_output,
    relax_limits,
    requested_evaluator,
    resolve_config,
    resolve_spec,
)
from sim.errors import ConfigError

HOLDOUT_OUT = Path("results") / "holdout"


def add_holdout(commands: Any) -> None:
    parser = commands.add_parser(
        "holdout",
        help="run the hold-out targets (never fitted) and write their report",
        description="Run every scenario of the hold-out file (experiments/holdout.toml, fixed before any fit) and "
        "write HOLDOUT.md and holdout.csv. Exit status: 0 when the report was written (failing hold-out targets "
        "are findings, listed in the report); 2 for bad input.",
    )
    parser.add_argument("--spec", default="experiments/holdout.toml", help="hold-out file (TOML)")
    parser.add_argument(
        "--config", metavar="FILE.toml", default=DEFAULT_BASE, help="base config (default: the calibrated one)"
    )
    parser.add_argument("--out", default=str(HOLDOUT_OUT), help="report folder")
    parser.add_argument("--replications", type=int, metavar="R", help="seeds per scenario (default: the file's)")
    add_execution_options(parser)
    add_force_option(parser)


def holdout(args: argparse.Namespace) -> int:
    from sim.experiments.validation import base_config
    from sim.experiments.validation.holdout import headline, holdout_table, load_holdout, run_holdout
    from sim.viz.validation import HOLDOUT_FILES, interval_text, write_holdout_report

    at_least("--replications", args.replications, 2)  # every value is shown with its CI
    evaluator = requested_evaluator(args)
    spec = load_holdout(resolve_spec(args.spec))
    base = base_config(resolve_config(args.config))
    relax_limits(args)
    hold_output(args.out, "holdout", force=args.force, legacy=HOLDOUT_FILES)
    replications = args.replications or int(spec["meta"]["replications"])
    table = holdout_table(spec, run_holdout(base, spec, replications, evaluator))
    report = write_holdout_report(args.out, table, replications, args.config)
    for row in table.itertuples():
        print(
            f"{row.verdict:15s} {row.target:36s} {row.mean:10.4g} ({interval_text(row.ci_low, row.ci_high)})   "
            f"want {row.wanted}{'' if row.counts else '  [not counted]'}"
        )
    print(f"{headline(table)}; report: {report}")
    return 0


# --- relsim verdict -----------------------------------------------------------------------------------------------
VERDICT_SPEC = Path("experiments") / "verdict.toml"
VERDICT_OUT, VERDICT_QUICK_OUT = Path("results") / "verdict", Path("out") / "verdict-quick"


def add_verdict(commands: Any) -> None:
    parser = commands.add_parser(
        "verdict",
        help="the probabilistic verdict: P(Kotler's level is the most profitable) and the regret of following him",
        description="Run Kotler's cells under pre-specified row mappings (segment, customers, revenue per customer), "
        "a factorial and a Latin hypercube at the files' values (TOST against the best level) and over draws of the "
        "level, segment and cost-elasticity priors (P(best), regret, standardised regression coefficients, the "
        "robustness table, what would change each cell); write CSVs, figures and REPORT.md (docs/VERDICT.md).",
    )
    parser.add_argument("--quick", action="store_true", help=f"a first look in under 30 s ({VERDICT_QUICK_OUT}/)")
    parser.add_argument("--json", action="store_true", help="print one record per cell as JSON")
    parser.add_argument("--out", metavar="DIR", help=f"output folder (default {VERDICT_OUT}/); replaced as a whole")
    parser.add_argument("--spec", metavar="FILE", default=str(VERDICT_SPEC), help=f"spec (default {VERDICT_SPEC})")
    add_execution_options(parser)
    add_force_option(parser)


def verdict(args: argparse.Namespace) -> int:
    evaluator = requested_evaluator(args)
    spec_path = resolve_spec(args.spec)
    if not spec_path.is_file():
        raise ConfigError("--spec", f"file not found: {args.spec}")
    from sim.experiments import verdict as experiment
    from sim.viz.verdict import FILES as VERDICT_FILES
    from sim.viz.verdict import STORE, run_and_write

    spec = experiment.load_spec(spec_path)
    spec = spec.quick_spec() if args.quick else spec
    out = Path(args.out) if args.out else (VERDICT_QUICK_OUT if args.quick else VERDICT_OUT)
    experiment.check(spec)
    relax_limits(args)
    hold_output(out, "verdict", force=args.force, keep=(STORE,), legacy=VERDICT_FILES)  # the runs' memory
    result = run_and_write(spec, out, evaluator, progress=True)
    if args.json:
        print(json.dumps(experiment.json_records(result), indent=2))
        return 0
    p = result.primary
    seconds = sum(result.timings.values())
    print(f"relsim verdict: Kotler agrees in {int(p['agrees'].sum())} of {len(p)} cells (TOST, mapping "
          f"{spec.primary!r}); expected cells where his level is best {p['p_recommended_best'].sum():.1f}; "
          f"{seconds:.1f} s on {result.evaluator}")  # fmt: skip
    for row in p.itertuples():
        print(f"  {row.cell:<14} Kotler {row.recommended:<12} model {row.best:<12} "
              f"{'agrees ' if row.agrees else 'DIFFERS'}  P(best) {row.p_recommended_best:.2f}  "
              f"regret {row.regret:.0%}  E[regret] {row.expected_regret:.0%}")  # fmt: skip
    print(f"  report: {out / 'REPORT.md'}")
    return 0


COMMANDS = {"holdout": (add_holdout, holdout), "verdict": (add_verdict, verdict)}
