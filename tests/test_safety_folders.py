"""No data loss (issue 11): every command that writes a folder refuses one holding files it did not write, never
deletes them (not even with --force), replaces its own output whole, and fails with one line on a bad path."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from sim.cli import main
from sim.files import LOCK, MARKER, check_output, output_folder, staged_folder
from sim.outputs.export import FILES as EXPORT_FILES
from sim.viz.matrix import FILES as MATRIX_FILES

ROOT = Path(__file__).resolve().parents[1]
RUN = ["--set", "n_customers=200", "--set", "years=1", "--set", "seed=1"]
VALIDATION_SPEC = (
    '[settings]\nreplications = 2\n[scenarios.channel_costs]\nlevel = "reactive"\nn_customers = 300\nyears = 1\n'
    'ivr_routing_share = 0.5\n[targets.agent]\nexperiment = "channel_costs"\nmeasure = "cost_per_agent_contact"\n'
    'source = "s"\ndescription = "d"\nvalue = 5.0\ntolerance = 0.05\n'
)


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` with its content hash: what a command must leave exactly as it was."""
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def one_line_error(capsys: pytest.CaptureFixture[str], option: str) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"relsim: error: {option}: "), err
    return err[0]


def relsim(*args: str, cwd: Path = ROOT, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sim", *args], cwd=cwd, capture_output=True, text=True, timeout=120, **kwargs
    )


# ----------------------------------------------------------------------------------------------------------------
# The cases: --out ., --out ~, --out results, a thesis beside the output
# ----------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("where", ["current folder", "home folder", "results", "a folder with a thesis"])
def test_matrix_refuses_a_folder_holding_other_files_and_leaves_it_untouched(where, tmp_path, monkeypatch, capsys):
    home = tmp_path / "home"
    home.mkdir()
    (home / "thesis.docx").write_text("two years of work")
    monkeypatch.setenv("HOME", str(home))
    work = tmp_path / "work"
    work.mkdir()
    (work / "data.csv").write_text("a,b\n1,2\n")
    monkeypatch.chdir(work)
    shutil.copytree(ROOT / "results", work / "results")  # the committed results, in a copy
    out = {"current folder": ".", "home folder": str(home), "results": "results", "a folder with a thesis": str(home)}
    before = snapshot(tmp_path)
    assert main(["matrix", "--quick", "--spec", str(ROOT / "experiments" / "matrix.toml"), "--out", out[where]]) == 2
    message = one_line_error(capsys, "--out")
    assert "refusing" in message or "relsim did not write" in message
    assert snapshot(tmp_path) == before  # nothing deleted, nothing added (no marker, no lock)


@pytest.mark.parametrize("empty", ["home", "cwd"])
def test_an_empty_home_or_current_folder_is_still_refused(empty, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    assert main(["run", *RUN, "--export", str(tmp_path) if empty == "home" else "."]) == 2
    assert "refusing to write into" in one_line_error(capsys, "--export")
    assert list(tmp_path.iterdir()) == []


def test_validate_refuses_a_folder_holding_other_files(tmp_path, capsys):
    spec = tmp_path / "spec.toml"
    spec.write_text(VALIDATION_SPEC)
    out = tmp_path / "report"
    out.mkdir()
    (out / "notes.md").write_text("mine")
    assert main(["validate", "--spec", str(spec), "--config", "", "--out", str(out)]) == 2
    assert "relsim did not write (notes.md)" in one_line_error(capsys, "--out")
    assert snapshot(out) == {"notes.md": hashlib.sha256(b"mine").hexdigest()}
    # --force writes the report beside the notes, which stay as they were
    command = ["validate", "--spec", str(spec), "--config", "", "--out", str(out), "--force", "--holdout", "none"]
    assert main(command) == 0
    assert (out / "notes.md").read_text() == "mine" and (out / "REPORT.md").is_file()


# ----------------------------------------------------------------------------------------------------------------
# Bad output paths: one line, no traceback, nothing written (a real process, so a traceback would show)
# ----------------------------------------------------------------------------------------------------------------
def test_bad_output_paths_are_one_line_errors(tmp_path):
    (tmp_path / "file.txt").write_text("x")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    cases = {
        "file.txt": "exists and is not a folder",
        "file.txt/export": "is a file, not a folder",
        "dangling": "is a broken symbolic link",
        "dangling/export": "is a broken symbolic link",
    }
    for target, expected in cases.items():
        completed = relsim("run", *RUN, "--export", str(tmp_path / target))
        assert completed.returncode == 2, completed.stderr
        assert completed.stderr.count("\n") == 1 and expected in completed.stderr, completed.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dangling", "file.txt"]
    assert not (tmp_path / "nowhere").exists()


@pytest.fixture
def unwritable(tmp_path):
    """A folder this process cannot write in: read-only modes, or for root (who ignores modes) the immutable flag."""
    folder = tmp_path / "locked"
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)
        return
    if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(folder)], check=False).returncode:
        pytest.skip("running as root without chattr +i: no folder is unwritable here")
    try:
        yield folder
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=False)


def test_an_unwritable_folder_is_a_one_line_error(unwritable):
    for target, expected in ((unwritable / "export", "cannot create"), (unwritable, "cannot write in")):
        completed = relsim("run", *RUN, "--export", str(target))
        assert completed.returncode == 2, completed.stderr
        assert completed.stderr.count("\n") == 1 and expected in completed.stderr, completed.stderr
    assert list(unwritable.iterdir()) == []


# ----------------------------------------------------------------------------------------------------------------
# --force, markers, replacement, committed results
# ----------------------------------------------------------------------------------------------------------------
def test_force_writes_beside_other_files_but_never_over_them(tmp_path, capsys):
    out = tmp_path / "export"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    assert main(["run", *RUN, "--export", str(out)]) == 2
    capsys.readouterr()
    for _ in range(2):  # the second time replaces relsim's own files
        assert main(["run", *RUN, "--export", str(out), "--force"]) == 0
        assert (out / "notes.txt").read_text() == "keep me"
        assert set(EXPORT_FILES) <= {p.name for p in out.iterdir()}
    capsys.readouterr()
    other = tmp_path / "other"
    other.mkdir()
    (other / "run.json").write_text("a file of the same name that relsim did not write")
    assert main(["run", *RUN, "--export", str(other), "--force"]) == 2
    assert "run.json, which relsim did not write" in one_line_error(capsys, "--export")
    assert [p.name for p in other.iterdir()] == ["run.json"]
    assert (other / "run.json").read_text().startswith("a file of the same name")


def test_own_output_is_replaced_whole_and_files_it_no_longer_writes_are_removed(tmp_path):
    out = tmp_path / "out"
    with staged_folder(out, "demo") as staging:
        (staging / "a.csv").write_text("1")
        (staging / "b.csv").write_text("1")
    first = out.stat().st_ino
    with staged_folder(out, "demo") as staging:
        (staging / "a.csv").write_text("2")
    assert sorted(p.name for p in out.iterdir()) == sorted([MARKER, LOCK, "a.csv"])
    assert (out / "a.csv").read_text() == "2" and out.stat().st_ino != first  # a new folder, swapped in
    with pytest.raises(RuntimeError), staged_folder(out, "demo") as staging:
        (staging / "a.csv").write_text("3")
        raise RuntimeError("killed mid-write")
    assert (out / "a.csv").read_text() == "2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no staging folder left behind
    # a file that appears beside relsim's own files is kept when the output is written again with --force
    (out / "mine.txt").write_text("mine")
    with staged_folder(out, "demo", force=True) as staging:
        (staging / "a.csv").write_text("4")
    assert (out / "mine.txt").read_text() == "mine" and (out / "a.csv").read_text() == "4"


def test_a_folder_written_by_another_command_is_refused(tmp_path):
    with staged_folder(tmp_path / "out", "figures") as staging:
        (staging / "cohort_survival.png").write_bytes(b"png")
    with pytest.raises(Exception, match=r"holds the output of `relsim figures`"):
        check_output(tmp_path / "out", "matrix")


@pytest.mark.parametrize(
    ("folder", "command"),
    [
        ("results/matrix", "matrix"),
        ("results/matrix_no_referrals", "matrix"),
        ("results/figures", "figures"),
        ("results/validation", "validate"),
        ("results/phase", "phase"),
        ("results/phase/runs", "sweep"),
        ("results/sensitivity", "sensitivity"),
        ("results/sensitivity/runs-sobol", "sweep"),
    ],
)
def test_committed_results_can_be_regenerated_in_place(folder, command):
    check_output(ROOT / folder, command)  # its marker says it is relsim's own


def test_an_earlier_relsims_output_without_a_marker_is_recognised_by_its_names(tmp_path, capsys):
    out = tmp_path / "matrix"
    shutil.copytree(ROOT / "results" / "matrix", out)
    (out / MARKER).unlink()
    check_output(out, "matrix", legacy=MATRIX_FILES)  # exactly the files relsim matrix writes
    (out / "thesis.docx").write_text("mine")
    with pytest.raises(Exception, match="relsim did not write"):
        check_output(out, "matrix", legacy=MATRIX_FILES)


# ----------------------------------------------------------------------------------------------------------------
# The lock
# ----------------------------------------------------------------------------------------------------------------
def test_a_second_command_writing_the_same_folder_is_refused(tmp_path):
    out = tmp_path / "export"
    with output_folder(out, "run --export"):  # as a first `relsim run --export` would hold it
        completed = relsim("run", *RUN, "--export", str(out))
    assert completed.returncode == 2
    assert completed.stderr.strip() == (
        f"relsim: error: --export: {out} is being written by another relsim command (process {os.getpid()}); "
        "wait for it or give another folder"
    )
    assert main(["run", *RUN, "--export", str(out)]) == 0  # released when the first one ends
