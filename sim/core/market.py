"""The market outside the firm: word of mouth among prospects and the customers it wins each month (steps 9-10 of
:class:`sim.core.model.RelationshipModel`; docs/MODEL.md 7.11-7.12). A part of the model class kept in its own
module for size: the methods use the model's state set up in ``RelationshipModel.__init__``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sim.core import dynamics


class Market:
    """Word of mouth and acquisition, mixed into :class:`sim.core.model.RelationshipModel`."""

    config: Any
    streams: Any
    population: Any
    behaviour: Any
    word_of_mouth: Any
    heard_good: float
    heard_bad: float
    _resolved_quickly: Any

    def _word_of_mouth(
        self, people: dict[str, np.ndarray], problem: np.ndarray, unhappy_leavers: int, record: dict[str, float]
    ) -> tuple[float, float]:
        """Stories told this month (satisfied: 3 listeners, dissatisfied: 11; attributed to TARP 1986, not traced).

        Tellers: customers who had a problem this month (by how they feel about it now), dissatisfied
        leavers, and promoters, who recommend about once a year. Returns the mentions (good, bad).
        """
        config = self.config
        encounter = people["satisfaction"][problem]
        if config.recovery_overshoot > 0 and len(problem):  # transaction satisfaction (section 7.15)
            encounter = encounter + config.recovery_overshoot * self._resolved_quickly
        after_problem = encounter >= config.satisfaction_threshold
        referrals = record["promoters"] / 12.0
        if self.behaviour.on["referral"]:
            promoter = (people["satisfaction"] >= config.promoter_satisfaction) & (
                people["commitment"] >= config.promoter_commitment
            )
            referrals = self.behaviour.referrals(people, promoter)
        told_good, told_bad = self.word_of_mouth.tell(people, self.population.next_id)
        happy_tellers = int(np.count_nonzero(after_problem)) + referrals + told_good
        unhappy_tellers = len(problem) - int(np.count_nonzero(after_problem)) + unhappy_leavers + told_bad
        good = happy_tellers * config.positive_listeners * config.word_of_mouth
        bad = unhappy_tellers * config.negative_listeners * config.word_of_mouth
        prospects = config.market_size_multiple * config.n_customers
        self.heard_good = dynamics.spread_word(self.heard_good, good, prospects, config.wom_forgetting)
        self.heard_bad = dynamics.spread_word(self.heard_bad, bad, prospects, config.wom_forgetting)
        record["heard_good"] = self.heard_good
        record["heard_bad"] = self.heard_bad
        record.update(
            happy_tellers=happy_tellers, unhappy_tellers=unhappy_tellers, good_mentions=good, bad_mentions=bad
        )
        return good, bad

    def _acquisitions(self, good_mentions: float) -> tuple[int, int]:
        """Paid marketing wins a fixed flow, less the prospects put off by bad stories; referrals come free."""
        config = self.config
        rng = self.streams["acquisition"]
        # The market is finite: the fewer prospects left, the fewer any effort wins (relative to the start).
        prospects = config.market_size_multiple * config.n_customers
        untapped = max(prospects - self.population.n, 0.0) / max(prospects - config.n_customers, 1.0)
        paid = rng.poisson(config.acquisition_rate * config.n_customers / 12.0 * (1.0 - self.heard_bad) * untapped)
        referred = rng.poisson(good_mentions * config.referral_conversion * untapped)
        return int(paid), int(referred)
