"""Sweep folders (issue 11): a lock; part checksums in the manifest, verified before any new work; the manifest
written before the first run, and a failure before it leaves nothing that blocks a rerun. (Stale temporary files:
tests/test_sweep_resume.py.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from sim.core.config import ConfigError
from sim.engine import store
from sim.engine.evaluators import SequentialEvaluator
from sim.engine.sweep import MANIFEST, load_spec, plan, run_sweep
from sim.files import output_folder

ROOT = Path(__file__).resolve().parents[1]
SPEC = f"""
[sweep]
base_config = "{ROOT / "experiments" / "calibrated.toml"}"
replications = 2
seed = 21
chunk_size = 1

[fixed]
years = 1
n_customers = 150

[vary]
competition = {{ low = 0.0, high = 1.0, steps = 3 }}
margin = [0.1, 0.5]
"""


@pytest.fixture
def spec(tmp_path):
    path = tmp_path / "spec.toml"
    path.write_text(textwrap.dedent(SPEC))
    return load_spec(path)


class Stopping(SequentialEvaluator):
    """Runs ``limit`` chunks and then fails, as a sweep killed part-way would; records what it was asked to run."""

    def __init__(self, limit: int | None = None) -> None:
        self.limit, self.asked = limit, []

    def evaluate(self, function, items):
        self.asked.append(len(items))
        for done, pair in enumerate(super().evaluate(function, items)):
            if self.limit is not None and done == self.limit:
                raise KeyboardInterrupt
            yield pair


def partial(spec, out: Path, chunks: int = 3) -> list[Path]:
    with pytest.raises(KeyboardInterrupt):
        run_sweep(spec, out, Stopping(chunks))
    parts = sorted((out / "parts").glob("part-*.parquet"))
    assert len(parts) == chunks
    return parts


def test_a_second_sweep_into_the_same_folder_is_refused(spec, tmp_path):
    out = tmp_path / "out"
    with output_folder(out, store.COMMAND, keep=store.FILES):  # a first sweep holds the folder
        completed = subprocess.run(
            [sys.executable, "-m", "sim", "sweep", spec.source, "--out", str(out)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert completed.returncode == 2
        assert completed.stderr.strip() == (
            f"relsim: error: --out: {out} is being written by another relsim command (process {os.getpid()}); "
            "wait for it or give another folder"
        )
        assert not (out / MANIFEST).exists()
    assert len(run_sweep(spec, out, SequentialEvaluator()).frame) == 12  # free again


def test_the_manifest_records_a_checksum_of_every_part(spec, tmp_path):
    out = tmp_path / "out"
    parts = partial(spec, out)
    recorded = json.loads((out / MANIFEST).read_text())["parts"]
    assert recorded == {path.name: store.file_hash(path) for path in parts}


@pytest.mark.parametrize("damage", ["truncated", "bit flipped"])
def test_a_damaged_part_is_found_before_any_new_work(damage, spec, tmp_path):
    out = tmp_path / "out"
    victim = partial(spec, out)[1]
    data = victim.read_bytes()
    flipped = data[:100] + bytes([data[100] ^ 1]) + data[101:]
    victim.write_bytes(data[: len(data) // 2] if damage == "truncated" else flipped)
    resumed = Stopping()
    with pytest.raises(ConfigError, match=rf"^out: {victim} does not match its checksum") as caught:
        run_sweep(spec, out, resumed)
    assert resumed.asked == [] and "\n" not in str(caught.value)  # refused before running anything


def test_a_readable_part_with_other_values_is_refused(spec, tmp_path):
    out = tmp_path / "out"
    victim = partial(spec, out)[0]
    table = pq.read_table(victim)
    column = table.schema.get_field_index("discounted_profit")
    pq.write_table(table.set_column(column, "discounted_profit", pc.multiply(table["discounted_profit"], 2.0)), victim)
    assert pq.read_table(victim).num_rows == table.num_rows  # still a valid part
    with pytest.raises(ConfigError, match="does not match its checksum"):
        run_sweep(spec, out, Stopping())
    stray = out / "parts" / "part-000099.parquet"  # a part of another sweep, copied in
    victim.unlink()
    stray.write_bytes(b"PAR1")
    with pytest.raises(ConfigError, match=rf"{stray} was not written by this sweep"):
        run_sweep(spec, out, Stopping())


def test_resuming_after_the_parts_are_checked_gives_every_row_once(spec, tmp_path):
    reference = run_sweep(spec, tmp_path / "whole", SequentialEvaluator()).frame
    out = tmp_path / "out"
    partial(spec, out)
    resumed = Stopping()
    frame = run_sweep(spec, out, resumed).frame
    assert resumed.asked == [len(plan(spec).chunks) - 3]  # only the chunks not stored
    assert frame.equals(reference)
    assert "parts" not in json.loads((out / MANIFEST).read_text())  # consolidated: the results file's checksum
    results = json.loads((out / MANIFEST).read_text())["results_sha256"]
    assert results == store.file_hash(out / "runs.parquet")


def test_the_manifest_comes_before_the_first_run_and_a_failure_before_it_blocks_nothing(spec, tmp_path, monkeypatch):
    out = tmp_path / "out"

    class Watching(SequentialEvaluator):
        def evaluate(self, function, items):
            assert (out / MANIFEST).is_file(), "a run started before the manifest was written"
            yield from super().evaluate(function, items)

    original = store.write_json

    def disk_full(path, data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store, "write_json", disk_full)
    monkeypatch.setattr("sim.engine.sweep.write_json", disk_full)
    with pytest.raises(OSError, match="No space left"):
        run_sweep(spec, out, Watching())
    monkeypatch.setattr(store, "write_json", original)
    monkeypatch.setattr("sim.engine.sweep.write_json", original)
    assert len(run_sweep(spec, out, Watching()).frame) == 12  # the rerun is not refused


def test_a_full_disk_is_one_line_and_the_rerun_resumes(spec, tmp_path, monkeypatch, capsys):
    from sim.cli import main

    out = tmp_path / "out"
    partial(spec, out)
    original = store.atomic_write

    def disk_full(path, write):
        if Path(path).name.startswith("part-"):
            raise OSError(28, "No space left on device", str(path))
        return original(path, write)

    monkeypatch.setattr(store, "atomic_write", disk_full)
    assert main(["sweep", spec.source, "--out", str(out), "--workers", "1"]) == 1
    assert capsys.readouterr().err.strip().endswith("part-000003.parquet: No space left on device")
    monkeypatch.setattr(store, "atomic_write", original)
    assert main(["sweep", spec.source, "--out", str(out), "--workers", "1"]) == 0
