"""Writing one file so that nobody sees half of it: :func:`atomic_write` writes beside the target and renames the
file into place, durably; :func:`stale_temporaries` finds what a writer killed mid-write left behind."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

TEMPORARY = ".relsim-tmp-"  # in the name of every temporary file atomic_write makes


def fsync_folder(folder: Path) -> None:
    """Make the renames in ``folder`` durable (a file renamed into place survives a crash, not only its data)."""
    with contextlib.suppress(OSError):  # some file systems cannot sync a folder; the files themselves are safe
        handle = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(handle)
        finally:
            os.close(handle)


def atomic_write(path: str | Path, write: Callable[[Path], object]) -> Path:
    """Call ``write(temporary_path)``, flush it to disk and rename it to ``path``; the rename is made durable too,
    so a reader (or a resumed sweep) sees the whole file or none of it, even if the process is killed. A killed
    writer leaves a hidden ``.NAME.relsim-tmp-*`` file that :func:`stale_temporaries` finds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}{TEMPORARY}")
    os.close(handle)
    temporary = Path(name)
    try:
        write(temporary)
        with open(temporary, "rb") as stream:
            os.fsync(stream.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    fsync_folder(path.parent)
    return path


def stale_temporaries(folder: str | Path) -> list[Path]:
    """Temporary files :func:`atomic_write` left in ``folder`` when its process was killed mid-write."""
    return sorted(p for p in Path(folder).glob(f".*{TEMPORARY}*") if p.is_file())
