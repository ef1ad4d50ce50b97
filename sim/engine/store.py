"""A sweep's folder: the manifest, atomic Parquet parts (one per finished chunk), resume and consolidation."""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from sim.engine import checks
from sim.engine.plan import Plan
from sim.engine.spec import KEY_COLUMNS, MANIFEST, PARTS, RESULTS, SweepSpec
from sim.files import atomic_write


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


def write_table(path: Path, table: Any) -> None:
    import pyarrow.parquet as pq

    atomic_write(path, lambda tmp: pq.write_table(table, tmp))


def read_manifest(out: Path | str) -> dict[str, Any] | None:
    path = Path(out) / MANIFEST
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise checks.fail("out", f"{path} is not a readable sweep manifest: {error}") from None


def check_out(out: Path, spec: SweepSpec) -> dict[str, Any] | None:
    """Refuse a folder that holds something else, or a sweep of a different spec; the manifest if resuming."""
    if out.exists() and not out.is_dir():
        raise checks.fail("out", f"{out} exists and is not a folder")
    manifest = read_manifest(out)
    if manifest is None:
        if out.is_dir() and any(out.iterdir()):
            raise checks.fail("out", f"{out} is not empty and holds no sweep manifest; choose another folder")
        return None
    if manifest.get("spec_hash") != spec.hash():
        raise checks.fail(
            "out",
            f"{out} holds a different sweep (manifest spec hash {manifest.get('spec_hash')}, this spec "
            f"{spec.hash()}): use another folder, or delete it to start again",
        )
    return manifest


def done_chunks(out: Path) -> set[int]:
    """Chunks already stored as complete part files (temporary files are ignored)."""
    parts = out / PARTS
    if not parts.is_dir():
        return set()
    return {int(p.name[5:11]) for p in parts.glob("part-*.parquet")}


def load_results(out: Path | str) -> Any:
    """The sweep's rows as a DataFrame, one per run, sorted by run key (finished or partial)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = Path(out)
    if (out / RESULTS).is_file():
        table = pq.read_table(out / RESULTS)
    else:
        files = sorted((out / PARTS).glob("part-*.parquet")) if (out / PARTS).is_dir() else []
        if not files:
            import pandas as pd

            return pd.DataFrame()
        table = pa.concat_tables([pq.read_table(f) for f in files])
    return table.sort_by("run").to_pandas()


def consolidate(out: Path, plan_: Plan, manifest: dict[str, Any], seconds: float, evaluator: str) -> Any:
    """All parts into one sorted ``runs.parquet`` after checking that every run is there exactly once; then the
    manifest is marked complete and the parts are removed (in that order, so a kill at any point is harmless)."""
    import pyarrow as pa

    finished = (out / RESULTS).is_file()
    frame = load_results(out)
    runs = frame["run"].to_numpy() if len(frame) else np.zeros(0, int)
    if len(runs) != plan_.runs or not np.array_equal(runs, np.arange(plan_.runs)):
        raise RuntimeError(f"{out}: expected runs 0..{plan_.runs - 1} once each, found {len(runs)} rows")
    if not finished:
        write_table(out / RESULTS, pa.Table.from_pandas(frame, schema=schema(plan_), preserve_index=False))
    if not finished or not manifest.get("complete"):  # (a committed manifest may outlive its ignored Parquet)
        manifest = {**manifest, "complete": True, "last_session_seconds": round(seconds, 3), "evaluator": evaluator}
        write_json(out / MANIFEST, manifest)
    shutil.rmtree(out / PARTS, ignore_errors=True)
    return frame
