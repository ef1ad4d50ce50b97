"""The validation commands: validate (calibration, verification and hold-out targets apart), calibrate, identify.

Each handler checks its options, hands the spec to the validation experiment (which runs on the one engine) and
prints a short summary; the experiment modules never parse arguments or print.
"""

from __future__ import annotations

import argparse
import sys
import time
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

# --- relsim validate / calibrate ----------------------------------------------------------------------------------
VALIDATION_SPEC = "experiments/validation.toml"
HOLDOUT_SPEC = "experiments/holdout.toml"
VALIDATE_EXIT = (
    "Exit status: 0 when every target passes; 1 when the report was written but at least one target failed, of any "
    "kind (the failing targets are named on stderr by kind: out-of-sample, verification, calibration, hold-out; a "
    "hold-out target that does not apply is not a failure); 2 for bad input."
)


def add_validate(commands: Any) -> None:
    validate = commands.add_parser(
        "validate",
        help="reproduce the stylized facts and write the validation report (exit 1 if a target fails)",
        description="Run every experiment of the targets file over its replications (on the engine: --workers, "
        "--dask, --scheduler; the numbers do not depend on them) and write REPORT.md, CSVs and one figure per "
        "target. " + VALIDATE_EXIT,
    )
    validate.add_argument("--spec", default=VALIDATION_SPEC, help=f"targets file (TOML; default {VALIDATION_SPEC})")
    validate.add_argument(
        "--config", metavar="FILE.toml", default=DEFAULT_BASE, help="base config (default: the calibrated one)"
    )
    validate.add_argument("--out", default="results/validation", help="report folder")
    validate.add_argument(
        "--replications", type=int, metavar="R",
        help="seeds per experiment (default: the spec's; at least 2, since every value is shown with its 95%% CI)",
    )  # fmt: skip
    validate.add_argument(
        "--holdout", metavar="FILE.toml", default=HOLDOUT_SPEC,
        help=f"hold-out targets, fixed before any fit (default {HOLDOUT_SPEC}); 'none' leaves them out and the "
        "report then says it tests nothing about the model",
    )  # fmt: skip
    validate.add_argument(
        "--holdout-replications", type=int, metavar="R", help="seeds per hold-out scenario (default: the file's)"
    )
    validate.add_argument("--json", action="store_true", help="print the table as JSON")
    add_execution_options(validate)
    add_force_option(validate)


def validate(args: argparse.Namespace) -> int:
    from sim.experiments import validation
    from sim.experiments.validation import holdout as held
    from sim.viz.validation import LEGACY, write_report

    if args.replications is not None and args.replications < validation.MIN_REPLICATIONS:
        raise ConfigError(
            "--replications",
            f"must be at least {validation.MIN_REPLICATIONS}: a 95 % interval needs two replications; got "
            f"{args.replications}",
        )
    at_least("--holdout-replications", args.holdout_replications, validation.MIN_REPLICATIONS)
    evaluator = requested_evaluator(args)
    spec = validation.load_spec(resolve_spec(args.spec))
    holdout_spec = None if args.holdout == "none" else held.load_holdout(resolve_spec(args.holdout), "--holdout")
    base = validation.base_config(resolve_config(args.config))
    relax_limits(args)
    hold_output(args.out, "validate", force=args.force, legacy=LEGACY)
    if args.replications:
        spec.replications = args.replications
    started = time.perf_counter()
    with _Progress("relsim validate", "replication") as bar:
        measurements = validation.measure(spec, base, evaluator=evaluator, progress=bar.advance)
    holdout = None
    if holdout_spec is not None:
        count = args.holdout_replications or int(holdout_spec["meta"]["replications"])
        with _Progress("relsim validate: hold-out", "replication") as bar:
            results = held.run_holdout(base, holdout_spec, count, evaluator, progress=bar.advance)
        holdout = held.Holdout(args.holdout, count, held.holdout_table(holdout_spec, results))
    table = validation.compare(spec, measurements)
    report = write_report(args.out, spec, args.config, table, measurements, time.perf_counter() - started, holdout)
    if args.json:
        print(validation.summary_json(table if holdout is None else _with_holdout(table, holdout.table)))
    else:
        _print_validation(table, holdout, report)
    failed = validation.failures(table)
    if holdout is not None:
        failed["hold-out"] = holdout.table.loc[holdout.table["verdict"] == "fail", "target"].tolist()
    if any(failed.values()):
        named = "; ".join(f"{kind}: {', '.join(names)}" for kind, names in failed.items() if names)
        sys.stderr.write(f"relsim validate: {sum(map(len, failed.values()))} target(s) failed ({named})\n")
        return 1
    return 0


def _with_holdout(table: Any, holdout: Any) -> Any:
    """The targets file's rows and the hold-out file's, one record each, with their kind."""
    import pandas as pd

    held = holdout.rename(columns={"mean": "simulated"}).assign(kind="hold-out", passed=holdout["verdict"] == "pass")
    return pd.concat([table, held], ignore_index=True)


def _print_validation(table: Any, holdout: Any, report: Path) -> None:
    from sim.experiments import validation
    from sim.experiments.validation.holdout import headline
    from sim.viz.validation import interval_text

    for row in table.itertuples():
        print(
            f"{'pass' if row.passed else 'FAIL'}  {row.target:28s} {row.kind:13s} {row.simulated:10.4g} "
            f"({interval_text(row.ci_low, row.ci_high)})   want {row.wanted}"
        )
    for row in [] if holdout is None else holdout.table.itertuples():
        verdict = {"pass": "pass", "fail": "FAIL"}.get(row.verdict, "n/a ")
        print(
            f"{verdict}  {row.target:28s} {'hold-out':13s} {row.mean:10.4g} "
            f"({interval_text(row.ci_low, row.ci_high)})   want {row.wanted}{'' if row.counts else '  [not counted]'}"
        )
    tally = validation.counts(table)
    (test_passed, tests), (fit_passed, fits) = tally[validation.OUT_OF_SAMPLE], tally[validation.CALIBRATION]
    check_passed, checks = tally[validation.VERIFICATION]
    print(
        f"{int(table['passed'].sum())} of {len(table)} targets pass: {test_passed} of {tests} out-of-sample, "
        f"{check_passed} of {checks} verification, {fit_passed} of {fits} calibration (fitted); "
        f"{headline(holdout.table) if holdout is not None else 'hold-out: not run'}; report: {report}"
    )


def add_calibrate(commands: Any) -> None:
    calibrate = commands.add_parser(
        "calibrate",
        help="fit the behavioural parameters to the calibration targets (writes a new file)",
        description="Fit the spec's [calibration.parameters] to its targets marked calibrate = true (Powell's "
        "method, simulated method of moments) and write the fitted values as a config file. By default the file "
        "is new (out/calibrated-<spec hash>.toml): the committed experiments/calibrated.toml changes only when "
        "named with --out and --force. A file relsim calibrate did not write is never replaced.",
    )
    calibrate.add_argument("--spec", default=VALIDATION_SPEC, help=f"targets file (TOML; default {VALIDATION_SPEC})")
    calibrate.add_argument("--config", metavar="FILE.toml", help="starting config (default: model defaults)")
    calibrate.add_argument(
        "--out", metavar="FILE.toml",
        help="where to write the fitted config (default: out/calibrated-<spec hash>.toml); refused if it exists",
    )  # fmt: skip
    calibrate.add_argument(
        "--force", action="store_true",
        help="replace an existing --out file, provided relsim calibrate wrote it (never any other file)",
    )  # fmt: skip
    calibrate.add_argument("--max-evaluations", type=int, default=250, help="budget of objective evaluations")
    calibrate.add_argument("--replications", type=int, default=2, help="seeds per objective evaluation")
    add_execution_options(calibrate)


def calibrate(args: argparse.Namespace) -> int:
    from sim.experiments import validation

    at_least("--max-evaluations", args.max_evaluations)
    at_least("--replications", args.replications)
    evaluator = requested_evaluator(args)
    spec = validation.load_spec(resolve_spec(args.spec))
    base = validation.base_config(resolve_config(args.config))
    out = validation.check_out(args.out or validation.default_path(spec), args.force)
    relax_limits(args)
    with _Progress("relsim calibrate", "evaluation") as bar:
        result = validation.calibrate(
            spec, base, args.replications, args.max_evaluations, evaluator, progress=bar.evaluation
        )
    path = validation.write_calibrated(result, out, spec)
    for name, value in result.parameters.items():
        print(f"{name} = {value}")
    for row in result.fitted.itertuples():
        print(f"{'pass' if row.passed else 'FAIL'}  {row.target:28s} {row.simulated:8.3f}   want {row.wanted}")
    print(f"objective {result.objective:.3f} after {result.evaluations} evaluations; wrote {path}")
    return 0


class _Progress:
    """A progress line on stderr (tqdm, a dependency of mesa) fed by the experiments' progress callbacks; drawn
    from the first callback on, when the total is known."""

    def __init__(self, description: str, unit: str) -> None:
        self.description, self.unit = description, unit
        self._tqdm: Any = None

    def __enter__(self) -> _Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._tqdm is not None:
            self._tqdm.close()

    def _line(self, total: int | None) -> Any:
        if self._tqdm is None:
            from tqdm import tqdm

            self._tqdm = tqdm(desc=self.description, unit=self.unit, total=total, file=sys.stderr, mininterval=0.5)
        return self._tqdm

    def advance(self, done: int, total: int) -> None:
        """measure's callback: replications done of total."""
        line = self._line(total)
        line.update(done - line.n)

    def evaluation(self, count: int, objective: float, best: float) -> None:
        """calibrate's callback: evaluations so far (Powell's total is not known in advance), the last and the
        best objective."""
        line = self._line(None)
        line.set_postfix_str(f"objective {objective:.3f}, best {best:.3f}", refresh=False)
        line.update(count - line.n)


IDENTIFY_SETTINGS = "experiments/identification.toml"
IDENTIFY_OUT = Path("results") / "calibration"


def add_identify(commands: Any) -> None:
    parser = commands.add_parser(
        "identify",
        help="how well the calibration's moments identify its parameters (Jacobian, rank, SEs, profiles)",
        description="Examine the committed calibration without refitting it: the Jacobian of the calibration "
        "moments at the fit (finite differences with the fit's seeds), its rank, singular values and condition "
        "number, SMM standard errors, the objective at the fit, and one-dimensional profiles of the objective over "
        "each parameter's box (conditional and approximately re-optimised); writes IDENTIFICATION.md, "
        "profiles.png and CSVs. Exit status: 0 when written; 2 for bad input.",
    )
    parser.add_argument(
        "--settings", metavar="FILE.toml", default=IDENTIFY_SETTINGS,
        help=f"what to examine and how (default {IDENTIFY_SETTINGS})",
    )  # fmt: skip
    parser.add_argument(
        "--out", metavar="DIR", default=str(IDENTIFY_OUT), help=f"report folder (default {IDENTIFY_OUT})"
    )
    add_execution_options(parser)
    add_force_option(parser)


def identify(args: argparse.Namespace) -> int:
    from sim.experiments import validation
    from sim.experiments.validation import identification
    from sim.viz.identification import FILES, summary_table, write_identification

    evaluator = requested_evaluator(args)
    settings = identification.load_settings(resolve_spec(args.settings))
    spec = validation.load_spec(resolve_spec(settings.spec))
    config = resolve_spec(settings.config)
    base = validation.base_config(str(config))
    relax_limits(args)
    hold_output(args.out, "identify", force=args.force, legacy=FILES)
    recorded = identification.recorded_objective(config)
    result = identification.run_identification(settings, spec, base, evaluator, recorded)
    report = write_identification(args.out, result, args.settings)
    ident = result.identification
    print(
        f"relsim identify: {len(result.names)} parameters, {len(result.targets)} moments; Jacobian rank "
        f"{ident.rank}, condition number {ident.condition:.3g}; objective at the fit {result.objective:.3f}; "
        f"{result.evaluations} simulated points in {result.seconds:.0f} s"
    )
    for row in summary_table(result).itertuples():
        print(
            f"  {row.parameter:22s} fit {row.fitted:8.4g}  SE {row.standard_error:8.3g}  profile "
            f"{row.profile_low:.3g} to {row.profile_high:.3g} ({row.profile})"
        )
    print(f"  report: {report}")
    return 0


COMMANDS = {
    "validate": (add_validate, validate),
    "calibrate": (add_calibrate, calibrate),
    "identify": (add_identify, identify),
}
