"""The customers as a struct of numpy arrays.

Every per-customer field is declared once in :data:`FIELDS`. Active customers occupy the first ``n`` slots of
every array, so each step works on plain slices with no activity mask; a customer who leaves is replaced by the
last active one (swap-remove), and new customers are appended. Customer ids grow with the order of arrival,
which makes "was this customer here at the start of the year?" a comparison with one number.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

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
        """``extra``: fields of the mechanisms switched on (sim/core/relational.py, sim/core/customers.py)."""
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
            else:  # an extra field the traits do not set (a state such as exposure) starts at 0
                array[start:stop] = fields.get(name, 0)
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
        self,
        config: Config,
        rng: np.random.Generator,
        block: int,
        extra_rng: np.random.Generator | None = None,
        traits: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]] | None = None,
        on_block: Callable[[np.ndarray], None] | None = None,
    ) -> None:
        """``extra_rng`` draws the traits of contact wear-out (sim/core/relational.py); ``traits`` adds those of
        the customer mechanisms switched on (sim/core/customers.py) to each block; ``on_block`` is told each new
        block's values (the customer network grows with them: the block's rows are the next customer ids)."""
        self.config = config
        self.rng = rng
        self.extra_rng = extra_rng
        self.block = max(int(block), 64)
        self.traits = traits
        self.on_block = on_block
        self.stock: dict[str, np.ndarray] = {}
        self.position = 0

    def take(self, count: int, *, month: int, expectation_shift: float) -> dict[str, np.ndarray]:
        parts = []
        while count > 0:
            if not self.stock or self.position == len(self.stock["value"]):
                self.stock = new_customers(
                    self.config,
                    self.rng,
                    self.block,
                    month=0,
                    initial=False,
                    extra_rng=self.extra_rng,
                    traits=self.traits,
                )
                self.position = 0
                if self.on_block is not None:
                    self.on_block(self.stock["value"])
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
    traits: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]] | None = None,
) -> dict[str, np.ndarray]:
    """Draw the traits of ``count`` customers (see docs/MODEL.md, "Initialisation").

    ``initial`` customers are already in the relationship when the run starts: they have tenure and have built
    some commitment. New customers arrive with the market's expectation, shifted by word of mouth. The traits of
    mechanisms that are off in today's model come from their own streams, so that switching one on leaves every
    other draw as it was: contact wear-out from ``extra_rng``, the customer mechanisms through ``traits``
    (sim/core/customers.py).
    """
    draws = draw_traits(config, rng, count, initial=initial)
    fields = assemble(draws, customer_constants(config, month, expectation_shift))
    if config.ideal_contacts_per_year > 0.0:
        fields.update(contact_traits(config, extra_rng, fields["contact_averse"]))
    if traits is not None:
        fields.update(traits(fields))
    return fields


def draw_traits(config: Config, rng: np.random.Generator, count: int, *, initial: bool) -> dict[str, np.ndarray]:
    """The trait stream's draws for ``count`` customers, in the stream's fixed order (the only random part of
    :func:`new_customers`; a batch of runs draws each run's own and assembles them together)."""
    # Three standard normals in one call: value_score, then fit and expectation noise, which normal(0, sd) would
    # give as 0 + sd × the same draws (one call costs less than three). :func:`assemble` scales them; the sign
    # of a zero aside, which the sums they enter erase, the numbers are the same.
    normals = rng.standard_normal(3 * count)
    # Rank customers by the normal draw behind their value, so that tiers and routing work even when sigma = 0.
    draws = {"value_score": normals[:count]}
    draws["fit"] = normals[count : 2 * count]
    draws["expectation_noise"] = normals[2 * count :]
    mean_propensity = config.complaint_propensity
    # Beta(2 m / (1 - m) ... ) keeps the mean at m with a spread comparable to Beta(2, 6) at m = 0.25.
    if 0.0 < mean_propensity < 1.0:
        concentration = 8.0
        draws["propensity"] = rng.beta(concentration * mean_propensity, concentration * (1 - mean_propensity), count)
    else:
        draws["propensity"] = np.full(count, mean_propensity)
    # Gamma with shape 0.5: most customers rarely call, a few call often (the "frequent callers").
    draws["inquiries"] = (
        rng.gamma(0.5, config.inquiry_rate / 0.5, count) if config.inquiry_rate > 0 else np.zeros(count)
    )
    draws["financial_bond"] = (
        rng.gamma(2.0, config.switching_cost_mean / 2.0, count) if config.switching_cost_mean > 0 else np.zeros(count)
    )
    if initial:  # (newcomers start at tenure 0 with the initial commitment: assemble sets them)
        draws["tenure"] = rng.integers(12, 61, count)  # an established base: one to five years in the relationship
        draws["commitment"] = config.initial_commitment + (1 - config.initial_commitment) * rng.beta(2.0, 2.0, count)
    # Outreach contacts are spread evenly over the interval, so that the firm's workload is level over time.
    # (A uniform float, not integers(): the number of draws must not depend on the level, so that levels
    # keep sharing the trait stream.)
    draws["phase"] = rng.random(count)
    draws["price_sensitivity"] = rng.beta(2.0, 2.0, count)  # drawn in this order: the stream's sequence is fixed
    draws["averse"] = rng.random(count)
    return draws


def customer_constants(config: Config, month: int, expectation_shift: float = 0.0) -> dict[str, Any]:
    """The per-run numbers :func:`assemble` combines with the draws (scalars; a batch stacks one per customer)."""
    sigma = config.value_dispersion
    tiered = config.tier_level != "none"
    return {
        "sigma": sigma,
        "value_offset": sigma**2 / 2,
        "level": config.level_code(config.level),
        "tier_level": config.level_code(config.tier_level) if tiered else -1,
        "tier_cut": _normal_quantile(1.0 - config.tier_share) if tiered else np.inf,
        "ivr_cut": _normal_quantile(config.ivr_routing_share) if config.ivr_routing_share > 0 else -np.inf,
        "expectation_mean": 1.0 - config.value_gap + expectation_shift,
        "expectation_sd": config.expectation_sd,
        "fit_sd": config.fit_sd,
        "initial_commitment": config.initial_commitment,
        "monthly_revenue": config.revenue_per_customer / 12.0,
        "aversion": config.contact_aversion_share,
        "month": month,
        # Customisation and structural bonds in full from the start, unless they build month by month at the
        # level (sim/core/relational.py); the scale weighs relational effects (stronger in business markets).
        "bond_scale": 0.0 if config.bond_build_months > 0.0 else config.relationship_effect_scale,
        "levels": config.levels,
    }


def _normal_quantile(share: float) -> float:
    """The standard normal quantile (scipy's, imported when first needed: a sweep worker without tiers or IVR
    routing, the common case, does not pay for importing scipy.special)."""
    from scipy.special import ndtri

    return ndtri(share)


def assemble(draws: dict[str, np.ndarray], constants: dict[str, Any]) -> dict[str, np.ndarray]:
    """The customers' fields from their draws and their run's constants: element-wise arithmetic only, so that a
    batch of runs (constants as arrays, one entry per customer) gives each customer the same numbers as its run."""
    c = constants
    value_score = draws["value_score"]
    value = np.exp(c["sigma"] * value_score - c["value_offset"])  # lognormal with mean 1
    levels = np.where(value_score >= c["tier_cut"], c["tier_level"], c["level"]).astype(np.uint8)
    customisation = level_table(c["levels"], "customisation_value", np.float32)[levels]
    structural = level_table(c["levels"], "structural_bond", np.float32)[levels]
    scale = c["bond_scale"]
    if scale == 0.0:  # built month by month at the level (sim/core/relational.py)
        customisation = structural = np.zeros(len(levels), np.float32)
    elif scale != 1.0:
        customisation = customisation * scale
        structural = structural * scale
    has_channel = level_table(c["levels"], "inbound_channel", bool)[levels]
    interval = level_table(c["levels"], "outreach_interval_months", np.int64)[levels]
    phase = np.floor(draws["phase"] * np.maximum(interval, 1))
    averse = draws["averse"] < c["aversion"]
    count = len(levels)
    tenure = draws["tenure"] if "tenure" in draws else np.zeros(count, np.int64)
    commitment = draws["commitment"] if "commitment" in draws else np.full(count, c["initial_commitment"])
    return {
        "level": levels,
        "tenure": tenure,
        "next_outreach": np.where(interval > 0, c["month"] + phase, -1),
        "value": value,
        "revenue": value * c["monthly_revenue"],
        "base_value": 1.0 + c["fit_sd"] * draws["fit"] + customisation,
        "expectation": c["expectation_mean"] + c["expectation_sd"] * draws["expectation_noise"],
        "satisfaction": np.zeros(count),
        "commitment": commitment,
        "switching_cost": draws["financial_bond"] + structural,
        "social_bond": np.zeros(count),
        "price_sensitivity": draws["price_sensitivity"],
        "complaint_propensity": draws["propensity"],
        "inquiry_probability": np.where(has_channel, np.minimum(draws["inquiries"] / 12.0, 1.0), 0.0),
        "contact_averse": averse,
        "routed_to_ivr": value_score < c["ivr_cut"],
    }
