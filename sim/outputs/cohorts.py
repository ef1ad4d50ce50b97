"""Cohort retention and the shifted-beta-geometric model (Fader & Hardie 2007), to check sorting by heterogeneity:
when customers differ in their propensity to leave, the survivors of a cohort are the more loyal, so the cohort's
retention rises with tenure.

sBG: each customer leaves in a period with probability θ, constant over time; θ ~ Beta(α, β) across customers.
Survival S(t) = B(α, β + t) / B(α, β); retention r_t = S(t) / S(t - 1) = (β + t - 1) / (α + β + t - 1) rises with t
unless the beta is degenerate. Polarisation 1 / (α + β + 1) in (0, 1) measures heterogeneity (0: everyone alike).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import betaln


def initial_cohort_survival(monthly: pd.DataFrame, n_customers: int) -> np.ndarray:
    """Share of the initial customers still served at the end of each full year (a run's ``monthly()`` frame)."""
    active = monthly["initial_cohort_active"].to_numpy(dtype=float)
    years = len(active) // 12
    return active[11 : 12 * years : 12] / n_customers


def sbg_survival(alpha: float, beta: float, periods: int) -> np.ndarray:
    t = np.arange(1, periods + 1)
    return np.exp(betaln(alpha, beta + t) - betaln(alpha, beta))


def fit_sbg(survival: np.ndarray, cohort_size: int) -> dict[str, float]:
    """Maximum-likelihood sBG fit to a cohort's survival shares at the end of periods 1..T (censored after T)."""
    survival = np.asarray(survival, float)
    alive = np.concatenate([[1.0], survival]) * cohort_size
    lost = -np.diff(alive)

    def negative_log_likelihood(log_params: np.ndarray) -> float:
        alpha, beta = np.exp(log_params)
        model = np.concatenate([[1.0], sbg_survival(alpha, beta, len(survival))])
        churn = np.maximum(-np.diff(model), 1e-300)
        return -float(np.sum(lost * np.log(churn)) + alive[-1] * np.log(max(model[-1], 1e-300)))

    result = minimize(
        negative_log_likelihood,
        x0=np.log([1.0, 3.0]),
        method="Nelder-Mead",
        options={"xatol": 1e-8, "fatol": 1e-10, "maxiter": 4000},
    )
    alpha, beta = np.exp(result.x)
    return {
        "alpha": float(alpha),
        "beta": float(beta),
        "polarisation": float(1.0 / (alpha + beta + 1.0)),
        "mean_churn": float(alpha / (alpha + beta)),
    }
