"""Kill a real sweep process with SIGKILL mid-run, start it again, and check that it finishes only what was left:
no duplicate rows, no torn files, nothing done twice, and the same rows as an uninterrupted sweep."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from sim.core.config import ConfigError
from sim.engine.evaluators import ProcessPoolEvaluator, SequentialEvaluator
from sim.engine.store import write_json
from sim.engine.sweep import MANIFEST, load_spec, plan, run_chunk, run_sweep
from sim.files import stale_temporaries

ROOT = Path(__file__).resolve().parents[1]

SPEC = f"""
[sweep]
base_config = "{ROOT / "experiments" / "calibrated.toml"}"
replications = 3
seed = 99
chunk_size = 1

[fixed]
years = 4
n_customers = 1500

[vary]
level = ["reactive", "partnership"]
problem_rate = {{ low = 0.1, high = 1.0, steps = 10 }}
margin = [0.2, 0.4]
"""


def _stop(process: subprocess.Popen) -> None:
    """SIGKILL the sweep's whole process group (its pool workers too), whatever state it is in."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def test_sigkill_then_resume_finishes_only_the_remaining_runs(tmp_path):
    spec_path = tmp_path / "spec.toml"
    spec_path.write_text(textwrap.dedent(SPEC))
    spec = load_spec(spec_path)
    the_plan = plan(spec)
    assert the_plan.runs == 120 and len(the_plan.chunks) == 60  # margins share: 2 rows per chunk
    out = tmp_path / "out"
    parts = out / "parts"

    process = subprocess.Popen(
        [sys.executable, "-m", "sim", "sweep", str(spec_path), "--out", str(out), "--workers", "2"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group, so that the test can always clean up its workers
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and process.poll() is None:
            if parts.is_dir() and len(list(parts.glob("part-*.parquet"))) >= 8:
                break
            time.sleep(0.01)
        assert process.poll() is None, "the sweep finished before it could be killed; make it longer"
        os.kill(process.pid, signal.SIGKILL)  # the sweep process itself, mid-run
        process.wait(timeout=10)
        # Its pool workers die with it (PR_SET_PDEATHSIG): the process group empties by itself.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _group_alive(process.pid):
            time.sleep(0.05)
        assert not _group_alive(process.pid), "orphaned sweep workers"
    finally:
        _stop(process)
    assert process.returncode == -signal.SIGKILL

    # What the killed sweep left: complete part files only (each readable, 2 rows), no results file yet.
    assert not (out / "runs.parquet").exists()
    written = sorted(parts.glob("part-*.parquet"))
    assert 8 <= len(written) < 60
    before = {}
    for path in written:
        table = pq.read_table(path)
        assert table.num_rows == 2
        before[path.name] = table.to_pandas()
    done_runs = pd.concat(before.values())["run"]
    assert done_runs.is_unique

    # Starting again runs only the chunks that are missing, then consolidates.
    result = run_sweep(spec, out, ProcessPoolEvaluator(2))
    assert result.new_runs == 120 - len(done_runs)
    frame = result.frame
    assert len(frame) == 120 and frame["run"].tolist() == list(range(120))
    assert not parts.exists() and (out / "runs.parquet").is_file()
    # Rows stored before the kill are unchanged, and every row equals a fresh computation of its chunk.
    for _name, rows in before.items():
        merged = frame.set_index("run").loc[rows["run"]].reset_index()
        pd.testing.assert_frame_equal(merged[rows.columns], rows.reset_index(drop=True), check_exact=True)
    fresh = pd.DataFrame([row for chunk in the_plan.chunks[::7] for row in run_chunk(chunk)[1]])
    mine = frame.set_index("run").loc[fresh["run"]].reset_index()[fresh.columns]
    pd.testing.assert_frame_equal(mine, fresh, check_exact=True, check_dtype=False)


def _killed_writer(path: Path) -> Path:
    """What a writer killed mid-write leaves: run sim.files.atomic_write in a process that dies inside it."""
    code = "import os, sys; from sim.files import atomic_write; atomic_write(sys.argv[1], lambda p: os._exit(9))"
    subprocess.run([sys.executable, "-c", code, str(path)], cwd=ROOT, check=False)
    (leftover,) = stale_temporaries(path.parent)
    return leftover


def test_stale_temporary_files_are_removed_before_new_work(tmp_path):
    spec_path = tmp_path / "spec.toml"
    spec_path.write_text(textwrap.dedent(SPEC).replace("steps = 10", "steps = 2").replace("years = 4", "years = 1"))
    spec = load_spec(spec_path)
    out = tmp_path / "out"
    leftovers = [_killed_writer(out / "parts" / "part-000003.parquet"), _killed_writer(out / MANIFEST)]
    with pytest.raises(ConfigError, match="already holds parts, which relsim did not write"):
        run_sweep(spec, out)  # no manifest, no marker: not ours to touch
    assert all(path.exists() for path in leftovers)
    write_json(out / MANIFEST, {"spec_hash": spec.hash(), "complete": False})  # a sweep's folder (older relsim)

    class Watching(SequentialEvaluator):
        def evaluate(self, function, items):
            assert not any(path.exists() for path in leftovers), "stale temporary files left at the first run"
            yield from super().evaluate(function, items)

    result = run_sweep(spec, out, Watching())
    assert len(result.frame) == result.runs == 24 and not (out / "parts").exists()
    assert not stale_temporaries(out)
