"""Which code produced a result: the git commit of the checkout, and whether the code or the specs differed from it.

Only the code and inputs count (``sim/``, ``experiments/``, ``pyproject.toml``): the committed results are tracked
files too, and an experiment changes its own output folder (its marker, its results) while it runs, and other
experiments' folders when several are regenerated in turn. Read when an experiment starts.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
CODE = ("sim", "experiments", "pyproject.toml")  # what decides a result, besides the seed


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=5, check=True
    ).stdout.strip()


def code_revision() -> str | None:
    """``<short commit>``, with " (with uncommitted changes)" when tracked code or specs differ; None outside git."""
    try:
        head = _git("rev-parse", "--short", "HEAD")
        dirty = _git("status", "--porcelain", "--untracked-files=no", "--", *CODE)
    except (OSError, subprocess.SubprocessError):
        return None
    return head + (" (with uncommitted changes)" if dirty else "")
