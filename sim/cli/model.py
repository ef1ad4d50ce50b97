"""``relsim run``, ``relsim fields``, ``relsim levels`` and ``relsim segments``: one firm at one level, the config's
fields, the relationship levels in effect, and the customer segments."""

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
        f"relsim run: level={summary['level']} segment={summary['segment']} customers={summary['n_customers']} "
        f"years={summary['years']} seed={summary['seed']}",
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
    from sim.core.inputs import load
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
    from sim.core.inputs import describe_fields

    records = describe_fields()
    if args.json:
        print(json.dumps(records, indent=2))
        return 0
    for record in records:
        unit = f" [{record['unit']}]" if record["unit"] else ""
        print(f"{record['name']} = {record['default']!r}{unit}: {record['meaning']} ({record['allowed']})")
    print("levels.NAME.PARAMETER: a parameter of a relationship level; `relsim levels` lists them")
    print("segment: its profile gives the segment fields a run does not set; `relsim segments` lists them")
    return 0


def add_levels(commands: Any) -> None:
    levels = commands.add_parser(
        "levels",
        help="list the relationship levels with every parameter's value, unit, ranges and provenance",
        description="The levels of sim/core/levels.toml, or, with --config/--set, the levels in effect for that run "
        "config ([levels.NAME] tables and levels.NAME.PARAMETER overrides).",
    )
    add_config_options(levels)
    levels.add_argument("--json", action="store_true", help="print the levels as JSON")


def levels(args: argparse.Namespace) -> int:
    from sim.core.config import level_text
    from sim.core.inputs import load
    from sim.core.levels import LEVELS_FILE, describe_levels

    config = load(args.config, args.overrides)
    records = describe_levels(config.levels)
    for record in records:
        record["text"] = level_text(config, record["name"])
    if args.json:
        print(json.dumps(records, indent=2))
        return 0
    source = f"{args.config} over {LEVELS_FILE.name}" if args.config else LEVELS_FILE.name
    print(f"relsim levels: {len(records)} levels ({source}); plausible range, then provenance: source")
    for record in records:
        origin = f", based on {record['based_on']}" if record["based_on"] else ""
        print(f"\n{record['name']} ({record['label']}, {record['colour']}{origin})")
        for p in record["parameters"]:
            value = str(p["value"]).lower() if isinstance(p["value"], bool) else f"{p['value']:g}"
            unit = f" {p['unit']}" if p["unit"] else ""
            plausible = f"[{p['range'][0]:g}, {p['range'][1]:g}]" if p["range"] else ""
            prior = f" prior {p['prior']['distribution']}" if p["prior"] else ""
            print(f"  {p['name']:<24} {value + unit:<20} {plausible:<14} {p['provenance']}{prior}: {p['source']}")
    print("\nparameters (accepted values): meaning")
    for p in records[0]["parameters"]:
        print(f"  {p['name']:<24} ({p['allowed']}): {p['meaning']}")
    return 0


def add_segments(commands: Any) -> None:
    segments = commands.add_parser(
        "segments",
        help="list the customer segments with every field's value, range and provenance",
        description="The customer segments of sim/core/segments.toml: each is a profile of config-field values that "
        "a run naming it (`--set segment=NAME`) takes for every segment field it does not set itself.",
    )
    segments.add_argument("--json", action="store_true", help="print the segments as JSON")


def segments(args: argparse.Namespace) -> int:
    from sim.core.config import FIELDS, SEGMENTS
    from sim.core.segments import SEGMENTS_FILE, describe_segments

    records = describe_segments(SEGMENTS, FIELDS)
    if args.json:
        print(json.dumps(records, indent=2))
        return 0
    names = [record["name"] for record in records]
    width = max(14, *(len(name) + 1 for name in names))
    print(f"relsim segments: {len(records)} segments ({SEGMENTS_FILE.name}); a run takes its segment's value of every")
    print("field below that it does not set itself (`--set segment=NAME`)\n")
    print(f"{'field':<26}" + "".join(f"{name:>{width}}" for name in names))
    for i, entry in enumerate(records[0]["values"]):
        cells = [_short(record["values"][i]["value"]) for record in records]
        print(f"{entry['name']:<26}" + "".join(f"{cell:>{width}}" for cell in cells))
    for record in records:
        print(f"\n{record['name']} ({record['label']}): {record['example']}")
        for p in record["values"]:
            plausible = f"[{_short(p['range'][0])}, {_short(p['range'][1])}]" if p["range"] else ""
            prior = f" prior {p['prior']['distribution']}" if p["prior"] else ""
            print(f"  {p['name']:<26} {_short(p['value']):<10} {plausible:<18} {p['provenance']}{prior}: {p['source']}")
    return 0


def _short(value: Any) -> str:
    return value if isinstance(value, str) else f"{value:g}"


COMMANDS = {
    "run": (add_run, run),
    "fields": (add_fields, fields),
    "levels": (add_levels, levels),
    "segments": (add_segments, segments),
}
