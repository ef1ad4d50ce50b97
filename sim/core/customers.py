"""Realistic customers (issue 13; docs/MODEL.md 7.13): unobserved heterogeneity in the propensity to leave,
noisy experience and anchored satisfaction, tenure effects with slopes that differ across customers, and buying
by purchase mode.

Every mechanism is off by default. :class:`Behaviour` tells the model which are on; the traits they need are
extra population fields that exist only then, drawn from the mechanism's own random stream (sim/core/rng.py), so
the model with every mechanism off keeps its draws, its speed and its memory.
"""

from __future__ import annotations

import numpy as np

from sim.core.config import Config

F32 = np.dtype(np.float32)


def switched_on(config: Config) -> dict[str, bool]:
    """Which of this module's mechanisms the config switches on."""
    return {
        "propensity": config.churn_propensity_dispersion > 0,
        "experience": config.experience_noise_sd > 0 or config.satisfaction_anchoring_months > 0,
        "spend": config.tenure_spend_slope_mean != 0 or config.tenure_spend_slope_sd > 0,
        "cost": config.tenure_cost_slope_mean != 0 or config.tenure_cost_slope_sd > 0,
        "referral": config.tenure_referral_slope_mean != 0 or config.tenure_referral_slope_sd > 0,
        "price": config.tenure_price_sensitivity_slope_mean != 0 or config.tenure_price_sensitivity_slope_sd > 0,
        "noncontractual": config.purchase_mode == "noncontractual",
    }


# The field that switches each mechanism on (for messages that name the input).
SWITCH = {
    "propensity": "churn_propensity_dispersion",
    "experience": "experience_noise_sd",
    "spend": "tenure_spend_slope_mean",
    "cost": "tenure_cost_slope_mean",
    "referral": "tenure_referral_slope_mean",
    "price": "tenure_price_sensitivity_slope_mean",
    "noncontractual": "purchase_mode",
    "network": "network_mean_degree",
    "stories": "satisfied_story_rate",
    "recovery": "recovery_overshoot",
}


def mechanisms_on(config: Config) -> list[str]:
    """The names of every issue-13 mechanism the config switches on (this module's, the network's and the
    recovery overshoot); empty for the model of before issue 13. SWITCH names the field behind each."""
    on = [name for name, active in switched_on(config).items() if active]
    if config.network_mean_degree > 0:
        on.append("network")
    if config.satisfied_story_rate > 0 or config.dissatisfied_story_rate > 0:
        on.append("stories")
    if config.recovery_overshoot > 0:
        on.append("recovery")
    return on


def gamma_multiplier(rng: np.random.Generator, variance: float, count: int) -> np.ndarray:
    """Mean-1 gamma draws with the given variance (shape 1/variance): the usual mixing distribution for rates."""
    if variance <= 0:
        return np.ones(count)
    return rng.gamma(1.0 / variance, variance, count)


def scale_voluntary(
    hazard: np.ndarray, natural: float, spare: np.ndarray, factor: np.ndarray | None, odds: np.ndarray | None
) -> None:
    """Rescale the voluntary part v = A·logistic(x) of the leave probability in place (natural churn untouched).

    ``factor`` multiplies v (a customer's propensity, capped so that v stays at most 1); ``odds`` multiplies the
    odds v / (1 - v) (contagion, as a relative hazard of a discrete-time hazard model).
    """
    voluntary = np.subtract(hazard, natural, out=spare)
    voluntary *= 1.0 / (1.0 - natural)
    if factor is not None:
        voluntary *= factor
        np.minimum(voluntary, 1.0, out=voluntary)
    if odds is not None:  # v' = m v / (1 - v + m v)
        np.multiply(voluntary, odds, out=hazard)
        voluntary *= -1.0
        voluntary += 1.0
        voluntary += hazard
        np.divide(hazard, voluntary, out=voluntary, where=voluntary > 0)
    np.multiply(voluntary, 1.0 - natural, out=hazard)
    hazard += natural


class Behaviour:
    """The customer mechanisms a config switches on, with their random streams."""

    def __init__(self, config: Config, streams: dict[str, np.random.Generator]) -> None:
        self.config = config
        self.streams = streams
        self.on = switched_on(config)
        self.tenure_effects = any(self.on[name] for name in ("spend", "cost", "referral", "price"))
        self.purchases = np.zeros(0, np.int32)  # this month's purchases (noncontractual), for the trace

    def fields(self) -> dict[str, np.dtype]:
        """The extra per-customer fields the mechanisms that are on need (none when all are off)."""
        on = self.on
        wanted = {
            "churn_propensity": on["propensity"],  # multiplier on the voluntary-leave probability
            "spend_growth": on["spend"],  # monthly factor on spend, exp(slope / 12)
            "cost_slope": on["cost"],  # log cost to serve per month of tenure
            "referral_slope": on["referral"],  # log referral rate per month of tenure
            "price_slope": on["price"],  # price sensitivity per month of tenure
            "purchase_rate": on["noncontractual"],  # expected purchases per month
        }
        return {name: F32 for name, needed in wanted.items() if needed}

    def traits(self, base: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Draw the extra traits of the customers in ``base`` (new_customers' fields) and apply the tenure
        effects the initial customers have already accumulated. Changes ``base`` in place."""
        config, on = self.config, self.on
        count = len(base["value"])
        extra: dict[str, np.ndarray] = {}
        if on["propensity"]:
            extra["churn_propensity"] = gamma_multiplier(
                self.streams["propensity"], config.churn_propensity_dispersion, count
            )
        if self.tenure_effects:
            # Four draws per customer whichever slopes are on, so that switching one on moves no other.
            z = self.streams["tenure"].standard_normal((4, count))
            years = base["tenure"] / 12.0
            if on["spend"]:
                slope = config.tenure_spend_slope_mean + config.tenure_spend_slope_sd * z[0]
                extra["spend_growth"] = np.exp(slope / 12.0)
                base["revenue"] = base["revenue"] * np.exp(slope * years)
            if on["cost"]:
                extra["cost_slope"] = (config.tenure_cost_slope_mean + config.tenure_cost_slope_sd * z[1]) / 12.0
            if on["referral"]:
                slope = config.tenure_referral_slope_mean + config.tenure_referral_slope_sd * z[2]
                extra["referral_slope"] = slope / 12.0
            if on["price"]:
                slope = config.tenure_price_sensitivity_slope_mean + config.tenure_price_sensitivity_slope_sd * z[3]
                extra["price_slope"] = slope / 12.0
                base["price_sensitivity"] = np.clip(base["price_sensitivity"] + slope * years, 0.0, 1.0)
        if on["noncontractual"]:
            multiplier = gamma_multiplier(self.streams["purchase_rate"], config.purchase_rate_dispersion, count)
            extra["purchase_rate"] = config.purchase_rate / 12.0 * multiplier
        return extra

    # --- called by the model's step -------------------------------------------------------------------------
    def experience(self, people: dict[str, np.ndarray], work: np.ndarray) -> None:
        """Expectation-disconfirmation (as dynamics.update_satisfaction) with a noisy monthly experience and a
        weight of new experience that falls with tenure (Bolton 1998: tenured customers weigh prior satisfaction
        more)."""
        config = self.config
        satisfaction, expectation = people["satisfaction"], people["expectation"]
        perceived = people["base_value"]
        if config.experience_noise_sd > 0:
            noise = self.streams["experience"].standard_normal(len(perceived), dtype=np.float32)
            perceived = perceived + noise * np.float32(config.experience_noise_sd)
        np.subtract(perceived, expectation, out=work)  # this month's disconfirmation
        smoothing: float | np.ndarray = config.satisfaction_smoothing
        if config.satisfaction_anchoring_months > 0:
            smoothing = config.satisfaction_smoothing / (1.0 + people["tenure"] / config.satisfaction_anchoring_months)
            smoothing = smoothing.astype(np.float32)
        satisfaction += smoothing * (work - satisfaction)
        work *= config.expectation_adaptation
        expectation += work

    def adjust_hazard(
        self,
        people: dict[str, np.ndarray],
        hazard: np.ndarray,
        natural: float,
        spare: np.ndarray,
        odds: np.ndarray | None,
    ) -> None:
        factor = people["churn_propensity"] if self.on["propensity"] else None
        if factor is not None or odds is not None:
            scale_voluntary(hazard, natural, spare, factor, odds)

    def month_spend(self, people: dict[str, np.ndarray]) -> np.ndarray | None:
        """What each customer spends this month: None for contractual billing (the monthly revenue); for
        non-contractual buying, Poisson purchases at the customer's rate, each worth revenue x 12 / purchase_rate
        (so a customer at the mean rate spends its revenue on average), with one purchase in the month of
        acquisition (the first transaction)."""
        if not self.on["noncontractual"]:
            return None
        purchases = self.streams["purchases"].poisson(people["purchase_rate"]).astype(np.int32)
        purchases[people["tenure"] == 1] = np.maximum(purchases[people["tenure"] == 1], 1)
        self.purchases = purchases
        return people["revenue"] * purchases * np.float32(12.0 / self.config.purchase_rate)

    def cost_factor(self, people: dict[str, np.ndarray], who: np.ndarray) -> np.ndarray | None:
        """The tenure factor on the cost to serve the customers ``who`` (None: no tenure effect on cost)."""
        if not self.on["cost"]:
            return None
        return np.exp(people["cost_slope"][who] * people["tenure"][who])

    def spend_level(self, people: dict[str, np.ndarray], who: np.ndarray) -> np.ndarray | float:
        """The tenure factor on the spend of ``who`` relative to their spend when acquired (1: no tenure effect)."""
        if not self.on["spend"]:
            return 1.0
        return np.exp(np.log(people["spend_growth"][who]) * people["tenure"][who])

    def referrals(self, people: dict[str, np.ndarray], promoter: np.ndarray) -> float | None:
        """Promoters' monthly recommendations weighted by their tenure effect (None: no tenure effect)."""
        if not self.on["referral"]:
            return None
        weights = np.exp(people["referral_slope"][promoter] * people["tenure"][promoter])
        return float(weights.sum()) / 12.0

    def age(self, people: dict[str, np.ndarray]) -> None:
        """A month of tenure passes: spend and price sensitivity move along each customer's slope."""
        if self.on["spend"]:
            people["revenue"] *= people["spend_growth"]
        if self.on["price"]:
            sensitivity = people["price_sensitivity"]
            sensitivity += people["price_slope"]
            np.clip(sensitivity, 0.0, 1.0, out=sensitivity)
