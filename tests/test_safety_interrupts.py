"""Interrupts (issue 11): Ctrl+C (pressed twice, as impatient people do) ends a sweep or the matrix with one line
and exit status 130, without hanging; SIGTERM and SIGKILL of the parent leave no worker running; the app's server
stops with `relsim app` even when that is killed with SIGKILL."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SPEC = f"""
[sweep]
base_config = "{ROOT / "experiments" / "calibrated.toml"}"
replications = 4
seed = 7
chunk_size = 1

[fixed]
years = 3
n_customers = 1500

[vary]
level = ["reactive", "partnership"]
problem_rate = {{ low = 0.1, high = 1.0, steps = 10 }}
"""


def live(pgid: int) -> list[int]:
    """Processes of a process group still running (zombies, already dead, are not counted)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[2]) == pgid and fields[0] != "Z":
                    found.append(int(entry.name))
    return found


def wait_for(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


@pytest.fixture
def command(tmp_path):
    """Start `python -m sim ...` in its own process group (as a terminal would), and always clean it up."""
    started: list[subprocess.Popen] = []

    def start(*args: str) -> subprocess.Popen:
        process = subprocess.Popen(
            [sys.executable, "-m", "sim", *args],
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        started.append(process)
        return process

    yield start
    for process in started:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def sweep_args(tmp_path: Path) -> list[str]:
    (tmp_path / "spec.toml").write_text(textwrap.dedent(SPEC))
    return ["sweep", "spec.toml", "--out", "out", "--workers", "2"]


def matrix_args(tmp_path: Path) -> list[str]:
    return ["matrix", "--quick", "--spec", str(ROOT / "experiments" / "matrix.toml"), "--out", "out", "--workers", "2"]


def workers(parent: int) -> list[int]:
    """Live pool workers of ``parent``: its children running the same command line (forked from it)."""

    def cmdline(pid: int | str) -> bytes:
        return Path(f"/proc/{pid}/cmdline").read_bytes()

    found = []
    with contextlib.suppress(OSError):
        own = cmdline(parent)
        for pid in live(parent):
            with contextlib.suppress(OSError):
                ppid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
                if ppid == parent and cmdline(pid) == own:
                    found.append(pid)
    return found


def busy(process: subprocess.Popen) -> bool:
    """Both pool workers are running (or the command already finished, which the caller then reports)."""
    return len(workers(process.pid)) >= 2 or process.poll() is not None


@pytest.mark.parametrize("which", ["sweep", "matrix"])
def test_two_quick_ctrl_c_end_with_one_line_and_no_hang(which, tmp_path, command):
    process = command(*(sweep_args(tmp_path) if which == "sweep" else matrix_args(tmp_path)))
    assert wait_for(lambda: busy(process), 60)
    assert process.poll() is None, "finished before it could be interrupted"
    os.killpg(process.pid, signal.SIGINT)  # Ctrl+C reaches the whole foreground group
    time.sleep(0.05)
    os.killpg(process.pid, signal.SIGINT)
    _, err = process.communicate(timeout=20)  # no hang
    assert process.returncode == 130
    bars = ("relsim sweep", "relsim matrix:")  # progress bars
    lines = [line for line in err.replace("\r", "\n").splitlines() if line.strip() and not line.startswith(bars)]
    assert lines == ["relsim: interrupted; rerun the same command to resume"], err[-3000:]
    assert wait_for(lambda: not live(process.pid), 5), f"left running: {live(process.pid)}"


@pytest.mark.parametrize(("handler", "raised"), [("_interrupt", KeyboardInterrupt), ("_terminate", "Terminated")])
def test_after_the_first_signal_further_ones_cannot_break_into_the_clean_up(handler, raised):
    """The race behind a progress bar glued to the message: a second Ctrl+C landing while the bar closes (or the
    workers stop) raised again inside that clean-up. From the first signal on, SIGINT and SIGTERM are ignored."""
    from sim import cli

    expected = getattr(cli, raised) if isinstance(raised, str) else raised
    previous = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        signal.signal(signal.SIGINT, cli._interrupt)
        signal.signal(signal.SIGTERM, cli._terminate)
        with pytest.raises(expected):
            getattr(cli, handler)(signal.SIGINT, None)
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
        os.kill(os.getpid(), signal.SIGINT)  # ignored: nothing is raised
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.05)
    finally:
        for signum, previous_handler in previous.items():
            signal.signal(signum, previous_handler)


@pytest.mark.parametrize(
    ("which", "signum"), [("sweep", signal.SIGTERM), ("matrix", signal.SIGTERM), ("matrix", signal.SIGKILL)]
)
def test_no_worker_outlives_its_parent(which, signum, tmp_path, command):
    process = command(*(sweep_args(tmp_path) if which == "sweep" else matrix_args(tmp_path)))
    assert wait_for(lambda: busy(process), 60)
    assert process.poll() is None  # the parent and its workers are busy
    os.kill(process.pid, signum)  # the parent only
    process.wait(timeout=20)
    assert wait_for(lambda: not live(process.pid), 10), f"orphaned workers: {live(process.pid)}"


def test_the_app_server_stops_when_relsim_app_is_killed(tmp_path):
    """`relsim app` with a stand-in server (a sleeping process that writes its pid); SIGKILL the command."""
    pid_file = tmp_path / "server.pid"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    stand_in = f"import os, time; open({str(pid_file)!r}, 'w').write(str(os.getpid())); time.sleep(120)"
    program = (
        "import sys; from sim.viz import server; server.missing_modules = lambda: []; "
        f"server.server_command = lambda *_: [sys.executable, '-c', {stand_in!r}]; "
        f"from sim.cli import main; sys.exit(main(['app', '--port', '{port}']))"
    )
    app = subprocess.Popen([sys.executable, "-c", program], cwd=ROOT, stdout=subprocess.DEVNULL)
    try:
        assert wait_for(lambda: pid_file.is_file() and pid_file.read_text().isdigit(), 60)
        server = int(pid_file.read_text())
        app.kill()
        app.wait(timeout=10)

        def gone() -> bool:
            try:
                state = Path(f"/proc/{server}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                return True
            return state == "Z"

        assert wait_for(gone, 10), "the app server outlived `relsim app`"
    finally:
        with contextlib.suppress(ProcessLookupError):
            app.kill()
        if pid_file.is_file() and pid_file.read_text().isdigit():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid_file.read_text()), signal.SIGKILL)


def test_an_interrupted_matrix_resumes_when_the_same_command_is_run_again(tmp_path, monkeypatch, capsys):
    """The message's promise holds for the matrix: its store in OUT/runs/ belongs to the matrix's folder (marked,
    locked), so the same command continues it; once the results are in, the store is gone from folder and marker."""
    import json

    from sim.cli import main
    from sim.engine import evaluators
    from sim.files import MARKER
    from sim.viz.matrix import FILES, STORE

    class StopAfter(evaluators.SequentialEvaluator):
        def evaluate(self, function, items):
            for count, pair in enumerate(super().evaluate(function, items)):
                if count == 3:
                    raise KeyboardInterrupt  # as Ctrl+C would, after three chunks are stored
                yield pair

    out = tmp_path / "matrix"
    args = ["matrix", "--quick", "--replications", "2", "--spec", str(ROOT / "experiments" / "matrix.toml")]
    args += ["--out", str(out), "--workers", "1"]
    real = evaluators.make_evaluator
    monkeypatch.setattr(evaluators, "make_evaluator", lambda *_, **__: StopAfter())
    assert main(args) == 130
    assert capsys.readouterr().err.splitlines()[-1] == "relsim: interrupted; rerun the same command to resume"
    assert len(list((out / STORE / "parts").glob("*.parquet"))) == 3
    assert STORE in json.loads((out / MARKER).read_text())["files"]  # the store is the matrix's own
    monkeypatch.setattr(evaluators, "make_evaluator", real)
    assert main(args) == 0
    assert "runs from an earlier start" in capsys.readouterr().out
    assert not (out / STORE).exists()
    assert json.loads((out / MARKER).read_text())["files"] == sorted(FILES)
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == sorted(FILES)


def test_an_interrupted_verdict_resumes_with_the_same_results(tmp_path, monkeypatch, capsys):
    """The verdict keeps its sweeps in OUT/runs/ (one store each) while it runs: interrupted in its second sweep, the
    same command continues, and its tables and figures are those of an uninterrupted run in memory."""
    import json

    from sim.cli import main
    from sim.engine import api, evaluators
    from sim.engine.plan import plan
    from sim.experiments import verdict as experiment
    from sim.experiments.verdict.plan import sweeps
    from sim.files import MARKER
    from sim.viz.verdict import FILES, STORE, write_results

    yielded = []

    class StopLater(evaluators.SequentialEvaluator):
        def evaluate(self, function, items):
            for pair in super().evaluate(function, items):
                if len(yielded) == len(first_sweep) + 2:
                    raise KeyboardInterrupt  # as Ctrl+C would, two chunks into the second sweep
                yielded.append(pair)
                yield pair

    spec_path = ROOT / "experiments" / "verdict.toml"
    spec = experiment.load_spec(spec_path).quick_spec()
    first_sweep = plan(api.as_spec(next(iter(sweeps(spec).values())))).chunks
    out = tmp_path / "verdict"
    args = ["verdict", "--quick", "--spec", str(spec_path), "--out", str(out), "--workers", "1"]
    real = evaluators.make_evaluator
    monkeypatch.setattr(evaluators, "make_evaluator", lambda *_, **__: StopLater())
    assert main(args) == 130
    assert capsys.readouterr().err.splitlines()[-1] == "relsim: interrupted; rerun the same command to resume"
    stores = sorted(path.name for path in (out / STORE).iterdir())
    assert len(stores) == 2 and STORE in json.loads((out / MARKER).read_text())["files"]
    monkeypatch.setattr(evaluators, "make_evaluator", real)
    assert main([*args[:-1], "2"]) == 0
    assert not (out / STORE).exists()
    assert sorted(json.loads((out / MARKER).read_text())["files"]) == sorted(FILES)
    reference = tmp_path / "reference"
    write_results(reference, experiment.run_verdict(spec, workers=2))
    for name in FILES:
        if name.endswith((".csv", ".png")):
            assert (out / name).read_bytes() == (reference / name).read_bytes(), name


def test_a_command_without_a_store_does_not_promise_to_resume(tmp_path, monkeypatch, capsys):
    """relsim validate keeps no store of finished runs: interrupted, it says a rerun starts over (the sweep, phase
    map, sensitivity analysis, matrix and verdict, which do keep one, say it resumes), and leaves no output."""
    from sim import cli
    from sim.engine import evaluators

    class StopAtOnce(evaluators.SequentialEvaluator):
        def evaluate(self, function, items):
            raise KeyboardInterrupt  # as Ctrl+C would, before the first result
            yield

    monkeypatch.setattr(evaluators, "make_evaluator", lambda *_, **__: StopAtOnce())
    out = tmp_path / "validation"
    assert cli.main(["validate", "--holdout", "none", "--out", str(out), "--workers", "1"]) == 130
    assert capsys.readouterr().err.splitlines()[-1] == "relsim: interrupted; rerunning starts over"
    assert not any(path.name.endswith((".csv", ".md", ".png")) for path in tmp_path.rglob("*"))
    assert set(cli.COMMANDS) >= cli.RESUMABLE, "a resumable command that does not exist"
