"""Which code produced a result: the git commit of the checkout, and whether tracked files differed from it.

Read when an experiment starts, before it writes anything: its own output folders are tracked files (the committed
results), so reading it afterwards would report the experiment's own fresh outputs as uncommitted changes.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=5, check=True
    ).stdout.strip()


def code_revision() -> str | None:
    """``<short commit>``, with " (with uncommitted changes)" when tracked files differ; None outside git."""
    try:
        head = _git("rev-parse", "--short", "HEAD")
        dirty = _git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return None
    return head + (" (with uncommitted changes)" if dirty else "")
