"""The ``relsim`` command line.

Every subcommand validates all its input before it runs anything; a bad value ends the command with one line
on stderr naming the field and what is allowed, exit status 2, and no output files.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

from sim import __version__
from sim.core.config import ConfigError, describe_fields, load
from sim.engine.sweep import add_sweep_parser, run_sweep_command
from sim.experiments.matrix import add_matrix_parser, run_matrix_command
from sim.experiments.phase import add_phase_parser, run_phase_command
from sim.experiments.sensitivity import add_sensitivity_parser, run_sensitivity_command
from sim.viz.app import add_app_parser, run_app_command
from sim.viz.figures import add_figures_parser, run_figures_command

DEFAULT_BASE = "experiments/calibrated.toml"


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors are one line like every other input error."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"relsim: error: {message} (see `{self.prog} --help`)\n")
        sys.exit(2)


def _add_config_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE.toml", help="read fields from a flat TOML file")
    parser.add_argument(
        "--set",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        dest="overrides",
        help="set one field (repeatable; wins over --config); `relsim fields` lists them",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="relsim",
        description="An agent-based test of Kotler's matrix of customer relationship levels.",
    )
    parser.add_argument("--version", action="version", version=f"relsim {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    run = commands.add_parser("run", help="simulate one firm at one relationship level")
    _add_config_options(run)
    run.add_argument("--json", action="store_true", help="print the summary as JSON")
    run.add_argument(
        "--export",
        metavar="DIR",
        help="also write the transaction log and customer-period panel as CSV to DIR (see docs/EXPORT.md)",
    )

    validate = commands.add_parser("validate", help="reproduce the stylized facts and write the validation report")
    validate.add_argument("--spec", default="experiments/validation.toml", help="targets file (TOML)")
    validate.add_argument(
        "--config", metavar="FILE.toml", default=DEFAULT_BASE, help="base config (default: the calibrated one)"
    )
    validate.add_argument("--out", default="results/validation", help="report folder")
    validate.add_argument("--replications", type=int, help="seeds per experiment (default: the spec's)")
    validate.add_argument("--json", action="store_true", help="print the table as JSON")

    calibrate = commands.add_parser("calibrate", help="fit the behavioural parameters to the calibration targets")
    calibrate.add_argument("--spec", default="experiments/validation.toml", help="targets file (TOML)")
    calibrate.add_argument("--config", metavar="FILE.toml", help="starting config (default: model defaults)")
    calibrate.add_argument("--out", default=DEFAULT_BASE, help="where to write the fitted config")
    calibrate.add_argument("--max-evaluations", type=int, default=250, help="budget of objective evaluations")
    calibrate.add_argument("--replications", type=int, default=2, help="seeds per objective evaluation")

    add_matrix_parser(commands)
    add_app_parser(commands)
    add_figures_parser(commands)
    add_sweep_parser(commands)
    add_sensitivity_parser(commands)
    add_phase_parser(commands)

    fields = commands.add_parser("fields", help="list every config field with unit, default and allowed values")
    fields.add_argument("--json", action="store_true", help="print the list as JSON")
    return parser


def _print_run(summary: dict[str, Any]) -> None:
    shares = summary["quadrant_shares"]
    lines = [
        f"relsim run: level={summary['level']} customers={summary['n_customers']} years={summary['years']} "
        f"seed={summary['seed']}",
        f"  retention (mean annual)      {summary['retention_rate']:8.1%}",
        f"  customers at the end         {summary['active_customers_end']:8d}",
        f"  cost to serve / customer-yr  {summary['cost_to_serve_per_customer']:8.2f} $",
        f"  revenue                      {summary['revenue']:14,.0f} $",
        f"  relationship cost            {summary['relationship_cost']:14,.0f} $",
        f"  acquisition cost             {summary['acquisition_cost']:14,.0f} $",
        f"  profit                       {summary['profit']:14,.0f} $",
        f"  discounted profit            {summary['discounted_profit']:14,.0f} $",
        f"  NPS (last year)              {summary['nps']:8.1f}",
        "  quadrant (last year)         " + "  ".join(f"{name} {share:.0%}" for name, share in shares.items()),
        "  initial cohort still active  " + " ".join(f"{value:.2f}" for value in summary["cohort_survival"]),
    ]
    print("\n".join(lines))


def _run(args: argparse.Namespace) -> int:
    # imported here so that `relsim --help` stays instant
    from sim.core.model import RelationshipModel
    from sim.outputs.export import FILES, check_target, export_run
    from sim.outputs.results import summarise

    config = load(args.config, args.overrides)
    if args.export:
        check_target(args.export)  # refuse before running, not after
    model = RelationshipModel(config, trace=bool(args.export)).run()
    summary = summarise(model.monthly(), config)
    if args.export:
        export_run(model, config, args.export, summary)
        sys.stderr.write(f"relsim: wrote {', '.join(FILES)} to {args.export}\n")
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        _print_run(summary)
    return 0


def _fields(args: argparse.Namespace) -> int:
    records = describe_fields()
    if args.json:
        print(json.dumps(records, indent=2))
        return 0
    for record in records:
        unit = f" [{record['unit']}]" if record["unit"] else ""
        print(f"{record['name']} = {record['default']!r}{unit}: {record['meaning']} ({record['allowed']})")
    return 0


def _positive(name: str, value: int | None, minimum: int = 1) -> None:
    if value is not None and value < minimum:
        raise ConfigError(name, f"must be an integer of at least {minimum}; got {value}")


def _validate(args: argparse.Namespace) -> int:
    import time

    from sim.experiments import validation

    _positive("--replications", args.replications, 2)
    spec = validation.load_spec(args.spec)
    base = validation.base_config(args.config)
    started = time.perf_counter()
    measurements = validation.measure(spec, base, args.replications, progress=_progress)
    table = validation.compare(spec, measurements)
    if args.replications:
        spec.replications = args.replications
    report = validation.write_report(args.out, spec, args.config, table, measurements, time.perf_counter() - started)
    sys.stderr.write("\n")
    if args.json:
        print(validation.summary_json(table))
    else:
        for row in table.itertuples():
            print(f"{'pass' if row.passed else 'FAIL'}  {row.target:28s} {row.simulated:10.4g}   want {row.wanted}")
        print(f"{int(table['passed'].sum())} of {len(table)} targets pass; report: {report}")
    return 0


def _calibrate(args: argparse.Namespace) -> int:
    from sim.experiments import validation

    _positive("--max-evaluations", args.max_evaluations)
    _positive("--replications", args.replications)
    spec = validation.load_spec(args.spec)
    base = validation.base_config(args.config)
    result = validation.calibrate(spec, base, args.replications, args.max_evaluations, progress=_progress)
    sys.stderr.write("\n")
    path = validation.write_calibrated(result, args.out, spec)
    for name, value in result.parameters.items():
        print(f"{name} = {value}")
    for row in result.fitted.itertuples():
        print(f"{'pass' if row.passed else 'FAIL'}  {row.target:28s} {row.simulated:8.3f}   want {row.wanted}")
    print(f"objective {result.objective:.3f} after {result.evaluations} evaluations; wrote {path}")
    return 0


def _progress(message: str) -> None:
    if sys.stderr.isatty():
        sys.stderr.write(f"\r\033[K{message}")
        sys.stderr.flush()


def standalone(
    command: str,
    add_parser: Callable[[Any], argparse.ArgumentParser],
    handler: Callable[[argparse.Namespace], int],
    argv: Sequence[str] | None = None,
) -> int:
    """``python -m sim.<module> ...``: one subcommand on its own, with the CLI's handling of bad input."""
    parser = _Parser(prog=f"python -m sim.{command}")
    add_parser(parser.add_subparsers(dest="command", required=True, parser_class=_Parser))
    args = parser.parse_args([command, *(sys.argv[1:] if argv is None else argv)])
    try:
        return handler(args)
    except ConfigError as error:
        sys.stderr.write(f"relsim: error: {error}\n")
        return 2


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handlers = {
        "run": _run,
        "fields": _fields,
        "validate": _validate,
        "calibrate": _calibrate,
        "matrix": run_matrix_command,
        "app": run_app_command,
        "figures": run_figures_command,
        "sweep": run_sweep_command,
        "sensitivity": run_sensitivity_command,
        "phase": run_phase_command,
    }
    try:
        return handlers[args.command](args)
    except ConfigError as error:
        sys.stderr.write(f"relsim: error: {error}\n")
        return 2
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
