"""Every TOML input is read the same way (issue 11): a file that is not UTF-8, nests too deeply, is a folder, a
broken link, too large or endless (/dev/zero) ends the command with one line naming the option, never a traceback."""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

import pytest

from sim.cli import main
from sim.files import MAX_TOML_BYTES

ROOT = Path(__file__).resolve().parents[1]

# Every command that reads a TOML file, and the option (or spec key) its errors name.
READERS = {
    "run --config": (lambda f, out: ["run", "--config", f], "--config"),
    "sweep SPEC": (lambda f, out: ["sweep", f, "--out", out], "SPEC"),
    "phase SPEC": (lambda f, out: ["phase", f, "--out", out], "SPEC"),
    "sensitivity SPEC": (lambda f, out: ["sensitivity", f, "--out", out], "SPEC"),
    "matrix --spec": (lambda f, out: ["matrix", "--spec", f, "--out", out], "--spec"),
    "validate --spec": (lambda f, out: ["validate", "--spec", f, "--out", out], "--spec"),
}


def bad_file(kind: str, folder: Path) -> Path:
    path = folder / f"{kind}.toml"
    if kind == "not UTF-8":
        path.write_bytes(b'level = "r\xe9active"\n')  # Latin-1, as an old editor saves it
    elif kind == "nested too deeply":
        path.write_text("a = " + "[" * 100_000 + "]" * 100_000 + "\n")
    elif kind == "too large":
        path.write_text("# padding\n" * (MAX_TOML_BYTES // 10 + 1))
    elif kind == "a folder":
        path.mkdir()
    elif kind == "a broken link":
        path.symlink_to(folder / "gone.toml")
    return path


MESSAGES = {
    "not UTF-8": "is not UTF-8 text",
    "nested too deeply": "nests tables or arrays too deeply",
    "too large": "is larger than",
    "a folder": "is a folder",
    "a broken link": "is a broken symbolic link",
}


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize("kind", MESSAGES)
def test_a_bad_toml_file_is_one_line_naming_the_option(reader, kind, tmp_path, capsys):
    argv, option = READERS[reader]
    path = bad_file(kind, tmp_path)
    out = tmp_path / "out"
    assert main(argv(str(path), str(out))) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"relsim: error: {option}: "), err
    found_first = reader == "matrix --spec" and kind in ("a folder", "a broken link")  # its own is_file() check
    assert ("file not found" if found_first else MESSAGES[kind]) in err[0]
    assert not out.exists()


def _limited() -> None:
    """The child may not use more than 3 GB: reading /dev/zero without a cap would fail rather than fill memory."""
    resource.setrlimit(resource.RLIMIT_AS, (3 * 2**30, 3 * 2**30))


@pytest.mark.parametrize("args", [["run", "--config", "/dev/zero"], ["sweep", "/dev/zero", "--out", "never"]])
def test_an_endless_config_file_is_refused_at_once(args, tmp_path):
    completed = subprocess.run(
        [sys.executable, "-m", "sim", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=_limited,
    )
    assert completed.returncode == 2
    assert completed.stderr.count("\n") == 1 and "/dev/zero is larger than" in completed.stderr, completed.stderr
    assert list(tmp_path.iterdir()) == []
