"""A sweep's folder: the manifest, atomic Parquet parts (one per finished chunk), resume and consolidation."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from sim.engine import checks
from sim.engine.plan import Plan
from sim.engine.spec import KEY_COLUMNS, MANIFEST, PARTS, RESULTS, SweepSpec
from sim.files import atomic_write, stale_temporaries

COMMAND = "sweep"  # the command named in a sweep folder's marker (sim.files.output_folder)
FILES = (MANIFEST, PARTS, RESULTS)  # what a sweep writes in its folder, in place
LEGACY = (MANIFEST, f"{PARTS}*", f"{RESULTS}*", f".{MANIFEST}-*", f".{RESULTS}-*")  # before markers (and its temps)
PART = re.compile(r"part-(\d{6})\.parquet")


# ----------------------------------------------------------------------------------------------------------------
# Storage: manifest, atomic Parquet parts, consolidation
# ----------------------------------------------------------------------------------------------------------------
def schema(plan_: Plan) -> Any:
    import pyarrow as pa

    spec = plan_.spec
    fields = [pa.field(name, pa.int64()) for name in KEY_COLUMNS]
    if spec.scenarios:
        fields.append(pa.field("scenario", pa.string()))
    kinds = {"choice": pa.string(), "integer": pa.int64(), "number": pa.float64()}
    fields += [pa.field(f.name, kinds[f.kind]) for f in spec.factors]
    fields += [pa.field(c, pa.string() if c == "winner" else pa.float64()) for c in spec.output_columns()]
    return pa.schema(fields)


def part_name(chunk: int) -> str:
    return f"part-{chunk:06d}.parquet"


def write_json(path: Path, data: Mapping[str, Any]) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(json.dumps(data, indent=2, default=str) + "\n"))


def table_bytes(table: Any) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return sink.getvalue().to_pybytes()


def write_table(path: Path, table: Any) -> str:
    """Write ``table`` as Parquet, atomically; returns the file's sha256."""
    data = table_bytes(table)
    atomic_write(path, lambda tmp: tmp.write_bytes(data))
    return hashlib.sha256(data).hexdigest()


def file_hash(path: Path) -> str:
    with open(path, "rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()


def write_part(out: Path, manifest: dict[str, Any], chunk: int, table: Any) -> None:
    """A finished chunk: its checksum goes into the manifest first, then the part file (a kill in between leaves a
    checksum without a part, so the chunk simply runs again)."""
    data = table_bytes(table)
    manifest.setdefault("parts", {})[part_name(chunk)] = hashlib.sha256(data).hexdigest()
    write_json(out / MANIFEST, manifest)
    atomic_write(out / PARTS / part_name(chunk), lambda tmp: tmp.write_bytes(data))


def verify_parts(out: Path, manifest: dict[str, Any]) -> set[int]:
    """The chunks already stored, each part checked against its checksum in the manifest before any new work;
    a part that is damaged, changed or not written by this sweep is refused, naming the file."""
    parts = out / PARTS
    files = sorted(parts.glob("part-*.parquet")) if parts.is_dir() else []
    if "parts" not in manifest:  # a manifest from before checksums: adopt the parts its sweep wrote
        manifest["parts"] = {path.name: file_hash(path) for path in files if PART.fullmatch(path.name)}
        write_json(out / MANIFEST, manifest)
    recorded = manifest["parts"]
    done = set()
    for path in files:
        match = PART.fullmatch(path.name)
        if match is None or path.name not in recorded:
            raise checks.fail("out", f"{path} was not written by this sweep; delete it to run its chunk again")
        if file_hash(path) != recorded[path.name]:
            raise checks.fail(
                "out", f"{path} does not match its checksum in {MANIFEST} (damaged or changed); delete it to run "
                "its chunk again",
            )  # fmt: skip
        done.add(int(match.group(1)))
    return done


def clean_parts(out: Path) -> None:
    """Temporary files of writers killed mid-write (their chunks simply run again)."""
    parts = out / PARTS
    if parts.is_dir():
        for stale in (*stale_temporaries(parts), *parts.glob(".part-*")):  # (.part-*: an older relsim's names)
            stale.unlink(missing_ok=True)


def read_manifest(out: Path | str) -> dict[str, Any] | None:
    path = Path(out) / MANIFEST
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise checks.fail("out", f"{path} is not a readable sweep manifest: {error}") from None
    if not isinstance(manifest, dict):
        raise checks.fail("out", f"{path} is not a sweep manifest")
    return manifest


def check_out(out: Path, spec: SweepSpec) -> dict[str, Any] | None:
    """In a claimed folder (sim.files.output_folder): refuse a sweep of a different spec or a finished sweep whose
    results file has changed; the manifest if resuming. Without a manifest nothing can have been run here (it is
    written before the first run), so anything left of a failed start is removed."""
    manifest = read_manifest(out)
    if manifest is None:
        shutil.rmtree(out / PARTS, ignore_errors=True)
        (out / RESULTS).unlink(missing_ok=True)
        return None
    recorded = manifest.get("results_sha256")
    if recorded and (out / RESULTS).is_file() and file_hash(out / RESULTS) != recorded:
        raise checks.fail(
            "out", f"{out / RESULTS} does not match its checksum in {MANIFEST} (damaged or changed); delete it to "
            "run the sweep again",
        )  # fmt: skip
    if manifest.get("spec_hash") != spec.hash():
        raise checks.fail(
            "out",
            f"{out} holds a different sweep (manifest spec hash {manifest.get('spec_hash')}, this spec "
            f"{spec.hash()}): use another folder, or delete it to start again",
        )
    return manifest


def read_results(out: Path | str) -> Any:
    """The sweep's rows as an Arrow table sorted by run (finished or partial; None when there are none)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = Path(out)
    if (out / RESULTS).is_file():
        return pq.read_table(out / RESULTS).sort_by("run")
    files = sorted((out / PARTS).glob("part-*.parquet")) if (out / PARTS).is_dir() else []
    return pa.concat_tables([pq.read_table(f) for f in files]).sort_by("run") if files else None


def load_results(out: Path | str) -> Any:
    """The sweep's rows as a DataFrame, one per run, sorted by run key (finished or partial)."""
    table = read_results(out)
    if table is None:
        import pandas as pd

        return pd.DataFrame()
    return table.to_pandas()


def consolidate(out: Path, plan_: Plan, manifest: dict[str, Any], seconds: float, evaluator: str) -> Any:
    """All parts into one sorted ``runs.parquet`` after checking that every run is there exactly once; then the
    manifest is marked complete and the parts are removed (in that order, so a kill at any point is harmless).
    Returns the rows as an Arrow table: they become a DataFrame when asked for (``SweepResult.frame``), so the
    command need not import pandas."""
    finished = (out / RESULTS).is_file()
    table = read_results(out)
    runs = table.column("run").to_numpy() if table is not None else np.zeros(0, int)
    if len(runs) != plan_.runs or not np.array_equal(runs, np.arange(plan_.runs)):
        raise RuntimeError(f"{out}: expected runs 0..{plan_.runs - 1} once each, found {len(runs)} rows")
    digest = manifest.get("results_sha256")
    if not finished:
        digest = write_table(out / RESULTS, table.cast(schema(plan_)))
    if not finished or not manifest.get("complete") or not digest:  # (a committed manifest outlives its Parquet)
        manifest = {k: v for k, v in manifest.items() if k != "parts"}  # the parts are consolidated and removed
        manifest.update(complete=True, last_session_seconds=round(seconds, 3), evaluator=evaluator)
        manifest["results_sha256"] = digest or file_hash(out / RESULTS)
        write_json(out / MANIFEST, manifest)
    shutil.rmtree(out / PARTS, ignore_errors=True)
    return table
