"""`relsim run --export`: what is written can be read back and agrees with the run it came from."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from sim.cli import main
from sim.outputs.export import FILES, read_export

ARGS = ["--set", "n_customers=400", "--set", "years=2", "--set", "level=proactive", "--set", "seed=3"]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    folder = tmp_path_factory.mktemp("export") / "run"
    assert main(["run", "--json", "--export", str(folder), *ARGS]) == 0
    return folder


def test_every_file_is_written(exported):
    assert sorted(p.name for p in exported.iterdir() if not p.name.startswith(".")) == sorted(FILES)


def test_round_trip_agrees_with_the_run_summary(exported):
    tables = read_export(exported)
    summary = json.loads((exported / "run.json").read_text())["summary"]
    transactions, panel = tables["transactions"], tables["panel"]
    assert transactions["value"].sum() == pytest.approx(summary["revenue"], rel=1e-6)
    assert panel["cost"].sum() == pytest.approx(summary["relationship_cost"], rel=1e-9)
    customer_years = summary["relationship_cost"] / summary["cost_to_serve_per_customer"]
    assert len(panel) / 12 == pytest.approx(customer_years)
    assert len(tables["departures"]) == panel["churned"].sum()
    # the initial cohort's survival recomputed from the panel
    initial = panel[panel["customer_id"] < 400]
    still_there = (
        initial[initial["period"] == 12]["customer_id"].nunique()
        - initial[(initial["period"] == 12) & initial["churned"]]["customer_id"].nunique()
    )
    assert still_there / 400 == pytest.approx(summary["cohort_survival"][1])


def test_panel_has_the_documented_columns_and_values(exported):
    panel = read_export(exported)["panel"]
    for column in (
        "customer_id",
        "period",
        "active",
        "satisfaction",
        "loyalty",
        "quadrant",
        "level",
        "contacts",
        "cost",
    ):
        assert column in panel
    assert set(panel["quadrant"]) <= {"loyalist", "hostage", "mercenary", "defector"}
    assert set(panel["level"]) == {"proactive"}
    assert panel["loyalty"].between(0, 1).all() and (panel["cost"] >= 0).all()
    # a customer is served in consecutive months until the month they leave
    gaps = panel.sort_values(["customer_id", "period"]).groupby("customer_id")["period"].diff().dropna()
    assert (gaps == 1).all()


def test_transactions_fit_the_lifetimes_layout(exported):
    """Frequency, recency and T, computed the way lifetimes' summary_data_from_transaction_data does."""
    transactions = read_export(exported)["transactions"]
    assert pd.api.types.is_datetime64_any_dtype(transactions["date"])
    end = transactions["date"].max()
    per_customer = transactions.groupby("customer_id")["date"].agg(["min", "max", "count"])
    frequency = per_customer["count"] - 1
    recency = (per_customer["max"] - per_customer["min"]).dt.days
    age = (end - per_customer["min"]).dt.days
    assert (frequency >= 0).all() and (recency <= age).all()
    # customers who stayed throughout bought every month
    loyal = per_customer[per_customer["count"] == 24]
    assert len(loyal) > 0 and (recency[loyal.index] > 690).all()


def test_export_refuses_a_folder_with_other_files(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("keep me")
    assert main(["run", "--export", str(tmp_path), *ARGS]) == 2
    assert "--export" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_problem_outcomes_follow_the_level(exported):
    problems = read_export(exported)["problems"]
    assert set(problems["outcome"]) <= {"silent", "complained_unresolved", "resolved", "resolved_quickly"}
    assert np.isin(["silent", "resolved"], problems["outcome"]).all()
