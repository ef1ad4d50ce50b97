"""Buying by purchase mode (docs/MODEL.md 7.13.4, docs/EXPORT.md): contractual billing versus non-contractual
purchasing with rate heterogeneity and latent attrition, as the export shows them to customer-base models."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sim.cli import main
from sim.outputs.export import read_export

MODES = {
    "contractual": [],
    "noncontractual": [
        "--set",
        "purchase_mode=noncontractual",
        "--set",
        "purchase_rate=3",
        "--set",
        "purchase_rate_dispersion=4",
    ],
}
ARGS = ["--set", "n_customers=3000", "--set", "years=3", "--set", "level=reactive", "--set", "seed=5"]


@pytest.fixture(scope="module", params=list(MODES))
def exported(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp("buying") / request.param
    assert main(["run", "--json", "--export", str(folder), *ARGS, *MODES[request.param]]) == 0
    return request.param, read_export(folder)


def _summary(transactions: pd.DataFrame, customers: pd.DataFrame) -> pd.DataFrame:
    """Frequency (repeat months with a purchase), recency and age in months, for customers acquired in the run."""
    new = customers.loc[~customers["initial"], "customer_id"]
    rows = transactions[transactions["customer_id"].isin(new)]
    end = transactions["period"].max()
    grouped = rows.groupby("customer_id")["period"]
    return pd.DataFrame(
        {"frequency": grouped.nunique() - 1, "recency": grouped.max() - grouped.min(), "T": end - grouped.min()}
    )


def test_customers_file_dates_every_acquisition(exported):
    _, tables = exported
    customers, panel = tables["customers"], tables["panel"]
    assert set(customers["customer_id"]) == set(panel["customer_id"])
    first = panel.groupby("customer_id")["period"].min()
    acquired = customers.set_index("customer_id")["acquired_period"]
    initial = customers.set_index("customer_id")["initial"]
    # the initial customers came 12 to 60 months before the run; the others in their first month served
    assert (acquired[initial] <= -10).all() and (acquired[initial] >= -58).all()
    assert (acquired[~initial] == first[~initial]).all()
    assert (customers["acquisition_date"].dt.day == 1).all()


def test_transaction_logs_differ_by_mode(exported):
    mode, tables = exported
    summary = _summary(tables["transactions"], tables["customers"])
    repeat = summary[summary["recency"] > 0]
    every_month = (repeat["frequency"] == repeat["recency"]).mean()
    if mode == "contractual":  # a billing log: one payment every month until the customer leaves
        assert every_month == 1.0
    else:  # purchases at heterogeneous Poisson rates: gaps vary and many buy only once
        assert every_month < 0.2
        assert (summary["frequency"] == 0).mean() > 0.2
        per_year = tables["transactions"].groupby("customer_id").size() / 3
        assert per_year.var() > per_year.mean()  # over-dispersed across customers (gamma-Poisson)


def test_lifetimes_reads_the_exported_transactions(exported):
    lifetimes = pytest.importorskip("lifetimes")
    _, tables = exported
    transactions, customers = tables["transactions"], tables["customers"]
    new = transactions[transactions["customer_id"].isin(customers.loc[~customers["initial"], "customer_id"])]
    summary = lifetimes.utils.summary_data_from_transaction_data(
        new, "customer_id", "date", monetary_value_col="value", freq="D"
    )
    ours = _summary(transactions, customers)
    assert len(summary) == len(ours)
    assert np.array_equal(summary["frequency"].sort_index().to_numpy(), ours["frequency"].sort_index().to_numpy())
    assert (summary["recency"] <= summary["T"]).all() and (summary["monetary_value"] >= 0).all()


def test_pymc_marketing_reads_the_exported_transactions(exported):
    """pymc-marketing (in the `test` extra) summarises the log as docs/EXPORT.md says: one customer per row, its
    frequency the months with a repeat purchase, its monetary value the mean repeat spend."""
    utils = pytest.importorskip("pymc_marketing.clv.utils")
    _, tables = exported
    transactions, customers = tables["transactions"], tables["customers"]
    new = transactions[transactions["customer_id"].isin(customers.loc[~customers["initial"], "customer_id"])]
    summary = utils.rfm_summary(new, "customer_id", "date", monetary_value_col="value", time_unit="D")
    summary = summary.set_index("customer_id").sort_index()
    ours = _summary(transactions, customers).sort_index()
    assert summary.index.equals(ours.index)
    assert np.array_equal(summary["frequency"].to_numpy(), ours["frequency"].to_numpy())
    assert (summary["recency"] <= summary["T"]).all()
    ordered = new.sort_values(["customer_id", "period"])
    repeats = ordered[ordered.duplicated("customer_id")].groupby("customer_id")["value"].mean()
    expected = repeats.reindex(summary.index, fill_value=0.0)
    np.testing.assert_allclose(summary["monetary_value"].to_numpy(), expected.to_numpy(), rtol=1e-6)
