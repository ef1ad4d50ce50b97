"""What every command shares: the parser class, option groups, checks of plain options and progress lines."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sim.errors import ConfigError

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


def progress(message: str) -> None:
    """A one-line progress message, redrawn in place on a terminal."""
    if sys.stderr.isatty():
        sys.stderr.write(f"\r\033[K{message}")
        sys.stderr.flush()
