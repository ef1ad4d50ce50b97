"""``relsim figures`` and ``relsim app``: the teaching figures and the classroom app."""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from sim.cli.common import add_force_option, hold_output
from sim.errors import ConfigError

FIGURES_OUT = Path("results") / "figures"
FIGURES = ("quadrant_animation.gif", "cohort_survival.png")  # what `relsim figures` writes (sim.viz.figures)
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765


def add_figures(commands: Any) -> None:
    parser = commands.add_parser(
        "figures",
        help="write the quadrant animation (GIF) and cohort survival curves by level (PNG)",
        description="Write results/figures/quadrant_animation.gif (Reactive; a competitor enters in month 37, after "
        "three years of monopoly) and results/figures/cohort_survival.png (share of the initial customers still "
        "active, per level).",
    )
    parser.add_argument("--out", default=str(FIGURES_OUT), metavar="DIR", help=f"output folder (default {FIGURES_OUT})")
    parser.add_argument("--seed", type=int, default=0, help="root seed (default 0); same seed, same figures")
    add_force_option(parser)


def figures(args: argparse.Namespace) -> int:
    """Validate the options, write both figures, print where they went."""
    if args.seed < 0:
        raise ConfigError("--seed", f"must be an integer of at least 0; got {args.seed}")
    out = Path(args.out)
    hold_output(out, "figures", force=getattr(args, "force", False), legacy=FIGURES)
    from sim.viz.figures import write_figures

    started = time.perf_counter()
    paths = write_figures(out, seed=args.seed)
    for path in paths:
        print(f"relsim figures: wrote {path} ({path.stat().st_size / 1024:,.0f} KB)")
    print(f"relsim figures: done in {time.perf_counter() - started:.1f} s")
    return 0


def add_app(commands: Any) -> None:
    parser = commands.add_parser(
        "app",
        help="start the teaching app (the satisfaction/loyalty quadrant in the browser)",
        description="Serve the teaching app (Mesa SolaraViz) and print the address to open. Ctrl+C stops it.",
    )
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"address to listen on (default {DEFAULT_HOST})")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")


def _exit_on_sigterm(signum: int, frame: Any) -> None:
    raise SystemExit(0)


def app(args: argparse.Namespace) -> int:
    """Check the options and the optional dependencies, then serve until interrupted."""
    from sim.viz import server as serving

    serving.check_address(args.host, args.port)
    missing = serving.missing_modules()
    if missing:
        raise ConfigError("app", f"needs {', '.join(missing)}: {serving.INSTALL_HINT}")
    addresses = serving.urls(args.host, args.port)
    if serving.is_public(args.host):
        sys.stderr.write(
            f"relsim app: warning: --host {args.host} opens the app to the network: anyone who can reach this "
            "machine on that port can use it (the default, 127.0.0.1, keeps it on this machine)\n"
        )
    others = f" (or {', '.join(addresses[1:])})" if len(addresses) > 1 else ""
    print(f"relsim app: open {addresses[0]}{others} in a browser (Ctrl+C stops the server)", flush=True)
    server = subprocess.Popen(
        serving.server_command(args.host, args.port),
        env=serving.server_environment(),
        preexec_fn=serving.stop_with_parent(os.getpid()),  # the server dies with this process, even on SIGKILL
    )
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)  # `kill` stops the server too, not only Ctrl+C
    try:
        return server.wait()
    except (KeyboardInterrupt, SystemExit):
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)
        if server.poll() is None:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


COMMANDS = {"figures": (add_figures, figures), "app": (add_app, app)}
