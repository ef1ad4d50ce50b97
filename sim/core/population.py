"""The customers as a struct of numpy arrays.

Every per-customer field is declared once in :data:`FIELDS`. Active customers occupy the first ``n`` slots of
every array, so each step works on plain slices with no activity mask; a customer who leaves is replaced by the
last active one (swap-remove), and new customers are appended. Customer ids grow with the order of arrival,
which makes "was this customer here at the start of the year?" a comparison with one number.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
from scipy.special import ndtri

from sim.core.config import Config
from sim.core.levels import Level
from sim.core.relational import contact_traits

FIELDS: dict[str, np.dtype] = {
    # identity and relationship
    "customer_id": np.dtype(np.int32),  # order of arrival; the initial customers are 0 .. n_customers-1
    "level": np.dtype(np.uint8),  # code of the level this customer is served at: its index in config.levels
    "tenure": np.dtype(np.uint16),  # months since the sale
    "next_outreach": np.dtype(np.int16),  # month of the next outreach contact (-1: none)
    # value to the firm
    "value": np.dtype(np.float32),  # revenue multiplier (mean 1 across the market; lognormal)
    "revenue": np.dtype(np.float32),  # $ per month, including cross-sales
    # satisfaction state (utility units)
    "base_value": np.dtype(np.float32),  # perceived value of the offer without incidents
    "expectation": np.dtype(np.float32),
    "satisfaction": np.dtype(np.float32),  # cumulative (smoothed) disconfirmation
    # loyalty state
    "commitment": np.dtype(np.float32),  # attitudinal loyalty in [0, 1]
    "switching_cost": np.dtype(np.float32),  # financial + structural bonds
    "social_bond": np.dtype(np.float32),  # switching cost built by personal contacts
    # behavioural traits
    "price_sensitivity": np.dtype(np.float32),  # in [0, 1]
    "complaint_propensity": np.dtype(np.float32),  # chance of voicing a minor problem
    "inquiry_probability": np.dtype(np.float32),  # chance of a question per month (0 without a channel)
    "contact_averse": np.dtype(np.bool_),  # unsolicited contact annoys this customer
    "routed_to_ivr": np.dtype(np.bool_),  # inbound contacts go to the automated channel
}


@functools.lru_cache(maxsize=256)
def level_table(levels: tuple[Level, ...], attribute: str, dtype: Any) -> np.ndarray:
    """One entry per level in effect, indexed by the level code stored per customer (read-only, cached: the
    levels of a config are a hashable tuple, so runs with the same levels share their tables)."""
    table = np.array([getattr(level, attribute) for level in levels], dtype)
    table.flags.writeable = False
    return table


class Population:
    """Arrays of capacity ``capacity`` whose first ``n`` entries are the active customers; ``extra`` adds the
    fields only some mechanisms need (:func:`sim.core.relational.extra_fields`)."""

    def __init__(self, capacity: int, extra: dict[str, np.dtype] | None = None) -> None:
        self.capacity = max(int(capacity), 1)
        self.n = 0
        self.next_id = 0
        self.data = {name: np.zeros(self.capacity, dtype) for name, dtype in {**FIELDS, **(extra or {})}.items()}

    def __len__(self) -> int:
        return self.n

    def active(self) -> dict[str, np.ndarray]:
        """Views of the active customers' fields (writes go to the population)."""
        n = self.n
        return {name: array[:n] for name, array in self.data.items()}

    @property
    def nbytes(self) -> int:
        return sum(array.nbytes for array in self.data.values())

    def _reserve(self, needed: int) -> None:
        if needed <= self.capacity:
            return
        self.capacity = max(needed, int(self.capacity * 1.25) + 1)
        for name, array in self.data.items():
            grown = np.zeros(self.capacity, array.dtype)
            grown[: self.n] = array[: self.n]
            self.data[name] = grown

    def compact(self, slack: float = 0.1) -> bool:
        """Give back memory after the base has shrunk: reallocate when less than 70 % of the slots are used."""
        smaller = int(self.n * (1 + slack)) + 16
        if self.n >= 0.7 * self.capacity or smaller >= self.capacity:
            return False
        self.capacity = smaller
        self.data = {name: array[: self.capacity].copy() for name, array in self.data.items()}
        return True

    def append(self, fields: dict[str, np.ndarray]) -> None:
        """Add customers whose fields are given (all fields; ``customer_id`` is assigned here)."""
        count = len(fields["value"])
        self._reserve(self.n + count)
        start, stop = self.n, self.n + count
        for name, array in self.data.items():
            if name == "customer_id":
                array[start:stop] = np.arange(self.next_id, self.next_id + count, dtype=np.int32)
            else:
                array[start:stop] = fields[name]
        self.n = stop
        self.next_id += count

    def remove(self, positions: np.ndarray) -> None:
        """Remove the customers at these positions (sorted, unique) by moving the last active ones into them."""
        count = len(positions)
        if count == 0:
            return
        n_after = self.n - count
        holes = positions[positions < n_after]  # slots to refill
        stays = np.ones(count, bool)  # which of the last `count` slots hold survivors
        stays[positions[len(holes) :] - n_after] = False
        movers = np.arange(n_after, self.n)[stays]
        for array in self.data.values():
            array[holes] = array[movers]
        self.n = n_after


class ArrivalBank:
    """Traits of future new customers, drawn in blocks (one set of draws per block, not per month).

    Drawing a block at a time keeps the monthly cost of acquisition independent of the number of random
    calls; the traits depend only on the seed and the config, so runs stay reproducible. Expectations get
    the word-of-mouth shift of the month of arrival when they are taken.
    """

    def __init__(
        self, config: Config, rng: np.random.Generator, block: int, extra_rng: np.random.Generator | None = None
    ) -> None:
        self.config = config
        self.rng = rng
        self.extra_rng = extra_rng
        self.block = max(int(block), 64)
        self.stock: dict[str, np.ndarray] = {}
        self.position = 0

    def take(self, count: int, *, month: int, expectation_shift: float) -> dict[str, np.ndarray]:
        parts = []
        while count > 0:
            if not self.stock or self.position == len(self.stock["value"]):
                self.stock = new_customers(
                    self.config, self.rng, self.block, month=0, initial=False, extra_rng=self.extra_rng
                )
                self.position = 0
            used = min(count, len(self.stock["value"]) - self.position)
            parts.append({name: array[self.position : self.position + used] for name, array in self.stock.items()})
            self.position += used
            count -= used
        fields = parts[0] if len(parts) == 1 else {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}
        fields["expectation"] = fields["expectation"] + expectation_shift
        fields["next_outreach"] = np.where(fields["next_outreach"] >= 0, fields["next_outreach"] + month, -1)
        return fields


def new_customers(
    config: Config,
    rng: np.random.Generator,
    count: int,
    *,
    month: int,
    initial: bool,
    expectation_shift: float = 0.0,
    extra_rng: np.random.Generator | None = None,
) -> dict[str, np.ndarray]:
    """Draw the traits of ``count`` customers (see docs/MODEL.md, "Initialisation").

    ``initial`` customers are already in the relationship when the run starts: they have tenure and have built
    some commitment. New customers arrive with the market's expectation, shifted by word of mouth. The traits of
    mechanisms that are off in today's model come from ``extra_rng``, so that switching one on leaves every other
    draw as it was.
    """
    sigma = config.value_dispersion
    # Rank customers by the normal draw behind their value, so that tiers and routing work even when sigma = 0.
    value_score = rng.standard_normal(count)
    value = np.exp(sigma * value_score - sigma**2 / 2)  # lognormal with mean 1

    levels = np.full(count, config.level_code(config.level), np.uint8)
    if config.tier_level != "none":
        top = value_score >= ndtri(1.0 - config.tier_share)
        levels[top] = config.level_code(config.tier_level)

    customisation = level_table(config.levels, "customisation_value", np.float32)[levels]
    structural = level_table(config.levels, "structural_bond", np.float32)[levels]
    if config.relationship_effect_scale != 1.0:
        customisation = customisation * config.relationship_effect_scale
        structural = structural * config.relationship_effect_scale
    if config.bond_build_months > 0.0:  # built month by month at the level (sim/core/relational.py)
        customisation = structural = np.zeros(count, np.float32)
    has_channel = level_table(config.levels, "inbound_channel", bool)[levels]
    interval = level_table(config.levels, "outreach_interval_months", np.int64)[levels]

    fit = rng.normal(0.0, config.fit_sd, count)
    expectation = 1.0 - config.value_gap + expectation_shift + rng.normal(0.0, config.expectation_sd, count)
    mean_propensity = config.complaint_propensity
    # Beta(2 m / (1 - m) ... ) keeps the mean at m with a spread comparable to Beta(2, 6) at m = 0.25.
    if 0.0 < mean_propensity < 1.0:
        concentration = 8.0
        propensity = rng.beta(concentration * mean_propensity, concentration * (1 - mean_propensity), count)
    else:
        propensity = np.full(count, mean_propensity)
    # Gamma with shape 0.5: most customers rarely call, a few call often (the "frequent callers").
    inquiries = rng.gamma(0.5, config.inquiry_rate / 0.5, count) / 12.0 if config.inquiry_rate > 0 else np.zeros(count)
    financial_bond = (
        rng.gamma(2.0, config.switching_cost_mean / 2.0, count) if config.switching_cost_mean > 0 else np.zeros(count)
    )
    if initial:
        tenure = rng.integers(12, 61, count)  # an established base: one to five years in the relationship
        commitment = config.initial_commitment + (1 - config.initial_commitment) * rng.beta(2.0, 2.0, count)
    else:
        tenure = np.zeros(count, np.int64)
        commitment = np.full(count, config.initial_commitment)
    # Outreach contacts are spread evenly over the interval so that the firm's workload is level over time.
    # (A uniform float, not integers(): the number of draws must not depend on the level, so that levels
    # keep sharing the trait stream.)
    phase = np.floor(rng.random(count) * np.maximum(interval, 1))
    next_outreach = np.where(interval > 0, month + phase, -1)

    routed = value_score < ndtri(config.ivr_routing_share) if config.ivr_routing_share > 0 else np.zeros(count, bool)
    price_sensitivity = rng.beta(2.0, 2.0, count)  # drawn in this order: the trait stream's sequence is fixed
    averse = rng.random(count) < config.contact_aversion_share
    traits = {
        "level": levels,
        "tenure": tenure,
        "next_outreach": next_outreach,
        "value": value,
        "revenue": value * (config.revenue_per_customer / 12.0),
        "base_value": 1.0 + fit + customisation,
        "expectation": expectation,
        "satisfaction": np.zeros(count),
        "commitment": commitment,
        "switching_cost": financial_bond + structural,
        "social_bond": np.zeros(count),
        "price_sensitivity": price_sensitivity,
        "complaint_propensity": propensity,
        "inquiry_probability": np.where(has_channel, np.minimum(inquiries, 1.0), 0.0),
        "contact_averse": averse,
        "routed_to_ivr": routed,
    }
    if config.ideal_contacts_per_year > 0.0:
        traits.update(contact_traits(config, extra_rng, averse))
    return traits
