"""The customer rules as pure vectorised functions (no state of their own, no random numbers).

Each function updates arrays in place or writes into a caller's buffer, so the model's step allocates almost
nothing per customer. docs/MODEL.md, section 7, states each rule and its source.
"""

from __future__ import annotations

import numpy as np


def update_satisfaction(
    satisfaction: np.ndarray,
    expectation: np.ndarray,
    perceived_value: np.ndarray,
    smoothing: float,
    adaptation: float,
    buffer: np.ndarray,
) -> None:
    """Expectation-disconfirmation with adaptive expectations (Oliver 1980).

    disconfirmation = perceived value - expectation;
    satisfaction <- (1 - smoothing) * satisfaction + smoothing * disconfirmation  (cumulative satisfaction);
    expectation  <- expectation + adaptation * disconfirmation                      (adaptation level).
    """
    np.subtract(perceived_value, expectation, out=buffer)
    buffer *= smoothing  # in place throughout: no temporary arrays on the hot path
    satisfaction *= 1.0 - smoothing
    satisfaction += buffer
    buffer *= adaptation / smoothing
    expectation += buffer


def update_commitment(
    commitment: np.ndarray, satisfaction: np.ndarray, gain: float, loss: float, buffer: np.ndarray, spare: np.ndarray
) -> None:
    """Attitudinal loyalty grows with satisfaction towards 1 and falls with dissatisfaction towards 0.

    commitment += gain * s * (1 - commitment)  if s > 0
    commitment += loss * s * commitment        if s <= 0   (loss > gain: bad experiences weigh more)

    Written branch-free as gain * s+ + commitment * (loss * s- - gain * s+), with s+ = max(s, 0) and
    s- = min(s, 0): selecting by a random mask (np.where) is several times slower than arithmetic here.
    The result is clipped to [0, 1] because a very large |s| would overshoot.
    """
    positive = np.maximum(satisfaction, 0.0, out=buffer)
    negative = np.minimum(satisfaction, 0.0, out=spare)
    positive *= gain
    negative *= loss
    negative -= positive
    negative *= commitment
    commitment += positive
    commitment += negative
    np.clip(commitment, 0.0, 1.0, out=commitment)


def leave_probability(
    satisfaction: np.ndarray,
    commitment: np.ndarray,
    switching_cost: np.ndarray,
    social_bond: np.ndarray,
    price_sensitivity: np.ndarray,
    *,
    attraction: float | np.ndarray,
    natural_churn_monthly: float,
    intercept: float,
    satisfaction_effect: float,
    commitment_effect: float,
    switching_cost_effect: float,
    price_effect: float,
    out: np.ndarray,
    spare: np.ndarray | None = None,
) -> np.ndarray:
    """Monthly probability of leaving (behavioural loyalty is one minus it).

    p = natural + (1 - natural) * attraction * logistic(x),
    x = intercept + price_effect * attraction * price_sensitivity - satisfaction_effect * satisfaction
        - commitment_effect * commitment - switching_cost_effect * (switching_cost + social_bond).
    With no outside option (attraction 0, a monopoly) only natural churn remains: dissatisfied customers stay
    as hostages. ``spare`` is a work buffer of the same length (allocated if not given). ``attraction`` is one
    number, or one per row of a batch of runs (shape (runs, 1), sim/core/batch.py); the products it enters are
    rounded to float32 first, as a Python number next to a float32 array is, so both give the same numbers.
    """
    if spare is None:
        spare = np.empty_like(out)
    attraction = np.asarray(attraction, dtype=float)
    if attraction.ndim == 0 and attraction <= 0.0:
        out.fill(natural_churn_monthly)
        return out
    # Build -x in place (no temporaries): logistic(x) = 1 / (1 + exp(-x)).
    np.add(switching_cost, social_bond, out=out)
    out *= switching_cost_effect
    spare = np.multiply(satisfaction, satisfaction_effect, out=spare)
    out += spare
    np.multiply(commitment, commitment_effect, out=spare)
    out += spare
    np.multiply(price_sensitivity, (price_effect * attraction).astype(np.float32), out=spare)
    out -= spare
    out -= intercept
    with np.errstate(over="ignore"):  # exp overflows to inf for very loyal customers: probability 0, as it should
        np.exp(out, out=out)
    out += 1.0
    np.reciprocal(out, out=out)
    out *= ((1.0 - natural_churn_monthly) * attraction).astype(np.float32)
    out += natural_churn_monthly
    if attraction.ndim:  # the runs of a batch under a monopoly: natural churn only
        np.copyto(out, np.float32(natural_churn_monthly), where=attraction <= 0.0)
    return out


def monthly_probability(per_year: float) -> float:
    """The monthly probability that compounds to ``per_year`` over twelve months."""
    return 1.0 - (1.0 - per_year) ** (1.0 / 12.0)


def loyalty_hazard_limit(loyalty_threshold: float) -> float:
    """The monthly leave probability at which the 12-month stay probability equals the threshold."""
    return 1.0 - loyalty_threshold ** (1.0 / 12.0)


def spread_word(aware: float, mentions: float, prospects: float, forgetting: float) -> float:
    """Share of prospects who currently remember a story, after this month's mentions.

    Each mention reaches a random prospect; a share ``forgetting`` of those who remember forgets each month.
    """
    reached = 1.0 - np.exp(-mentions / prospects) if prospects > 0 else 0.0
    return float(aware * (1.0 - forgetting) + (1.0 - aware * (1.0 - forgetting)) * reached)
