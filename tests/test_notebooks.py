"""Every notebook in notebooks/ runs from top to bottom without an error, within its time budget.

Each is executed in a fresh kernel from notebooks/ (as Jupyter would), with nbclient; outputs stay in memory (the
committed notebooks keep no outputs, which the last test checks).
"""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))
BUDGET_SECONDS = 120  # per notebook, on CI's 2 cores
MISSING = [name for name in ("nbclient", "nbformat", "ipykernel") if importlib.util.find_spec(name) is None]


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 4


@pytest.mark.skipif(bool(MISSING), reason=f"needs {', '.join(MISSING)}: pip install -e '.[test]'")
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.stem for path in NOTEBOOKS])
def test_notebook_runs(path: Path):
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=BUDGET_SECONDS,  # per cell
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
        extra_arguments=["--HistoryManager.enabled=False"],  # no history database left behind
    )
    started = time.monotonic()
    client.execute()  # raises CellExecutionError with the cell and its traceback on any error
    elapsed = time.monotonic() - started
    assert elapsed < BUDGET_SECONDS, f"{path.name} took {elapsed:.0f} s"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.stem for path in NOTEBOOKS])
def test_notebook_is_committed_without_outputs(path: Path):
    import json

    cells = json.loads(path.read_text())["cells"]
    code = [cell for cell in cells if cell["cell_type"] == "code"]
    assert code and all(not cell["outputs"] and cell["execution_count"] is None for cell in code)
