"""Resource limits checked before work starts (issue 11): projected memory (market growth included), export size,
sweep design size, worker count, a --scheduler that is not Dask, and the app's controls checked on the server."""

from __future__ import annotations

import argparse
import contextlib
import math
import resource
import socket
import socketserver
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from sim.cli import main
from sim.core import limits
from sim.core.config import ConfigError, from_mapping
from sim.engine.evaluators import ProcessPoolEvaluator, SequentialEvaluator, default_workers, make_evaluator
from sim.engine.sweep import load_spec, parse_spec, plan, run_sweep
from sim.viz.app import CONTROLS, ClassroomModel

ROOT = Path(__file__).resolve().parents[1]
SPEC = f"""
[sweep]
base_config = "{ROOT / "experiments" / "calibrated.toml"}"
seed = 3

[fixed]
years = 1
n_customers = 200

[vary]
competition = {{ low = 0.0, high = 1.0, steps = 2 }}
"""


def _limited() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (3 * 2**30, 3 * 2**30))  # fail, never fill the machine, if unchecked


def relsim(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sim", *args], cwd=cwd, capture_output=True, text=True, timeout=90, preexec_fn=_limited
    )


def one_line(completed: subprocess.CompletedProcess, option: str) -> str:
    assert completed.returncode == 2, completed.stderr[-2000:]
    lines = completed.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"relsim: error: {option}: "), lines
    return lines[0]


# ----------------------------------------------------------------------------------------------------------------
# Memory: projected from the config, market growth included
# ----------------------------------------------------------------------------------------------------------------
def test_a_market_that_could_exhaust_memory_is_refused_before_the_run(tmp_path):
    config = {"n_customers": 1_000, "market_size_multiple": 1_000_000}
    completed = relsim("run", *(f"--set={k}={v}" for k, v in config.items()), cwd=tmp_path)
    message = one_line(completed, "n_customers")
    assert f"{config['n_customers'] * config['market_size_multiple']:,} customers" in message
    assert "--skip-memory-check" in message


def test_skip_memory_check_lets_a_refused_run_start(monkeypatch, capsys):
    monkeypatch.setattr(limits, "available_memory", lambda: 1_000)  # a machine with next to no memory left
    args = ["run", "--set", "n_customers=300", "--set", "years=1"]
    assert main(args) == 2
    assert capsys.readouterr().err.startswith("relsim: error: n_customers: a run may grow to")
    assert main([*args, "--skip-memory-check"]) == 0


def test_a_sweep_counts_the_memory_of_every_worker_at_once(tmp_path, monkeypatch):
    spec_path = tmp_path / "spec.toml"
    spec_path.write_text(textwrap.dedent(SPEC))
    spec = load_spec(spec_path)
    # a worker holds its run and, at most, a batch of small runs (sim.core.batch)
    one_run = limits.run_bytes(from_mapping({**spec.base, "n_customers": 200}).as_dict()) + limits.BATCH_BYTES
    monkeypatch.setattr(limits, "available_memory", lambda: int(1.5 * one_run))  # one run fits, two do not
    with pytest.raises(ConfigError, match="2 at once") as caught:
        run_sweep(spec, tmp_path / "out", ProcessPoolEvaluator(2))
    assert caught.value.field == "n_customers" and not (tmp_path / "out").exists()
    assert len(run_sweep(spec, tmp_path / "out", SequentialEvaluator()).frame) == 2


def test_the_matrix_checks_memory_before_its_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(limits, "available_memory", lambda: 1_000)
    out = tmp_path / "matrix"
    assert main(["matrix", "--quick", "--spec", str(ROOT / "experiments" / "matrix.toml"), "--out", str(out)]) == 2
    assert capsys.readouterr().err.startswith("relsim: error: n_customers: a run may grow to")
    assert not out.exists()


# ----------------------------------------------------------------------------------------------------------------
# Export size
# ----------------------------------------------------------------------------------------------------------------
def test_an_export_larger_than_memory_is_refused_before_the_run(tmp_path):
    completed = relsim("run", "--set", "n_customers=10000000", "--export", "big", cwd=tmp_path)
    assert "of memory" in one_line(completed, "--export")
    assert list(tmp_path.iterdir()) == []


def test_a_large_export_needs_yes(tmp_path, monkeypatch, capsys):
    args = ["run", "--set", "n_customers=300", "--set", "years=1", "--export", str(tmp_path / "export")]
    customer_months, size, _ = limits.export_size(from_mapping({"n_customers": 300, "years": 1}).as_dict())
    monkeypatch.setattr(limits, "EXPORT_CONFIRM_BYTES", size - 1)  # this export is just over the threshold
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"{customer_months:,} customer-months" in err and "add --yes" in err
    assert not (tmp_path / "export").exists()
    assert main([*args, "--yes"]) == 0 and (tmp_path / "export" / "panel.csv").is_file()


# ----------------------------------------------------------------------------------------------------------------
# Sweep design size: counted before the design is built
# ----------------------------------------------------------------------------------------------------------------
FACTORS = ["competition", "problem_rate", "margin", "switching_cost_mean", "contact_aversion_share"]


@pytest.mark.parametrize(("design", "samples"), [("sobol", 4), ("morris", 3), ("latin", 5), ("grid", None)])
def test_the_counted_design_size_is_the_built_one(design, samples):
    ranges = {"competition": (0.0, 1.0), "problem_rate": (0.1, 2.0), "margin": (0.1, 0.6)}
    vary = {
        name: ({"low": low, "high": high, "steps": 3} if design == "grid" else {"low": low, "high": high})
        for name, (low, high) in ranges.items()
    }
    data = {
        "sweep": {"design": design, "replications": 2, **({"samples": samples} if samples else {})},
        "fixed": {"years": 1, "n_customers": 100},
        "vary": vary,
        "scenarios": {"a": {"acquisition_rate": 0.1}, "b": {"acquisition_rate": 0.3}},
    }
    spec = parse_spec(data)
    sizes = [len(f.values or ()) for f in spec.factors]
    assert (
        limits.design_runs(spec.design, spec.samples, sizes, len(spec.scenarios), spec.replications) == plan(spec).runs
    )


@pytest.mark.parametrize(
    ("design", "vary", "key"),
    [
        ("sobol", {name: "{ low = 0.1, high = 0.9 }" for name in FACTORS}, "sweep.samples"),
        ("grid", {name: "{ low = 0.1, high = 0.9, steps = 1000 }" for name in FACTORS}, "vary"),
    ],
)
def test_a_huge_design_is_refused_before_it_is_built(design, vary, key, tmp_path):
    samples = 2**22 if design == "sobol" else None
    text = (
        f'[sweep]\ndesign = "{design}"\n' + (f"samples = {samples}\n" if samples else "") + "[fixed]\nyears = 1\n"
        "[vary]\n" + "".join(f"{name} = {value}\n" for name, value in vary.items())
    )
    (tmp_path / "huge.toml").write_text(text)
    started = time.monotonic()
    completed = relsim("sweep", "huge.toml", "--out", "out", cwd=tmp_path)
    runs = samples * (len(FACTORS) + 2) if samples else 1000 ** len(FACTORS)
    assert f"makes {runs:,} runs" in one_line(completed, key)
    assert time.monotonic() - started < 30 and not (tmp_path / "out").exists()


# ----------------------------------------------------------------------------------------------------------------
# Workers and schedulers
# ----------------------------------------------------------------------------------------------------------------
def test_workers_are_capped_at_the_cores_unless_asked(tmp_path, capsys):
    cores = default_workers()
    with pytest.raises(ConfigError, match=rf"^--workers: must be at most {cores}.*--oversubscribe"):
        make_evaluator(workers=cores + 1)
    assert make_evaluator(workers=cores + 1, oversubscribe=True).workers == cores + 1
    spec_path = tmp_path / "spec.toml"
    spec_path.write_text(textwrap.dedent(SPEC))
    out = str(tmp_path / "out")
    assert main(["sweep", str(spec_path), "--out", out, "--workers", str(cores + 1)]) == 2
    assert "--oversubscribe" in capsys.readouterr().err
    # even when asked, 100,000 workers are refused by the memory they would need, before any is started
    assert main(["sweep", str(spec_path), "--out", out, "--workers", "100000", "--oversubscribe"]) == 2
    assert "100000 at once" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


class _Stranger(socketserver.BaseRequestHandler):
    """A server that is not a Dask scheduler: says hello like ssh, or says nothing at all."""

    greeting = b""

    def handle(self) -> None:
        self.request.sendall(self.greeting)
        self.request.settimeout(20)
        with contextlib.suppress(OSError):
            self.request.recv(1024)


@pytest.fixture
def stranger():
    servers = []

    def serve(greeting: bytes) -> str:
        handler = type("Handler", (_Stranger,), {"greeting": greeting})
        server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"tcp://127.0.0.1:{server.server_address[1]}"

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


def test_a_scheduler_address_that_is_not_dask_fails_fast(tmp_path, stranger):
    pytest.importorskip("distributed")
    spec_path = tmp_path / "spec.toml"
    spec_path.write_text(textwrap.dedent(SPEC))
    started = time.monotonic()
    address = stranger(b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n")
    completed = relsim("sweep", str(spec_path), "--out", "out", "--scheduler", address, cwd=tmp_path)
    assert "does not speak Dask's protocol" in one_line(completed, "--scheduler")
    assert time.monotonic() - started < 30 and not (tmp_path / "out").exists()
    from sim.engine.evaluators import DaskEvaluator

    never_answers = DaskEvaluator(stranger(b""), timeout=1)
    with pytest.raises(ConfigError, match=r"^--scheduler: .* sent no Dask handshake within 1 s"), never_answers:
        pass
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    with pytest.raises(ConfigError, match=r"^--scheduler: cannot connect to"), DaskEvaluator(f"tcp://127.0.0.1:{port}"):
        pass


# ----------------------------------------------------------------------------------------------------------------
# The app: its controls are checked on the server; a public --host warns
# ----------------------------------------------------------------------------------------------------------------
def test_the_app_clamps_a_crafted_request():
    crafted = {"n_customers": 10_000_000, "margin": 7.0, "problem_rate": -3.0, "competition": math.nan}
    model = ClassroomModel(level="gold", **crafted)
    config = model.config
    assert config.n_customers == CONTROLS["n_customers"]["max"]
    assert config.margin == CONTROLS["margin"]["max"] and config.problem_rate == CONTROLS["problem_rate"]["min"]
    assert config.competition == CONTROLS["competition"]["value"] and config.level == CONTROLS["level"]["value"]
    assert ClassroomModel(n_customers="lots").config.n_customers == CONTROLS["n_customers"]["value"]


@pytest.mark.parametrize("host", ["0.0.0.0", "127.0.0.1"])
def test_a_public_host_warns_and_prints_the_real_addresses(host, monkeypatch, capsys):
    from sim.cli.viz import app
    from sim.viz import server

    monkeypatch.setattr(server, "missing_modules", lambda: [])
    monkeypatch.setattr(server, "server_command", lambda *_: [sys.executable, "-c", "pass"])
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert app(argparse.Namespace(host=host, port=port)) == 0
    captured = capsys.readouterr()
    assert f"http://127.0.0.1:{port}/" in captured.out and "0.0.0.0" not in captured.out
    assert ("to the network" in captured.err) == (host == "0.0.0.0")
