"""The verdict's statistics: the TOST of Kotler's level against the best, the regret of following him, P(his level is
the most profitable) over parameter draws with the Monte Carlo error apart, and the analytic reduction.

Every function works on plain arrays of profit indexed [replication, level] (nominal) or [draw, replication, level]
(draws), so each can be checked on constructed numbers (tests/test_verdict.py).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from sim.core.levels import LEVEL_NAMES


# ----------------------------------------------------------------------------------------------------------------
# The statistics on arrays
# ----------------------------------------------------------------------------------------------------------------
def best_index(means: np.ndarray) -> int:
    """The level with the highest mean profit; a tie goes to the lower (cheaper) level."""
    return int(np.argmax(means))


def relative_regret(means: np.ndarray, recommended: int) -> float:
    """Profit lost by following the recommendation, as a share of the best level's profit (0 when it is the best).

    The denominator is |best|, so the regret stays a loss (≥ 0) when every level loses money."""
    best = float(np.max(means))
    lost = best - float(means[recommended])
    if lost <= 0.0:
        return 0.0
    return lost / abs(best) if best != 0.0 else math.inf


def tost(differences: np.ndarray, margin: float, alpha: float) -> tuple[float, float, bool]:
    """Two one-sided t tests of equivalence of paired differences within ±margin at level alpha each.

    Returns the (1 − 2α) t interval of the mean difference and whether it lies inside (−margin, margin), which
    rejects both "worse by at least the margin" and "better by at least the margin". One difference (no spread)
    gives no interval and is never equivalent unless it is exactly 0 with a zero margin excluded.
    """
    from scipy import stats

    d = np.asarray(differences, dtype=float)
    mean = float(d.mean())
    if d.size < 2:
        return mean, mean, False
    half = float(stats.t.ppf(1.0 - alpha, d.size - 1) * d.std(ddof=1) / math.sqrt(d.size))
    low, high = mean - half, mean + half
    return low, high, bool(low > -margin and high < margin)


def nominal_verdict(profits: np.ndarray, recommended: int, materiality: float, alpha: float) -> dict[str, Any]:
    """Profits [replication, level] at the files' values: the best level, the regret, and the TOST of recommended −
    best (paired by replication) with margin = materiality × |best's mean|. Agrees when the recommended level is
    the best or equivalent to it."""
    means = profits.mean(axis=0)
    best = best_index(means)
    margin = materiality * abs(float(means[best]))
    low, high, equivalent = tost(profits[:, recommended] - profits[:, best], margin, alpha)
    return {
        "best": LEVEL_NAMES[best],
        "regret": relative_regret(means, recommended),
        "difference": float(means[recommended] - means[best]),
        "difference_low": low,
        "difference_high": high,
        "tost_margin": margin,
        "equivalent": equivalent or best == recommended,
        "agrees": best == recommended or equivalent,
    }


def draw_summary(means: np.ndarray, recommended: int, materiality: float) -> dict[str, Any]:
    """Profits [draw, level] (each draw's replications averaged): P(recommended is best) with its binomial error
    from the finite number of draws, the expected regret, its 90th percentile, P(regret ≤ materiality), the level
    most often best and P(best) of every level."""
    draws, levels = means.shape
    winners = np.argmax(means, axis=1)
    p_best = float(np.mean(winners == recommended))
    regrets = np.array([relative_regret(m, recommended) for m in means])
    shares = {f"p_best.{LEVEL_NAMES[i]}": float(np.mean(winners == i)) for i in range(levels)}
    return {
        "draws": draws,
        "p_recommended_best": p_best,
        "p_best_se": math.sqrt(p_best * (1.0 - p_best) / draws),
        "expected_regret": float(np.mean(regrets)),
        "regret_p90": float(np.quantile(regrets, 0.9)),
        "p_within_margin": float(np.mean(regrets <= materiality)),
        "modal_best": LEVEL_NAMES[int(np.bincount(winners, minlength=levels).argmax())],
        **shares,
    }


def draw_verdict(profits: np.ndarray, recommended: int, materiality: float) -> dict[str, Any]:
    """Profits [draw, replication, level]: :func:`draw_summary` of the draws (replications averaged), with two
    measures of Monte Carlo error kept apart from parameter uncertainty:

    - ``mc_share``: the share of the variance of (recommended − best other level) that lies between replications
      within a draw (Monte Carlo noise) rather than between draws (parameter uncertainty);
    - ``p_best_single``: P(best) judged from single replications; its distance from ``p_best`` shows how much the
      noise of one run moves the verdict.
    """
    draws, reps, _ = profits.shape
    others = np.delete(profits, recommended, axis=2).max(axis=2)
    gap = profits[:, :, recommended] - others  # [draw, replication]
    within = float(gap.var(axis=1, ddof=1).mean()) if reps > 1 else math.nan
    between = float(gap.mean(axis=1).var(ddof=1)) if draws > 1 else math.nan
    return draw_summary(profits.mean(axis=1), recommended, materiality) | {
        "p_best_single": float(np.mean(np.argmax(profits, axis=2) == recommended)),
        "mc_share": within / (within + between) if reps > 1 and within + between > 0 else math.nan,
        "mc_draws": draws,
    }


def gaps(profits: np.ndarray, recommended: int) -> np.ndarray:
    """Per draw: profit of the recommended level − the best other level (replications averaged)."""
    means = profits.mean(axis=1)
    return means[:, recommended] - np.delete(means, recommended, axis=1).max(axis=1)


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Rank correlation (average ranks for ties); NaN when either side is constant."""
    from scipy.stats import rankdata

    rx, ry = rankdata(x), rankdata(y)
    if rx.std() == 0 or ry.std() == 0:
        return math.nan
    return float(np.corrcoef(rx, ry)[0, 1])


def src(x: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """Standardised regression coefficients of ``y`` on the columns of ``x`` (ordinary least squares with an
    intercept): SRC_j = b_j · sd(x_j) / sd(y), with R² and the adjusted R² (how much of the variance the linear
    model explains; when it is low the SRCs describe little). Constant columns get NaN. Needs more rows than
    varying columns + 1, else every SRC and R² is NaN."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    n, k = x.shape
    sd = x.std(axis=0, ddof=1) if n > 1 else np.zeros(k)
    varying = sd > 0
    out = {"src": np.full(k, np.nan), "slope": np.full(k, np.nan), "r2": math.nan, "r2_adjusted": math.nan,
           "n": n, "k": int(varying.sum())}  # fmt: skip
    p = int(varying.sum())
    if n <= p + 1 or y.std() == 0:
        return out
    design = np.column_stack([np.ones(n), x[:, varying]])
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    residual = y - design @ coef
    r2 = 1.0 - float(residual @ residual) / float(((y - y.mean()) ** 2).sum())
    out["slope"][varying] = coef[1:]
    out["src"][varying] = coef[1:] * sd[varying] / y.std(ddof=1)
    out["r2"], out["r2_adjusted"] = r2, 1.0 - (1.0 - r2) * (n - 1) / (n - p - 1)
    return out


def thirds(x: np.ndarray, wins: np.ndarray) -> tuple[float, float]:
    """The share of wins among the draws in the lowest and in the highest third of ``x`` (by rank)."""
    order = np.argsort(np.asarray(x, dtype=float), kind="stable")
    third = len(order) // 3
    if third == 0:
        return math.nan, math.nan
    wins = np.asarray(wins, dtype=float)
    return float(wins[order[:third]].mean()), float(wins[order[-third:]].mean())


def flip_point(x: np.ndarray, y: np.ndarray, slope: float) -> float:
    """Where the linear fit puts the sign change of ``y`` along ``x``, the other parameters at their means:
    x̄ − ȳ / slope (least squares passes through the means). NaN for a zero or undefined slope."""
    if not math.isfinite(slope) or slope == 0.0:
        return math.nan
    return float(np.mean(x) - np.mean(y) / slope)


def beyond(x: np.ndarray, y: np.ndarray, slope: float, at: float, wins: np.ndarray) -> tuple[float, int]:
    """The empirical check of a linear flip point: P(win) among the draws on the side of ``at`` where the fit
    predicts the sign of ``y`` opposite to its mean, and how many draws lie there."""
    x, wins = np.asarray(x, dtype=float), np.asarray(wins, dtype=float)
    below = np.sign(slope) * np.sign(np.mean(y)) > 0  # the gap falls through zero towards lower x
    side = x < at if below else x > at
    return (float(wins[side].mean()) if side.any() else math.nan), int(side.sum())


# ----------------------------------------------------------------------------------------------------------------
# The analytic reduction: profit per starting customer = m·v·R_L − K_L − C_L − A·v
# ----------------------------------------------------------------------------------------------------------------
def reduction_terms(row: pd.Series | dict, level: str, customers: int, value: float) -> dict[str, float]:
    """R_L (discounted customer-years of revenue before concessions, per starting customer), K_L (concessions),
    C_L (relationship cost) per starting customer and A (acquisition spend per dollar of value), from one run's
    accounts at its margin m (gross margin = m·(revenue + concessions) − concessions)."""
    m = float(row["margin"])
    revenue = float(row[f"discounted_revenue.{level}"])
    gross = float(row[f"discounted_gross_margin.{level}"])
    conceded = (m * revenue - gross) / (1.0 - m) if m < 1.0 else 0.0
    return {
        "R": (revenue + conceded) / (customers * value),
        "K": conceded / customers,
        "C": float(row[f"discounted_relationship_cost.{level}"]) / customers,
        "A": float(row[f"discounted_acquisition_cost.{level}"]) / (customers * value),
    }


def reduced_profit(terms: dict[str, float], margin: float, value: float) -> float:
    """π_L per starting customer from the reduction's terms."""
    return margin * value * terms["R"] - terms["K"] - terms["C"] - terms["A"] * value


def profit_array(frame: pd.DataFrame, metric: str, levels: Sequence[str] = LEVEL_NAMES) -> np.ndarray:
    return frame[[f"{metric}.{level}" for level in levels]].to_numpy(dtype=float)
