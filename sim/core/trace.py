"""Per-customer records of a run, for validation and export (off by default: it costs memory and time).

With ``RelationshipModel(..., trace=True)`` the model hands each month's individual events to a
:class:`Trace`: who was served and in what state (the customer-period panel), who paid what (the
transaction log), who met a problem and how it ended, who left. Nothing here changes the simulation.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sim.core.schema import QUADRANTS

# How a problem ended, in TARP's categories (TARP 1986; issue 4).
OUTCOMES = ("silent", "complained_unresolved", "resolved", "resolved_quickly")


class Trace:
    """Collects the individual records of one run, month by month."""

    def __init__(self, level_names: tuple[str, ...]) -> None:
        self.level_names = level_names  # the levels in effect: a customer's level code indexes this
        self._panel: list[dict[str, np.ndarray]] = []
        self._problems: list[dict[str, np.ndarray]] = []
        self._departures: list[dict[str, np.ndarray]] = []
        self._contacts = np.zeros(0, np.int32)
        self._cost = np.zeros(0, np.float64)

    # --- called by the model during a month --------------------------------------------------------------
    def begin_month(self, n: int) -> None:
        self._contacts = np.zeros(n, np.int32)
        self._cost = np.zeros(n, np.float64)

    def contact(self, positions: np.ndarray, cost: np.ndarray | float) -> None:
        np.add.at(self._contacts, positions, 1)
        np.add.at(self._cost, positions, cost)

    def charge(self, positions: np.ndarray, cost: float) -> None:
        """A cost that is not a contact (the account team)."""
        np.add.at(self._cost, positions, cost)

    def problems(self, month: int, customer_id: np.ndarray, major: np.ndarray, outcome: np.ndarray) -> None:
        self._problems.append(
            {
                "customer_id": customer_id.copy(),
                "period": np.full(len(customer_id), month, np.int32),
                "major": major.copy(),
                "outcome": outcome.astype(np.int8),
            }
        )

    def snapshot(
        self,
        month: int,
        people: dict[str, np.ndarray],
        leave_probability: np.ndarray,
        quadrant: np.ndarray,
        leaving: np.ndarray,
    ) -> None:
        """The month's served customers, their state and what they cost and paid."""
        churned = np.zeros(len(leave_probability), bool)
        churned[leaving] = True
        self._panel.append(
            {
                "customer_id": people["customer_id"].copy(),
                "period": np.full(len(churned), month, np.int32),
                "level": people["level"].copy(),
                "tenure": people["tenure"].copy(),
                "satisfaction": people["satisfaction"].copy(),
                "commitment": people["commitment"].copy(),
                "loyalty": (1.0 - leave_probability) ** 12,
                "quadrant": quadrant.astype(np.int8),
                "contacts": self._contacts,
                "cost": self._cost,
                "value": people["revenue"].astype(np.float64),
                "churned": churned,
            }
        )
        self._departures.append(
            {"customer_id": people["customer_id"][leaving].copy(), "period": np.full(len(leaving), month, np.int32)}
        )

    # --- tables ------------------------------------------------------------------------------------------------
    def panel(self) -> pd.DataFrame:
        """One row per customer and period served (``active`` is 1; ``churned`` marks the last period)."""
        frame = _frame(
            self._panel,
            [
                "customer_id",
                "period",
                "level",
                "tenure",
                "satisfaction",
                "commitment",
                "loyalty",
                "quadrant",
                "contacts",
                "cost",
                "value",
                "churned",
            ],
        )
        frame.insert(2, "active", np.ones(len(frame), np.int8))
        frame["level"] = pd.Categorical.from_codes(frame["level"].astype(int), self.level_names)
        frame["quadrant"] = pd.Categorical.from_codes(frame["quadrant"].astype(int), QUADRANTS)
        return frame

    def transactions(self) -> pd.DataFrame:
        """The transaction log: each month a customer is served they pay their monthly revenue."""
        panel = _frame(self._panel, ["customer_id", "period", "value"])
        return panel[panel["value"] > 0].reset_index(drop=True)

    def problem_log(self) -> pd.DataFrame:
        frame = _frame(self._problems, ["customer_id", "period", "major", "outcome"])
        frame["outcome"] = pd.Categorical.from_codes(frame["outcome"].astype(int), OUTCOMES)
        return frame

    def departures(self) -> pd.DataFrame:
        return _frame(self._departures, ["customer_id", "period"])


def _frame(parts: list[dict[str, np.ndarray]], columns: list[str]) -> pd.DataFrame:
    if not parts:
        return pd.DataFrame({name: pd.Series(dtype=float) for name in columns})
    return pd.DataFrame({name: np.concatenate([part[name] for part in parts]) for name in columns})


def repurchase_after_problem(trace: Trace, horizon_months: int, last_period: int) -> pd.DataFrame:
    """Share of customers kept after a problem, by severity and outcome (TARP's "would buy again").

    TARP asked customers right after a problem whether they would buy again. The model's equivalent is the
    share *not lost because of the problem*: the share of customers with a problem in period p still served
    at p + horizon, divided by the same share among the customers served in period p without a problem
    (relative survival, as in epidemiology). The division removes what would have happened anyway (natural
    churn, later problems).
    ``absolute`` is the plain survival share. Only problems early enough for the horizon to be seen count.
    """
    problems = trace.problem_log()
    problems = problems[problems["period"] + horizon_months <= last_period].reset_index(drop=True)
    departures = trace.departures().set_index("customer_id")["period"]
    left_at = problems["customer_id"].map(departures)
    problems["stayed"] = (left_at.isna() | (left_at >= problems["period"] + horizon_months)).to_numpy()

    served = trace.panel()[["customer_id", "period"]]
    served = served[served["period"] + horizon_months <= last_period]
    # the comparison group: customers served that month who did not meet a problem that month
    had_problem = pd.MultiIndex.from_frame(problems[["customer_id", "period"]])
    served = served[~pd.MultiIndex.from_frame(served).isin(had_problem)]
    served_left = served["customer_id"].map(departures)
    served_stayed = served_left.isna() | (served_left >= served["period"] + horizon_months)
    baseline = served_stayed.groupby(served["period"]).mean()
    problems["expected"] = problems["period"].map(baseline).to_numpy()

    grouped = problems.groupby(["major", "outcome"], observed=False)
    table = grouped.agg(absolute=("stayed", "mean"), expected=("expected", "mean"), count=("stayed", "size"))
    table = table.reset_index()
    table["repurchase"] = table["absolute"] / table["expected"]
    table["severity"] = np.where(table["major"], "major", "minor")
    return table[["severity", "outcome", "repurchase", "absolute", "count"]]
