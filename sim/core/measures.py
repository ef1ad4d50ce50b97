"""What the model measures of its customers: quadrant, NPS, lifecycle stage and cohort counts, and the monthly
leave probability they rest on (docs/MODEL.md 7.8-7.9; a part of :class:`sim.core.model.RelationshipModel`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sim.core import dynamics
from sim.core.schema import QUADRANTS, STAGES


class Measures:
    """Counting and labelling customers, mixed into :class:`sim.core.model.RelationshipModel`."""

    config: Any
    population: Any

    def _count_states(self, people: dict[str, np.ndarray], hazard: np.ndarray, record: dict[str, float]) -> None:
        """Quadrant (Jones & Sasser 1995) and Net Promoter counts of this month's customers."""
        config = self.config
        satisfaction = people["satisfaction"]
        commitment = people["commitment"]
        n = len(satisfaction)
        satisfied = satisfaction >= config.satisfaction_threshold
        loyal = hazard <= self._loyal_limit
        n_satisfied = int(np.count_nonzero(satisfied))
        n_loyal = int(np.count_nonzero(loyal))
        both = int(np.count_nonzero(satisfied & loyal))
        record["loyalist"] = both
        record["hostage"] = n_loyal - both
        record["mercenary"] = n_satisfied - both
        record["defector"] = n - n_loyal - n_satisfied + both
        record["promoters"] = int(
            np.count_nonzero(
                (satisfaction >= config.promoter_satisfaction) & (commitment >= config.promoter_commitment)
            )
        )
        record["detractors"] = n - n_satisfied
        # Lifecycle: satisfied customers explore (first 3 months), form (to 12) and then stabilise;
        # a dissatisfied customer is in decline whatever the tenure (decline can start in any stage).
        tenure = people["tenure"]
        exploring = int(np.count_nonzero(satisfied & (tenure < 3)))
        forming = int(np.count_nonzero(satisfied & (tenure < 12)))
        record["exploration"] = exploring
        record["formation"] = forming - exploring
        record["stability"] = n_satisfied - forming
        record["decline"] = n - n_satisfied
        record["active"] = n
        record["mean_satisfaction"] = float(np.add.reduce(satisfaction)) / n if n else 0.0
        record["mean_commitment"] = float(np.add.reduce(commitment)) / n if n else 0.0

    def _count_cohorts(self, record: dict[str, float]) -> None:
        """Survivors, after this month's churn, of the initial customers and of this year's starting base."""
        customer_id = self.population.data["customer_id"][: self.population.n]
        first_new_id, start_count = self._year_start
        record["initial_cohort_active"] = int(np.count_nonzero(customer_id < self.config.n_customers))
        record["year_cohort_active"] = int(np.count_nonzero(customer_id < first_new_id))
        record["year_cohort_start"] = start_count

    def lifecycle_labels(self) -> np.ndarray:
        """The lifecycle stage of each active customer now (see STAGES)."""
        people = self.population.active()
        satisfied = people["satisfaction"] >= self.config.satisfaction_threshold
        tenure = people["tenure"]
        code = np.where(satisfied, np.where(tenure < 3, 0, np.where(tenure < 12, 1, 2)), 3)
        return np.asarray(STAGES)[code]

    def leave_probability(
        self, month: int | None = None, *, out: np.ndarray | None = None, spare: np.ndarray | None = None
    ) -> np.ndarray:
        """Monthly leave probability of each active customer (section 7.8), in ``month`` (default: the month
        just simulated). ``out`` and ``spare`` are optional work buffers of the population's length."""
        people = self.population.active()
        config = self.config
        hazard = dynamics.leave_probability(
            people["satisfaction"],
            people["commitment"],
            people["switching_cost"],
            people["social_bond"],
            people["price_sensitivity"],
            attraction=self.attraction(max(self.steps - 1, 0) if month is None else month),
            natural_churn_monthly=self._natural_churn,
            intercept=config.churn_intercept,
            satisfaction_effect=config.satisfaction_effect,
            commitment_effect=config.commitment_effect,
            switching_cost_effect=config.switching_cost_effect,
            price_effect=config.price_effect,
            out=np.empty(self.population.n, np.float32) if out is None else out,
            spare=spare,
        )
        odds = self.word_of_mouth.odds(people)  # contagion of defection (None: off)
        if self.behaviour.on["propensity"] or odds is not None:
            spare = np.empty_like(hazard) if spare is None else spare
            self.behaviour.adjust_hazard(people, hazard, self._natural_churn, spare, odds)
        return hazard

    def quadrant_labels(self) -> np.ndarray:
        """The quadrant of each active customer now (strings, for plots and teaching)."""
        return np.asarray(QUADRANTS)[self.quadrant_codes(self.leave_probability())]

    def quadrant_codes(self, hazard: np.ndarray, satisfaction: np.ndarray | None = None) -> np.ndarray:
        """Index into QUADRANTS of each active customer, from satisfaction and the monthly leave probability."""
        if satisfaction is None:
            satisfaction = self.population.active()["satisfaction"]
        satisfied = satisfaction >= self.config.satisfaction_threshold
        loyal = hazard <= self._loyal_limit
        return np.where(loyal, np.where(satisfied, 0, 1), np.where(satisfied, 2, 3))
