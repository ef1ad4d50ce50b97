"""Relationship effects that wear out or take time (issue 12, item 3; docs/MODEL.md 7.5 and 7.13).

- **Contact wear-out** (``ideal_contacts_per_year`` > 0): each customer has an ideal number of outbound contacts a
  year, k* ~ Gamma(shape 2) with mean ``ideal_contacts_per_year`` (0 for contact-averse customers). The n-th
  contact of the customer's contact year adds ``outreach_value`` if n ≤ k*, and otherwise takes
  ``annoyance`` × (n − k*) / max(k*, 1) off satisfaction, builds no bond and sells nothing: the yearly effect of
  contact rises, peaks at k* and then falls ever faster, an inverted U (Godfrey, Seiders & Voss 2011).
- **Bonds that build** (``bond_build_months`` > 0): a customer t months into a level with structural bonds or
  customisation has structural_bond × (1 − e^(−t/τ)) and customisation_value × (1 − e^(−t/τ)); t counts from the
  month the customer came to the level (for the base at the start of a run, month 0).

Both are off in the generic segment (today's model: a fixed split into welcoming and contact-averse customers, and
bonds in full from month 0), and then add no field and no work to a step.
"""

from __future__ import annotations

import numpy as np

from sim.core.config import Config

CONTACT_FIELDS: dict[str, np.dtype] = {
    "ideal_contacts": np.dtype(np.float32),  # k*: outbound contacts a year the customer welcomes
    "contact_cycle": np.dtype(np.uint8),  # outbound contacts received so far in the customer's contact year
}


def extra_fields(config: Config) -> dict[str, np.dtype]:
    """The per-customer fields the run's switched-on mechanisms need beyond the population's own."""
    return dict(CONTACT_FIELDS) if config.ideal_contacts_per_year > 0.0 else {}


def contact_traits(config: Config, rng: np.random.Generator, averse: np.ndarray) -> dict[str, np.ndarray]:
    """Each customer's ideal contact volume (gamma, shape 2, mean ``ideal_contacts_per_year``; 0 if averse)."""
    count = len(averse)
    ideal = rng.gamma(2.0, config.ideal_contacts_per_year / 2.0, count)
    ideal[averse] = 0.0
    return {"ideal_contacts": ideal, "contact_cycle": np.zeros(count, np.uint8)}


def outreach_effect(
    people: dict[str, np.ndarray], due: np.ndarray, per_year: np.ndarray, value: float, annoyance: float
) -> tuple[np.ndarray, np.ndarray]:
    """For the customers ``due`` a contact: which ones welcome it, and its effect on each one's satisfaction.

    ``per_year`` is each one's contacts a year at its level; the contact year restarts after that many.
    """
    cycle = people["contact_cycle"]
    n = cycle[due].astype(np.int64) + 1
    cycle[due] = n % per_year
    ideal = people["ideal_contacts"][due]
    useful = n <= ideal
    excess = (n - ideal) / np.maximum(ideal, 1.0)
    return useful, np.where(useful, value, -annoyance * excess)


class BondBuilding:
    """Structural bonds and customisation that grow towards the level's full value with time at the level."""

    PARAMETERS = ("structural_bond", "customisation_value")  # the level parameters that build

    def __init__(self, config: Config, structural: np.ndarray, customisation: np.ndarray) -> None:
        tau = config.bond_build_months
        months = np.arange(config.periods + 1, dtype=np.float64)
        grown = -np.expm1(-months / tau)  # share of the full bond after k months at the level
        self.increment = np.diff(grown, prepend=0.0)  # this month's growth, for k = 0 .. periods
        self.structural = structural
        self.customisation = customisation
        self.builds = (structural > 0) | (customisation > 0)  # per level code: whether anything builds there

    def step(self, people: dict[str, np.ndarray], month: int) -> None:
        """Add this month's growth for every customer at a level with bonds (t = min(tenure, month))."""
        level = people["level"]
        at = np.flatnonzero(self.builds[level])
        if len(at) == 0:
            return
        months = np.minimum(people["tenure"][at], month)
        growth = self.increment[months]
        codes = level[at]
        people["switching_cost"][at] += (self.structural[codes] * growth).astype(np.float32)
        people["base_value"][at] += (self.customisation[codes] * growth).astype(np.float32)
