"""The same sweep on a real Dask cluster (a scheduler and two worker processes on 127.0.0.1, started as separate
processes with the `dask` command) gives bit-identical rows to the in-process run; so does `--dask`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

from sim.cli import main as cli_main
from sim.core.config import ConfigError
from sim.engine.evaluators import DaskEvaluator, SequentialEvaluator
from sim.engine.sweep import load_results, load_spec, run_sweep


def main(argv: list[str]) -> int:
    return cli_main(["sweep", *argv])


pytest.importorskip("distributed")

ROOT = Path(__file__).resolve().parents[1]
SPEC = f"""
[sweep]
base_config = "{ROOT / "experiments" / "calibrated.toml"}"
replications = 2
seed = 5
chunk_size = 2

[fixed]
years = 1
n_customers = 200

[vary]
competition = {{ low = 0.0, high = 1.0, steps = 3 }}
margin = [0.1, 0.6]

[compare]
levels = ["basic", "accountable", "partnership"]
"""


def _start(args: list[str], log: Path) -> subprocess.Popen:
    with open(log, "wb") as handle:
        return subprocess.Popen(
            [sys.executable, "-m", *args], stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
        )


def _stop(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)
    except ProcessLookupError:
        return
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


@pytest.fixture
def cluster(tmp_path):
    """`dask scheduler` and `dask worker` (2 single-threaded processes) on loopback; stopped whatever happens."""
    scheduler_file = tmp_path / "scheduler.json"
    processes = [
        _start(
            [
                "distributed.cli.dask_scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--no-dashboard",
                "--scheduler-file",
                str(scheduler_file),
            ],
            tmp_path / "scheduler.log",
        )
    ]
    try:
        deadline = time.monotonic() + 60
        while not scheduler_file.is_file() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert scheduler_file.is_file(), (tmp_path / "scheduler.log").read_text()
        processes.append(
            _start(
                [
                    "distributed.cli.dask_worker",
                    "--scheduler-file",
                    str(scheduler_file),
                    "--nworkers",
                    "2",
                    "--nthreads",
                    "1",
                    "--host",
                    "127.0.0.1",
                    "--no-dashboard",
                    "--death-timeout",
                    "30",
                ],
                tmp_path / "worker.log",
            )
        )
        address = json.loads(scheduler_file.read_text())["address"]
        assert address.startswith("tcp://127.0.0.1:")
        from distributed import Client

        with Client(address, timeout=30) as client:
            client.wait_for_workers(2, timeout=60)
        yield address
    finally:
        for process in reversed(processes):
            _stop(process)


def test_dask_cluster_gives_identical_rows(tmp_path, cluster, capsys):
    spec_path = tmp_path / "spec.toml"
    spec_path.write_text(textwrap.dedent(SPEC))
    spec = load_spec(spec_path)
    reference = run_sweep(spec, tmp_path / "local", SequentialEvaluator()).frame
    with DaskEvaluator(address=cluster) as evaluator:
        assert evaluator.workers == 2
        on_dask = run_sweep(spec, tmp_path / "dask", evaluator).frame
    pd.testing.assert_frame_equal(reference, on_dask, check_exact=True)
    # and through the command line, as a user on a cluster would start it
    assert main([str(spec_path), "--out", str(tmp_path / "cli"), "--scheduler", cluster]) == 0
    assert "on dask" in capsys.readouterr().out
    pd.testing.assert_frame_equal(reference, load_results(tmp_path / "cli"), check_exact=True)


def test_local_dask_cluster_and_unreachable_scheduler(tmp_path):
    spec_path = tmp_path / "spec.toml"
    spec_path.write_text(textwrap.dedent(SPEC).replace("steps = 3", "steps = 2"))
    reference = run_sweep(load_spec(spec_path), tmp_path / "local", SequentialEvaluator()).frame
    assert main([str(spec_path), "--out", str(tmp_path / "dask"), "--dask", "--workers", "2"]) == 0
    pd.testing.assert_frame_equal(reference, load_results(tmp_path / "dask"), check_exact=True)
    # nothing listens on port 9 of loopback: a clear one-line error naming the option, and nothing written
    out = tmp_path / "nowhere"
    with pytest.raises(ConfigError, match=r"cannot connect to tcp://127\.0\.0\.1:9") as caught:
        run_sweep(load_spec(spec_path), out, DaskEvaluator("tcp://127.0.0.1:9", timeout=2))
    assert caught.value.field == "--scheduler" and "\n" not in str(caught.value)
    assert not out.exists()
