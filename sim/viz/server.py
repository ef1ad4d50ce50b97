"""Serving the teaching app: its optional dependencies, the server command and a check of the address.

Light on purpose: the command line imports it without Mesa, solara or the model.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import ipaddress
import os
import signal
import socket
import struct
import sys
from collections.abc import Callable

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


def stop_with_parent(parent: int) -> Callable[[], None]:
    """A ``preexec_fn`` for the server: the kernel kills it when the ``relsim app`` process dies, even by SIGKILL
    (Linux PR_SET_PDEATHSIG), so it never stays listening on its own."""

    def arrange() -> None:
        if sys.platform != "linux":
            return
        with contextlib.suppress(OSError, AttributeError):
            import ctypes

            ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))  # 1 = PR_SET_PDEATHSIG
        if os.getppid() != parent:  # the parent died before the request took effect
            os._exit(1)

    return arrange


def is_public(host: str) -> bool:
    """Whether listening on ``host`` lets other machines reach the app (anything but loopback)."""
    if host in ("localhost", "ip6-localhost"):
        return False
    try:
        return not ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:  # a host name: resolve it
        try:
            return not all(ipaddress.ip_address(info[4][0]).is_loopback for info in socket.getaddrinfo(host, None))
        except (OSError, ValueError):
            return True


def _interface_addresses() -> list[str]:
    """This machine's IPv4 addresses, from its network interfaces (works offline), else from its host name."""
    found: list[str] = []
    if sys.platform == "linux":
        with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            for _, name in socket.if_nameindex():
                with contextlib.suppress(OSError):
                    request = struct.pack("256s", name.encode()[:15])
                    found.append(socket.inet_ntoa(fcntl.ioctl(probe.fileno(), 0x8915, request)[20:24]))  # SIOCGIFADDR
    if not found:
        with contextlib.suppress(OSError):
            found = [info[4][0] for info in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)]
    return list(dict.fromkeys(found))


def urls(host: str, port: int) -> list[str]:
    """The addresses to open: for a wildcard host (0.0.0.0, ::) this machine's real addresses, loopback first."""
    if host in ("0.0.0.0", "::", ""):
        addresses = sorted(_interface_addresses() or ["127.0.0.1"], key=lambda a: not a.startswith("127."))
    else:
        addresses = [host]
    return [f"http://{f'[{a}]' if ':' in a else a}:{port}/" for a in addresses]
