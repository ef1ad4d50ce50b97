"""Serving the teaching app: its optional dependencies, the server command and a check of the address.

Light on purpose: the command line imports it without Mesa, solara or the model.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import sys

from sim.errors import ConfigError

APP_MODULES = ("solara", "solara_assets", "ipyvuetify", "altair", "networkx")
INSTALL_HINT = "pip install -e '.[app]' (solara==1.58.2, solara-assets==1.58.2, ipyvuetify<3, altair, networkx)"


def missing_modules() -> list[str]:
    """The app's optional dependencies that are not installed."""
    return [name for name in APP_MODULES if importlib.util.find_spec(name) is None]


def server_command(host: str, port: int) -> list[str]:
    """The command that serves the app: production mode (no file watching or auto-reload), no browser opened, and
    no look-up of a newer solara on PyPI (the versions are pinned; a classroom may be offline)."""
    return [
        sys.executable, "-m", "solara", "run", "sim.viz.app",
        "--host", host, "--port", str(port), "--production", "--no-open", "--no-check-version",
    ]  # fmt: skip


def server_environment() -> dict[str, str]:
    """The server's environment: solara's telemetry off (this machine may have no internet, and it is a class)."""
    return {**os.environ, "SOLARA_TELEMETRY_MIXPANEL_ENABLE": "false"}


def check_address(host: str, port: int) -> None:
    """Refuse a port out of range or already in use, naming the option, before anything starts."""
    if not 1 <= port <= 65_535:
        raise ConfigError("--port", f"must be an integer from 1 to 65535; got {port}")
    if not host.strip():
        raise ConfigError("--host", "must be a host name or address; got an empty string")
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind((host, port))
    except socket.gaierror as error:
        raise ConfigError("--host", f"cannot resolve {host!r}: {error.strerror}") from None
    except OSError as error:
        raise ConfigError("--port", f"cannot listen on {host}:{port}: {error.strerror}") from None
