"""The command line as a user meets it: summaries, and one clear line for every bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from sim.cli import main
from sim.core.levels import LEVEL_NAMES

SMALL = ["--set", "n_customers=300", "--set", "years=2"]


@pytest.mark.parametrize("level", LEVEL_NAMES)
def test_run_json_gives_a_summary_for_every_level(level, capsys):
    assert main(["run", "--json", "--set", f"level={level}", *SMALL]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["level"] == level
    assert set(summary["quadrant_shares"]) == {"loyalist", "hostage", "mercenary", "defector"}
    assert len(summary["yearly"]) == 2


def test_run_prints_a_readable_summary(capsys):
    assert main(["run", *SMALL]) == 0
    out = capsys.readouterr().out
    assert "retention (mean annual)" in out and "cost to serve" in out and "profit" in out


def test_config_file_and_override(tmp_path, capsys):
    path = tmp_path / "cell.toml"
    path.write_text('level = "partnership"\nn_customers = 200\nyears = 1\n')
    assert main(["run", "--json", "--config", str(path), "--set", "level=basic"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["level"], summary["n_customers"], summary["years"]) == ("basic", 200, 1)


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["--set", "level=gold"], "level"),
        (["--set", "margin=1.5"], "margin"),
        (["--set", "n_customers=-3"], "n_customers"),
        (["--set", "years=two"], "years"),
        (["--set", "colour=blue"], "colour"),
        (["--set", "margin"], "margin"),
        (["--config", "/no/such/file.toml"], "--config"),
    ],
)
def test_bad_input_is_one_line_naming_the_field(args, field, capsys):
    assert main(["run", *args]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"relsim: error: {field}")


def test_fields_lists_every_config_field(capsys):
    assert main(["fields", "--json"]) == 0
    names = {record["name"] for record in json.loads(capsys.readouterr().out)}
    assert {"level", "n_customers", "competition", "competitor_entry_year", "agent_contact_cost"} <= names


def test_installed_command_reports_errors_without_a_traceback():
    completed = subprocess.run(
        [sys.executable, "-m", "sim", "run", "--set", "level=gold"], capture_output=True, text=True, check=False
    )
    assert completed.returncode == 2
    assert "Traceback" not in completed.stderr
    assert completed.stderr.strip() == (
        "relsim: error: level: must be one of basic, reactive, accountable, proactive, partnership; got 'gold'"
    )
    unknown_flag = subprocess.run(
        [sys.executable, "-m", "sim", "run", "--bogus"], capture_output=True, text=True, check=False
    )
    assert unknown_flag.returncode == 2 and "Traceback" not in unknown_flag.stderr
    assert len(unknown_flag.stderr.strip().splitlines()) == 1
    help_text = subprocess.run([sys.executable, "-m", "sim", "--help"], capture_output=True, text=True, check=True)
    assert "run" in help_text.stdout
