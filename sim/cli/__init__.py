"""The ``relsim`` command line: every parser, printout and exit code lives in this package.

Every subcommand validates all its input before it runs anything; a bad value ends the command with one line on
stderr naming the field and what is allowed, exit status 2, and no output files. Ctrl+C ends it with one line and
exit status 130 (SIGTERM: 143), its workers stopped and nothing half-written. Domain modules are imported inside
the handlers, so ``relsim --help`` starts instantly.
"""

from __future__ import annotations

import contextlib
import ctypes
import signal
import sys
import threading
from collections.abc import Sequence

from sim import __version__
from sim.cli import experiments, findings, model, validation, viz
from sim.cli.common import Parser, holding
from sim.errors import ConfigError

COMMANDS = {
    **model.COMMANDS,
    **experiments.COMMANDS,
    **validation.COMMANDS,
    **findings.COMMANDS,
    **viz.COMMANDS,
}


def build_parser() -> Parser:
    parser = Parser(
        prog="relsim", description="An agent-based test of Kotler's matrix of customer relationship levels."
    )
    parser.add_argument("--version", action="version", version=f"relsim {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    commands.required = True
    for add_parser, _ in COMMANDS.values():
        add_parser(commands)
    return parser


# Commands that keep finished runs in a store under their output folder, so that the same command continues there
# (sim/engine/sweep.py); the others start over when rerun, and their interrupt message says so.
RESUMABLE = frozenset({"sweep", "phase", "sensitivity", "matrix", "verdict"})


class Terminated(KeyboardInterrupt):
    """SIGTERM (`kill`): stop like Ctrl+C, so workers are stopped and folders released on the way out."""


def _ending() -> None:
    """From the first Ctrl+C or SIGTERM on, the process is ending: further presses or signals are ignored, so a
    second press (people press twice) cannot break into the clean-up (progress bar, workers, folder locks)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _interrupt(signum: int, frame: object) -> None:
    _ending()
    raise KeyboardInterrupt


def _terminate(signum: int, frame: object) -> None:
    _ending()
    raise Terminated


def _forget_unhandled_interrupt() -> None:
    """CPython 3.11 flags a Ctrl+C raised inside eval() (as namedtuple() runs while modules import) as unhandled
    even when it is caught, and then ends the process by SIGINT instead of with our exit status: clear the flag."""
    with contextlib.suppress(ValueError, AttributeError, OSError):
        ctypes.c_int.in_dll(ctypes.pythonapi, "_Py_UnhandledKeyboardInterrupt").value = 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    process = argv is None and threading.current_thread() is threading.main_thread()  # the program, not a test
    if process:
        signal.signal(signal.SIGINT, _interrupt)
        signal.signal(signal.SIGTERM, _terminate)
    try:
        with holding():  # output folders claimed by the command are released (and unlocked) when it ends
            return COMMANDS[args.command][1](args)
    except ConfigError as error:
        sys.stderr.write(f"relsim: error: {error}\n")
        return 2
    except KeyboardInterrupt as interrupt:
        if process:  # the process is ending (a KeyboardInterrupt raised in code, too): nothing changes that now
            _ending()
            _forget_unhandled_interrupt()
        stopped = "stopped" if isinstance(interrupt, Terminated) else "interrupted"
        then = "rerun the same command to resume" if args.command in RESUMABLE else "rerunning starts over"
        sys.stderr.write(f"relsim: {stopped}; {then}\n")
        return 143 if isinstance(interrupt, Terminated) else 130
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return 0
    except OSError as error:  # the disk is full, a file went away: which, in one line (what was written is whole)
        where = f"{error.filename}: " if error.filename else ""
        sys.stderr.write(f"relsim: error: {where}{error.strerror or error}\n")
        return 1
