"""``relsim run`` and ``relsim fields``: one firm at one level, and the config's fields."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from sim.cli.common import add_config_options, add_force_option, add_limit_options, hold_output, relax_limits


def add_run(commands: Any) -> None:
    run = commands.add_parser("run", help="simulate one firm at one relationship level")
    add_config_options(run)
    run.add_argument("--json", action="store_true", help="print the summary as JSON")
    run.add_argument(
        "--export",
        metavar="DIR",
        help="also write the transaction log and customer-period panel as CSV to DIR (see docs/EXPORT.md)",
    )
    run.add_argument("--yes", action="store_true", help="write a large export (over 1 GB of CSV) without asking")
    add_force_option(run)
    add_limit_options(run, workers=False)


def print_run(summary: dict[str, Any]) -> None:
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


def run(args: argparse.Namespace) -> int:
    from sim.core.config import load
    from sim.core.limits import check_export, check_memory
    from sim.core.model import RelationshipModel
    from sim.outputs.export import COMMAND, FILES, export_run
    from sim.outputs.results import summarise

    config = load(args.config, args.overrides)
    relax_limits(args)
    check_memory([config.as_dict()])  # before the run, not when memory runs out
    if args.export:
        check_export(config.as_dict(), args.yes)
        hold_output(args.export, COMMAND, force=args.force, legacy=FILES, option="--export")  # refuse before running
    model = RelationshipModel(config, trace=bool(args.export)).run()
    summary = summarise(model.monthly(), config)
    if args.export:
        export_run(model, config, args.export, summary)
        sys.stderr.write(f"relsim: wrote {', '.join(FILES)} to {args.export}\n")
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print_run(summary)
    return 0


def add_fields(commands: Any) -> None:
    fields = commands.add_parser("fields", help="list every config field with unit, default and allowed values")
    fields.add_argument("--json", action="store_true", help="print the list as JSON")


def fields(args: argparse.Namespace) -> int:
    from sim.core.config import describe_fields

    records = describe_fields()
    if args.json:
        print(json.dumps(records, indent=2))
        return 0
    for record in records:
        unit = f" [{record['unit']}]" if record["unit"] else ""
        print(f"{record['name']} = {record['default']!r}{unit}: {record['meaning']} ({record['allowed']})")
    return 0


COMMANDS = {"run": (add_run, run), "fields": (add_fields, fields)}
