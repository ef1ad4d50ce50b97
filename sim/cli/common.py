"""What every command shares: the parser class, option groups, checks of plain options and progress lines."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Collection, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from sim.errors import ConfigError
from sim.files import check_output, output_folder

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BASE = "experiments/calibrated.toml"


class Parser(argparse.ArgumentParser):
    """argparse, but usage errors are one line like every other input error."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"relsim: error: {message} (see `{self.prog} --help`)\n")
        sys.exit(2)


def add_config_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE.toml", help="read fields from a TOML file")
    parser.add_argument(
        "--set",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        dest="overrides",
        help="set one field (repeatable; wins over --config); `relsim fields` lists them",
    )


def add_execution_options(parser: argparse.ArgumentParser) -> None:
    """--workers / --scheduler / --dask: where an experiment's runs are evaluated (the one engine)."""
    parser.add_argument("--workers", type=int, metavar="N", help="local worker processes (default: all cores)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--scheduler", metavar="ADDRESS", help="run on a Dask distributed cluster, e.g. tcp://host:8786")
    where.add_argument("--dask", action="store_true", help="start a local Dask cluster (--workers processes)")
    parser.add_argument(
        "--batch-size", type=int, metavar="N",
        help="runs a worker steps together as one population (default: chosen from run sizes and memory; 1: each "
        "run alone). Results are the same whatever N",
    )  # fmt: skip
    add_limit_options(parser)


def requested_evaluator(args: argparse.Namespace) -> Any:
    """The evaluator the options of :func:`add_execution_options` ask for (checked before anything runs)."""
    from sim.engine.evaluators import make_evaluator  # imported here: `relsim --help` stays light

    return make_evaluator(args.workers, args.scheduler, args.dask, args.oversubscribe, args.batch_size)


def add_limit_options(parser: argparse.ArgumentParser, workers: bool = True) -> None:
    """Overrides of the resource checks made before a command starts (sim.core.limits)."""
    if workers:
        parser.add_argument(
            "--oversubscribe", action="store_true", help="allow --workers above the number of cores"
        )  # fmt: skip
    parser.add_argument(
        "--skip-memory-check", action="store_true",
        help="start even if the runs' projected memory (customers can grow to market_size_multiple × n_customers) "
        "exceeds the memory available",
    )  # fmt: skip


def add_force_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--force", action="store_true",
        help="write into a folder that also holds files relsim did not write (they are never replaced or removed)",
    )  # fmt: skip


_held: ExitStack | None = None  # what the running command holds until it ends (see main in sim/cli/__init__.py)


@contextmanager
def holding() -> Iterator[None]:
    """Around a command: the output folders it claims (and limits it relaxes) are released when it ends."""
    global _held
    previous = _held
    with ExitStack() as stack:
        _held = stack
        try:
            yield
        finally:
            _held = previous


def hold_output(
    out: str | Path,
    command: str,
    *,
    force: bool = False,
    keep: Collection[str] = (),
    legacy: tuple[str, ...] = (),
    option: str = "--out",
) -> None:
    """Claim the command's output folder before its work starts (sim.files.output_folder): a folder holding files
    relsim did not write is refused (unless --force), a second command writing it is refused (lock), and the
    writer later nests in this claim. Called outside :func:`holding` it only checks."""
    if _held is None:
        check_output(out, command, force=force, keep=keep, legacy=legacy, option=option)
    else:
        _held.enter_context(output_folder(out, command, force=force, keep=keep, legacy=legacy, option=option))


def relax_limits(args: argparse.Namespace) -> None:
    """--skip-memory-check: the projected-memory checks of this command's runs are skipped until it ends."""
    from sim.core.limits import memory_check

    if getattr(args, "skip_memory_check", False) and _held is not None:
        _held.enter_context(memory_check(False))


def at_least(name: str, value: int | None, minimum: int = 1) -> None:
    if value is not None and value < minimum:
        raise ConfigError(name, f"must be an integer of at least {minimum}; got {value}")


def resolve_spec(name: str | Path) -> Path:
    """A spec file: as given (relative to the current directory), else relative to the repository root."""
    path = Path(name)
    if path.is_file() or path.is_absolute():
        return path
    fallback = REPO_ROOT / path
    return fallback if fallback.is_file() else path


def resolve_config(name: str | None) -> str | None:
    """A --config file found as :func:`resolve_spec` finds specs (None: the model's defaults), so that commands
    whose default is the calibrated config work from any folder."""
    return str(resolve_spec(name)) if name else None
