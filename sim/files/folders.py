"""Output folders: relsim writes only into folders it claimed, and never touches what it did not write.

- :func:`output_folder`: claim a folder for one command. relsim marks the folders it writes with a marker file
  (:data:`MARKER`: the command and the names it wrote) and refuses a folder holding anything else unless
  ``force`` (then it writes beside those files and never replaces or removes them); a lock (:data:`LOCK`, flock)
  refuses a second command writing the same folder at the same time. Claims nest within one process.
- :func:`check_output`: the same checks, before the work starts, creating nothing.
- :func:`staged_folder`: a claimed folder's outputs written to a staging folder and published whole: swapped in
  atomically when the folder holds only relsim's own files, otherwise moved in file by file beside the others.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import fnmatch
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sim.errors import ConfigError
from sim.files.atomic import TEMPORARY, atomic_write, fsync_folder, stale_temporaries

MARKER = ".relsim-output"  # JSON {"command": ..., "files": [...]}: the folder's relsim outputs
LOCK = ".relsim-lock"  # flock'ed while a command writes the folder; holds its process id
STAGING = ".relsim-staging-"  # in the name of a staging folder (beside the output folder, or inside it)
RESERVED = (MARKER, LOCK)


# ----------------------------------------------------------------------------------------------------------------
# Claiming a folder: check it, lock it, mark it
# ----------------------------------------------------------------------------------------------------------------
@dataclass
class _Claim:
    path: Path  # resolved
    shown: str  # as the user gave it
    command: str
    force: bool
    option: str
    keep: set[str] = field(default_factory=set)
    legacy: tuple[str, ...] = ()
    lock: int = -1
    depth: int = 1


_CLAIMS: dict[Path, _Claim] = {}  # the folders this process holds, by resolved path (claims nest)


def _fail(claim: _Claim, message: str) -> ConfigError:
    return ConfigError(claim.option, message)


def _scratch(name: str) -> bool:
    """relsim's own transient names inside a folder: temporary files and staging folders."""
    return TEMPORARY in name or name.startswith(STAGING)


def _resolve(out: str | Path, option: str) -> Path:
    """The folder's real path, after refusing a broken link or a file on the way and the folders that hold others."""
    given = Path(out)
    absolute = Path(os.path.abspath(given))
    for ancestor in (absolute, *absolute.parents):
        if ancestor.is_symlink() and not ancestor.exists():
            raise ConfigError(option, f"{ancestor} is a broken symbolic link; give a folder")
        if ancestor.exists():
            if not ancestor.is_dir():
                where = "exists and is not a folder" if ancestor == absolute else "is a file, not a folder"
                raise ConfigError(option, f"{ancestor if ancestor != absolute else given} {where}")
            break
    path = absolute.resolve()
    cwd, home = Path.cwd().resolve(), Path.home().resolve()
    what = (
        "the root folder" if path == Path(path.anchor)
        else "your home folder" if path == home
        else "the current folder" if path == cwd
        else "a folder holding the current folder" if path in cwd.parents
        else None
    )  # fmt: skip
    if what:
        raise ConfigError(option, f"refusing to write into {given} ({what}); give a folder of its own")
    return path


def _read_marker(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((path / MARKER).read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        data = None
    ok = isinstance(data, dict) and isinstance(data.get("files"), list)
    return data if ok else {"command": "?", "files": []}  # type: ignore[return-value]


def _write_marker(path: Path, command: str, files: Collection[str]) -> None:
    text = json.dumps({"command": command, "files": sorted(files)}, indent=1) + "\n"
    with contextlib.suppress(OSError, UnicodeDecodeError):
        if (path / MARKER).read_text() == text:
            return
    atomic_write(path / MARKER, lambda tmp: tmp.write_text(text))


def _plain(patterns: Collection[str]) -> set[str]:
    return {p for p in patterns if not any(c in p for c in "*?[")}


def _legacy(entries: set[str], patterns: tuple[str, ...]) -> bool:
    """Output of an earlier relsim (no marker): every entry matches a pattern and every plain name is there."""
    matched = all(any(fnmatch.fnmatchcase(e, p) for p in patterns) for e in entries)
    return bool(patterns) and _plain(patterns) <= entries and matched


def _survey(claim: _Claim) -> tuple[set[str], set[str]]:
    """(names relsim wrote here for this command, names it did not), refusing a folder it may not write."""
    path = claim.path
    if not path.exists():
        return set(), set()
    try:
        entries = {p.name for p in path.iterdir()} - set(RESERVED)
    except OSError as error:
        raise _fail(claim, f"cannot read {claim.shown}: {error.strerror or error}") from None
    entries = {name for name in entries if not _scratch(name)}
    marker = _read_marker(path)
    if marker is None:
        owned = entries if _legacy(entries, claim.legacy) else set()
    elif marker.get("command") == claim.command:
        owned = entries & set(marker["files"])
    else:
        owned = set()
        if entries and not claim.force:
            other = marker.get("command")
            whose = f"the output of `relsim {other}`" if other != "?" else "a relsim marker it cannot read"
            raise _fail(claim, f"{claim.shown} holds {whose}; give another folder")
    unowned = entries - owned
    foreign = unowned - claim.keep
    if foreign and not claim.force:
        names = ", ".join(sorted(foreign)[:3]) + (", ..." if len(foreign) > 3 else "")
        raise _fail(
            claim,
            f"{claim.shown} holds {len(foreign)} file{'s' if len(foreign) != 1 else ''} relsim did not write "
            f"({names}); give a new or empty folder, or add --force to write beside them (they are never touched)",
        )
    clash = unowned & (claim.keep | _plain(claim.legacy))
    if clash:  # a name this command writes, taken by a file it did not write: never replaced, even with --force
        raise _fail(claim, f"{claim.shown} already holds {sorted(clash)[0]}, which relsim did not write")
    return owned, foreign


def _lock(folder: Path, claim: _Claim) -> int:
    try:
        handle = os.open(folder / LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as error:
        raise _fail(claim, f"cannot write in {claim.shown}: {error.strerror or error}") from None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = os.pread(handle, 32, 0).decode(errors="replace").strip()
        os.close(handle)
        by = f" (process {holder})" if holder.isdigit() else ""
        raise _fail(
            claim, f"{claim.shown} is being written by another relsim command{by}; wait for it or give another folder"
        ) from None
    os.ftruncate(handle, 0)
    os.pwrite(handle, f"{os.getpid()}\n".encode(), 0)
    return handle


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _clean_scratch(claim: _Claim) -> None:
    """Staging folders and temporary files of killed earlier runs (we hold the lock: none is in use)."""
    path = claim.path
    for leftover in (*path.parent.glob(f".{path.name}{STAGING}*"), *path.glob(f"{STAGING}*"), *stale_temporaries(path)):
        _remove(leftover)


def check_output(out: str | Path, command: str, **options: Any) -> None:
    """Refuse a folder :func:`output_folder` (same options) would refuse, creating nothing."""
    option = options.get("option", "--out")
    path = _resolve(out, option)
    if path not in _CLAIMS:
        keep, legacy = set(options.get("keep", ())), tuple(options.get("legacy", ()))
        _survey(_Claim(path, str(out), command, options.get("force", False), option, keep, legacy))


@contextmanager
def output_folder(
    out: str | Path,
    command: str,
    *,
    force: bool = False,
    keep: Collection[str] = (),
    legacy: tuple[str, ...] = (),
    option: str = "--out",
) -> Iterator[Path]:
    """Claim ``out`` for ``relsim command`` until the block ends: check it (before creating anything), create it,
    lock it and mark it. ``keep``: names the command writes in place (a sweep's parts, an experiment's sweep
    folders); ``legacy``: the names an earlier relsim wrote here without a marker (plain names must all be there).
    Raises :class:`ConfigError` (one line naming ``option``) for a folder it may not write. A folder created here
    and still holding nothing is removed again if the block fails."""
    path = _resolve(out, option)
    held = _CLAIMS.get(path)
    if held is not None:  # nested: the outer claim (e.g. the command line's) already checked and locked it
        if held.command != command:
            raise _fail(held, f"{held.shown} is already being written by `relsim {held.command}`")
        if not set(keep) <= held.keep:
            held.keep |= set(keep)
            _write_marker(path, command, _survey(held)[0] | held.keep)
        held.depth += 1
        try:
            yield Path(out)
        finally:
            held.depth -= 1
        return
    claim = _Claim(path, str(out), command, force, option, set(keep), legacy)
    _survey(claim)  # refuse before anything is created
    created, marked = not path.exists(), (path / MARKER).exists()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise _fail(claim, f"cannot create {claim.shown}: {error.strerror or error}") from None
    try:
        claim.lock = _lock(path, claim)
        try:
            owned, _ = _survey(claim)  # again, now that nobody else can change what is ours
            _clean_scratch(claim)
            _write_marker(path, command, owned | claim.keep)
        except OSError as error:
            raise _fail(claim, f"cannot write in {claim.shown}: {error.strerror or error}") from None
    except BaseException:
        if claim.lock >= 0:
            os.close(claim.lock)
        _undo(path, created, marked)
        raise
    _CLAIMS[path] = claim
    try:
        yield Path(out)
    except BaseException:
        _undo(path, created, marked)
        raise
    finally:
        _CLAIMS.pop(path, None)
        with contextlib.suppress(OSError):
            os.close(claim.lock)


def _undo(path: Path, created: bool, marked: bool) -> None:
    """After a failure: take back the marker and lock this claim added if nothing of relsim's was written, and the
    folder itself if this claim created it and it is empty again."""
    with contextlib.suppress(OSError):
        present = {p.name for p in path.iterdir()} - set(RESERVED)
        if not marked and not present & set((_read_marker(path) or {}).get("files", [])):
            for name in RESERVED:
                (path / name).unlink(missing_ok=True)
        if created and not any(path.iterdir()):
            path.rmdir()


# ----------------------------------------------------------------------------------------------------------------
# Publishing: a staged folder swapped in whole, or moved in beside files relsim did not write
# ----------------------------------------------------------------------------------------------------------------
@contextmanager
def staged_folder(out: str | Path, command: str, *, discard: Collection[str] = (), **options: Any) -> Iterator[Path]:
    """Claim ``out`` (:func:`output_folder`, same options) and yield an empty staging folder; when the block
    succeeds its files replace this command's earlier outputs in ``out``, and the earlier ones it no longer writes
    are removed. Files relsim did not write and ``keep`` names are never touched, except the ``keep`` names also in
    ``discard`` (work this command kept while it ran, e.g. a resumable store): they go with the earlier outputs.
    On failure ``out`` is unchanged."""
    with output_folder(out, command, **options):
        claim = _CLAIMS[_resolve(out, options.get("option", "--out"))]
        try:
            staging = Path(tempfile.mkdtemp(dir=claim.path.parent, prefix=f".{claim.path.name}{STAGING}"))
        except OSError:  # the parent is not writable: stage inside the folder (published file by file)
            staging = Path(tempfile.mkdtemp(dir=claim.path, prefix=STAGING))
        try:
            yield staging
            claim.keep -= set(discard)  # (the claim ends with this command: nothing kept needs them any more)
            _publish(claim, staging)
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def _publish(claim: _Claim, staging: Path) -> None:
    path = claim.path
    names = {p.name for p in staging.iterdir()} - set(RESERVED)
    owned, foreign = _survey(replace(claim, force=True))  # files that appeared meanwhile stay, untouched
    clash = names & (foreign | claim.keep)
    if clash:
        raise _fail(claim, f"{claim.shown} already holds {sorted(clash)[0]}, which relsim did not write; kept it")
    present = {p.name for p in path.iterdir()} - set(RESERVED)
    staging.chmod(0o755)
    if present <= owned - claim.keep and staging.parent == path.parent:
        _swap(claim, staging, names, owned)
    else:
        _merge(claim, staging, names, owned)
    fsync_folder(path.parent)


def _exchange(first: Path, second: Path) -> bool:
    """Swap two paths in one step (Linux renameat2 RENAME_EXCHANGE); False where the system cannot."""
    if sys.platform != "linux":
        return False
    try:  # AT_FDCWD = -100, RENAME_EXCHANGE = 2
        done = ctypes.CDLL(None, use_errno=True).renameat2(-100, os.fsencode(first), -100, os.fsencode(second), 2) == 0
    except (OSError, AttributeError):
        return False
    if not done and ctypes.get_errno() not in (errno.EINVAL, errno.ENOSYS, errno.EPERM):  # else: not supported
        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()), str(second))
    return done


def _swap(claim: _Claim, staging: Path, names: set[str], owned: set[str]) -> None:
    """The folder holds only this command's files: put the staged folder in its place in one step."""
    path = claim.path
    _write_marker(staging, claim.command, names | claim.keep)
    new_lock = _lock(staging, claim)  # the new folder is locked before anyone can see it
    if not _exchange(staging, path):
        old = path.parent / f".{path.name}{STAGING}old-{os.getpid()}"
        os.rename(path, old)
        os.rename(staging, path)
        os.rename(old, staging)
    os.close(claim.lock)
    claim.lock = new_lock
    for entry in staging.iterdir():  # the old folder: anything that appeared there meanwhile goes back
        if entry.name not in owned and entry.name not in RESERVED and not _scratch(entry.name):
            with contextlib.suppress(OSError):
                os.rename(entry, path / entry.name)


def _merge(claim: _Claim, staging: Path, names: set[str], owned: set[str]) -> None:
    """Other files are here too: move the staged files in one by one, then remove this command's stale ones."""
    path = claim.path
    _write_marker(path, claim.command, owned | names | claim.keep)
    for name in sorted(names):
        target = path / name
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        shutil.move(staging / name, target)
    for name in owned - names - claim.keep:
        _remove(path / name)
    _write_marker(path, claim.command, names | claim.keep)
