"""Write a run's individual records as CSV, in the layout customer-lifetime-value tools read.

``relsim run --export DIR`` writes:

- ``transactions.csv``: ``customer_id, period, date, value``: one row per customer and month with a payment:
  with ``purchase_mode = "contractual"`` every month served (the monthly bill), with ``"noncontractual"`` the
  months with a purchase (what was spent). This is the transaction-log layout of lifetimes'
  ``summary_data_from_transaction_data(df, "customer_id", "date", monetary_value_col="value", freq="D")`` and of
  pymc-marketing's CLV utilities (``rfm_summary``); docs/EXPORT.md says which models suit which mode.
- ``customers.csv``: ``customer_id, acquired_period, acquisition_date, initial``: when each customer was acquired.
  The initial customers were acquired before the run (``acquired_period`` <= 0, from their tenure at the start),
  so their transaction history is left-truncated: fit purchase models to the customers with ``initial`` false.
- ``panel.csv``: ``customer_id, period, active, satisfaction, loyalty, quadrant, level, contacts, cost,
  tenure, commitment, value, churned``: one row per customer and month served; ``loyalty`` is the 12-month
  stay probability, ``cost`` the relationship cost spent on that customer that month, ``churned`` marks the
  last month.
- ``problems.csv`` (customer_id, period, major, outcome), ``departures.csv`` (customer_id, period) and
  ``run.json`` (the config and the summary): the truth a statistical model fitted to the transactions can be
  checked against.

Periods are months 1, 2, …; ``date`` is the first day of the period's month counted from January 2000.
Files are written to a staging folder and swapped into place, so a failed export leaves nothing half-written; a
folder holding files relsim did not write is refused (sim.files.output_folder).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd

from sim.core.config import Config
from sim.files import check_output, staged_folder
from sim.outputs.results import summarise

EPOCH = pd.Timestamp("2000-01-01")
FILES = ("transactions.csv", "customers.csv", "panel.csv", "problems.csv", "departures.csv", "run.json")


def period_dates(period: pd.Series) -> pd.Series:
    """Month numbers 1, 2, … as the first day of each month from January 2000."""
    months = pd.PeriodIndex.from_ordinals(EPOCH.to_period("M").ordinal + period.to_numpy() - 1, freq="M")
    return pd.Series(months.to_timestamp(), index=period.index, name="date")


def acquisitions(panel: pd.DataFrame) -> pd.DataFrame:
    """Each customer's acquisition period and date, from the first period served and the tenure then (tenure counts
    the months served including the current one, so a customer acquired in period p has tenure 1 in p)."""
    first = panel.sort_values("period").groupby("customer_id", sort=True)[["period", "tenure"]].first()
    acquired = (first["period"] - first["tenure"] + 1).astype(int)
    frame = pd.DataFrame({"customer_id": first.index, "acquired_period": acquired.to_numpy()})
    frame["acquisition_date"] = period_dates(frame["acquired_period"]).to_numpy()
    frame["initial"] = frame["acquired_period"] < 1
    return frame


COMMAND = "run --export"  # named in the folder's marker (sim.files.output_folder)


def check_target(directory: str | Path, force: bool = False) -> Path:
    """Refuse an export folder that holds files relsim did not write (unless ``force``), before anything runs."""
    check_output(directory, COMMAND, force=force, legacy=FILES, option="--export")
    return Path(directory)


def export_run(model: Any, config: Config, directory: str | Path, summary: dict[str, Any] | None = None) -> Path:
    """Write the traced run ``model`` (built with ``trace=True``) to ``directory`` (``summary``: the run's, if
    the caller has it already)."""
    if model.trace is None:
        raise ValueError("the model was not traced; build it with trace=True")
    target = Path(directory)
    trace = model.trace
    transactions = trace.transactions()
    transactions.insert(2, "date", period_dates(transactions["period"]))
    with staged_folder(target, COMMAND, legacy=FILES, option="--export") as staging:
        transactions.to_csv(staging / "transactions.csv", index=False)
        panel = trace.panel()
        acquisitions(panel).to_csv(staging / "customers.csv", index=False)
        panel.to_csv(staging / "panel.csv", index=False, float_format="%.6g")
        trace.problem_log().to_csv(staging / "problems.csv", index=False)
        trace.departures().to_csv(staging / "departures.csv", index=False)
        record = {"config": config.as_dict(), "summary": summary or summarise(model.monthly(), config)}
        (staging / "run.json").write_text(json.dumps(record, indent=2))
    return target


def read_export(directory: str | Path) -> dict[str, pd.DataFrame]:
    """The exported tables back as DataFrames (dates parsed, categories restored)."""
    path = Path(directory)
    tables = {
        "transactions": pd.read_csv(path / "transactions.csv", parse_dates=["date"]),
        "customers": pd.read_csv(path / "customers.csv", parse_dates=["acquisition_date"]),
        "panel": pd.read_csv(path / "panel.csv"),
        "problems": pd.read_csv(path / "problems.csv"),
        "departures": pd.read_csv(path / "departures.csv"),
    }
    return tables
