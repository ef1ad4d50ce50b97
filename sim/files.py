"""Writing outputs so that nobody ever sees half of them.

A file is written beside its target and renamed into place; a folder of outputs is written to a staging folder
beside it and swapped in whole when every file is there. A failed or killed run leaves the old outputs (or
nothing) behind, never a mixture.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


def atomic_write(path: str | Path, write: Callable[[Path], object]) -> Path:
    """Call ``write(temporary_path)``, flush it to disk and rename it to ``path``; the rename is made durable too,
    so a reader (or a resumed sweep) sees the whole file or none of it, even if the process is killed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-")
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
    try:
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
    except OSError:  # some file systems cannot sync a folder; the file itself is safe
        pass
    return path


@contextmanager
def staged_folder(out: str | Path) -> Iterator[Path]:
    """Yield an empty staging folder beside ``out``; on success it replaces ``out`` whole, on failure it is
    removed and ``out`` is left as it was."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}-"))
    try:
        yield staging
        staging.chmod(0o755)
        if out.exists():
            old = out.parent / f".{out.name}.old-{os.getpid()}"
            out.rename(old)
            staging.rename(out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
