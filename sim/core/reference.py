"""The docking reference: the rules of :mod:`sim.core.model`, written again one customer at a time in plain Mesa style.

Axtell et al. (1996) "dock" two implementations of one model by checking that they agree in distribution. This
module is the second implementation: each customer is a :class:`Customer` (a ``mesa.Agent`` with scalar
attributes, in :mod:`sim.core.reference_customer`), the firm and its market are a :class:`ReferenceModel`, and every
rule is re-expressed with scalar Python math from the config and the level table alone; it does not use
:mod:`sim.core.dynamics` or :mod:`sim.core.population`. It is slow (pure Python loops) and meant to be read side by
side with docs/MODEL.md.

All randomness comes from one generator, Mesa's ``self.random`` seeded with ``config.seed``; the draws differ from
the vectorised model's named streams, so the two agree in distribution only (tests/test_docking.py).
It implements the model with every customer mechanism of issue 13 off (sim/core/customers.py, sim/core/network.py:
the defaults) and refuses a config that switches one on; those mechanisms are tested on their own
(tests/test_customers.py, tests/test_network.py, tests/test_buying.py).
The month follows the order of :mod:`sim.core.model`; steps 1-5 and 7 are the customer's own (:meth:`Customer.step`),
the rest belongs to the firm and the market (:meth:`ReferenceModel.step`, one method per step, named as in the
vectorised model).
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any

import mesa
import pandas as pd

from sim.core.config import Config, ConfigError
from sim.core.customers import SWITCH, mechanisms_on
from sim.core.inputs import resolve
from sim.core.reference_customer import Customer
from sim.core.schema import ACTIVITIES, QUADRANTS, RECORD_KEYS, STAGES

__all__ = ["Customer", "ReferenceModel"]


def _recorded(key: str, model: ReferenceModel) -> float:
    """DataCollector reporter for one entry of the month's record (a partial, so Mesa passes the model)."""
    return model.record[key]


class ReferenceModel(mesa.Model):
    """The firm and its market; ``ReferenceModel(level="proactive", n_customers=300, seed=1).run().monthly()``."""

    customer_class: type[Customer] = Customer  # a subclass may swap in altered rules (the docking test's mutants)

    def __init__(self, config: Config | None = None, *, seed: int | None = None, **kwargs: Any) -> None:
        config = resolve(config, seed, kwargs)  # named **kwargs: SolaraViz accepts only that name
        on = mechanisms_on(config)
        if on:  # the docking twin covers the calibrated model; the mechanisms have their own tests
            message = "the docking reference implements the model with the issue-13 mechanisms off"
            raise ConfigError(SWITCH[on[0]], message)
        super().__init__(seed=config.seed)
        self.config = config
        self.natural_churn = 1.0 - (1.0 - config.natural_churn) ** (1.0 / 12.0)  # compounds to the yearly rate
        self.loyal_limit = 1.0 - config.loyalty_threshold ** (1.0 / 12.0)  # 12-month stay chance >= threshold
        cost_per_win = config.acquisition_cost_multiple * config.keeping_cost_share * config.revenue_per_customer
        self.acquisition_spend = config.acquisition_rate * config.n_customers / 12.0 * cost_per_win  # fixed, monthly
        self.prospects = config.market_size_multiple * config.n_customers
        self.quality = 0.0
        self.reports = 0.0  # problems fed back so far (learning from distinct problems)
        policy = {config.level} | ({config.tier_level} - {"none"})
        self.fixed_monthly = config.fixed_cost_scale * sum(config.level_named(n).fixed_cost for n in policy) / 12.0
        self.agent_work: dict[str, float] = {}  # agent contacts this month per activity, weighted by workload
        self.heard_good = 0.0
        self.heard_bad = 0.0
        self.arrivals = 0
        self.month = 0
        self.problem_probability = 0.0
        self.attraction_now = 0.0
        self.tally: dict[str, float] = {}
        self.record: dict[str, float] = {}
        for _ in range(config.n_customers):
            self.customer_class(self, arrival_month=0, initial=True)
        self.year_start = (config.n_customers, config.n_customers)  # (first serial not in the cohort, its size)
        self.datacollector = mesa.DataCollector(model_reporters={key: partial(_recorded, key) for key in RECORD_KEYS})

    def step(self) -> None:
        """One month, in the order of :meth:`sim.core.model.RelationshipModel.step` (the numbers are its steps)."""
        month = self._begin_month()
        customers: list[Customer] = list(self.agents)
        self.agents.do("step")  # 1-5, 7: each customer's own month (Customer.step)
        self._learn(len(customers))  # 6
        self._count_states(customers)  # 7: the firm's part, counting the customers' states
        self._account(customers, month)  # 8 (before churn: leavers were customers this month)
        good, stayed = self._churn(customers)  # 9
        self._arrive(month, good, stayed)  # 10
        # 11. time
        for c in self.agents:
            c.tenure += 1
        self.running = self.steps < self.config.periods

    def _begin_month(self) -> int:
        """A fresh tally, and what every customer reads this month: the problem rate and the outside attraction."""
        config = self.config
        self.month = month = self.steps - 1
        self.tally = dict.fromkeys([*RECORD_KEYS, "reports", "work_agent", "work_ivr"], 0.0)
        self.agent_work = {}
        self.problem_probability = config.problem_rate / 12.0 * (1.0 - config.max_problem_reduction * self.quality)
        self.attraction_now = self.attraction(month)
        return month

    def attraction(self, month: int) -> float:
        """The outside option's pull this month: none before a competitor enters."""
        config = self.config
        if config.competitor_entry_year and month < 12 * config.competitor_entry_year:
            return 0.0
        return config.competition

    def charge(self, activity: str, channel: str, workload: float = 1.0) -> None:
        """Book one contact of this activity on this channel (its cost times the customer's workload)."""
        self.tally[f"cost_{activity}"] += getattr(self.config, f"{channel}_contact_cost") * workload
        self.tally[f"contacts_{channel}"] += 1
        self.tally[f"work_{channel}"] += workload
        if channel == "agent":
            self.agent_work[activity] = self.agent_work.get(activity, 0.0) + workload

    def _learn(self, n: int) -> None:
        """6. Feedback: problems heard of (and silent dissatisfaction found) raise quality for everyone."""
        config, reports = self.config, self.tally["reports"]
        if reports and config.distinct_problem_types:
            # the share of K equally frequent distinct problems found among all reports so far: K(1 - e^(-N/K)) / K
            self.reports += reports
            self.quality = 1.0 - math.exp(-self.reports / config.distinct_problem_types)
        elif reports:
            # saturating: quality approaches 1 however many reports arrive in one month
            learned = 1.0 - math.exp(-config.feedback_learning * reports / n)
            self.quality += (1.0 - self.quality) * learned

    def _count_states(self, customers: list[Customer]) -> None:
        """7. Quadrant (satisfaction x behavioural loyalty), Net Promoter and lifecycle counts, and the means."""
        config, tally = self.config, self.tally
        threshold = config.satisfaction_threshold
        n = len(customers)
        for c in customers:
            satisfied, loyal = c.satisfaction >= threshold, c.hazard <= self.loyal_limit
            tally[QUADRANTS[(0 if satisfied else 1) if loyal else (2 if satisfied else 3)]] += 1
            # lifecycle: the satisfied explore (tenure < 3), form (< 12), then stabilise; decline at any tenure
            tally[STAGES[(0 if c.tenure < 3 else 1 if c.tenure < 12 else 2) if satisfied else 3]] += 1
            tally["promoters"] += c.satisfaction >= config.promoter_satisfaction and (
                c.commitment >= config.promoter_commitment
            )
            tally["detractors"] += not satisfied
        tally["active"] = n
        tally["mean_satisfaction"] = sum(c.satisfaction for c in customers) / n if n else 0.0
        tally["mean_commitment"] = sum(c.commitment for c in customers) / n if n else 0.0

    def _account(self, customers: list[Customer], month: int) -> None:
        """8. The month's accounts: costs, revenue less buyers' concessions, profit and its discounted value."""
        config, tally = self.config, self.tally
        self.book_costs(customers)
        revenue = sum(c.revenue for c in customers)
        margin = revenue * config.margin
        if config.buyer_power_concession > 0.0 and revenue > 0.0:  # each buyer's concession grows with its share
            half = config.buyer_power_half_share
            conceded = sum(
                config.buyer_power_concession * c.revenue / revenue / (c.revenue / revenue + half) * c.revenue
                for c in customers
            )
            tally["concessions"] = conceded
            revenue, margin = revenue - conceded, margin - conceded
        tally["revenue"], tally["gross_margin"] = revenue, margin
        tally["relationship_cost"] = sum(tally[f"cost_{activity}"] for activity in ACTIVITIES)
        tally["acquisition_cost"] = self.acquisition_spend
        tally["profit"] = profit = margin - tally["relationship_cost"] - self.acquisition_spend
        tally["discounted_profit"] = profit / (1.0 + config.discount_rate) ** ((month + 1) / 12.0)
        tally["quality"] = self.quality
        tally["attraction"] = self.attraction_now
        tally["month"] = month + 1

    def book_costs(self, customers: list[Customer]) -> None:
        """The month's costs beyond contacts: account teams, staffing for the agent load, fixed programmes."""
        config, tally = self.config, self.tally
        partners = [c.value**config.account_cost_elasticity for c in customers if c.level.account_management]
        if config.accounts_per_manager > 0.0:  # whole managers, each carrying a workload of accounts
            managers = math.ceil(sum(partners) / config.accounts_per_manager - 1e-9) if partners else 0
            tally["account_managers"] = managers
            tally["cost_account_management"] = managers * config.account_manager_cost / 12.0
        else:
            tally["cost_account_management"] = sum(partners) * config.partnership_cost / 12.0
        agent_work = tally["work_agent"]
        if config.staffing_safety_factor > 0.0 and agent_work > 0.0:  # square-root staffing of the agent load
            positions = agent_work * 12.0 * config.contact_handle_minutes / 60.0 / 2000.0
            surcharge = config.staffing_safety_factor / math.sqrt(positions)
            for activity, work in self.agent_work.items():
                tally[f"cost_{activity}"] += surcharge * work * config.agent_contact_cost
            agent_work *= 1.0 + surcharge
        tally["cost_fixed_programme"] = self.fixed_monthly
        tally["cost_agent"] = agent_work * config.agent_contact_cost
        tally["cost_ivr"] = tally["work_ivr"] * config.ivr_contact_cost

    def _churn(self, customers: list[Customer]) -> tuple[float, int]:
        """9. Leavers are drawn, the month's stories spread, leavers go; returns the good mentions and how many stay."""
        tally = self.tally
        leavers = [c for c in customers if self.random.random() < c.hazard]
        unhappy_leavers = sum(c.satisfaction < self.config.satisfaction_threshold for c in leavers)
        tally["left"], tally["left_dissatisfied"] = len(leavers), unhappy_leavers
        good = self._word_of_mouth(customers, unhappy_leavers)
        for c in leavers:
            c.remove()
        return good, len(customers) - len(leavers)

    def _word_of_mouth(self, customers: list[Customer], unhappy_leavers: int) -> float:
        """Stories from this month's problems, unhappy leavers and promoters reach prospects; returns good mentions."""
        config, tally = self.config, self.tally
        threshold = config.satisfaction_threshold
        happy_after_problem = sum(c.had_problem and c.satisfaction >= threshold for c in customers)
        unhappy_after_problem = tally["problems"] - happy_after_problem
        tally["happy_tellers"] = happy_after_problem + tally["promoters"] / 12.0  # promoters tell about once a year
        tally["unhappy_tellers"] = unhappy_after_problem + unhappy_leavers
        tally["good_mentions"] = good = tally["happy_tellers"] * config.positive_listeners * config.word_of_mouth
        tally["bad_mentions"] = bad = tally["unhappy_tellers"] * config.negative_listeners * config.word_of_mouth
        self.heard_good = self.spread_word(self.heard_good, good)
        self.heard_bad = self.spread_word(self.heard_bad, bad)
        tally["heard_good"], tally["heard_bad"] = self.heard_good, self.heard_bad
        return good

    def spread_word(self, aware: float, mentions: float) -> float:
        """Share of prospects remembering a story: some forget, each mention reaches a random prospect."""
        keep = aware * (1.0 - self.config.wom_forgetting)
        reached = 1.0 - math.exp(-mentions / self.prospects)
        return keep + (1.0 - keep) * reached

    def _arrive(self, month: int, good: float, stayed: int) -> None:
        """10. Acquisitions: the paid flow less those put off by bad stories, and referrals, both shrinking as the
        market fills; the month's record is complete and stored, and the new customers arrive for next month with
        expectations shifted by the market's word of mouth."""
        config, tally = self.config, self.tally
        untapped = max(self.prospects - stayed, 0.0) / max(self.prospects - config.n_customers, 1.0)
        paid = self.poisson(config.acquisition_rate * config.n_customers / 12.0 * (1.0 - self.heard_bad) * untapped)
        referred = self.poisson(good * config.referral_conversion * untapped)
        tally["joined"], tally["joined_by_referral"] = paid + referred, referred
        self._count_cohorts()
        self.record = tally
        self.datacollector.collect(self)
        shift = config.wom_expectation_effect * (self.heard_good - self.heard_bad)
        for _ in range(paid + referred):
            self.customer_class(self, arrival_month=month + 1, initial=False, expectation_shift=shift)
        if (month + 1) % 12 == 0:
            self.year_start = (self.arrivals, len(self.agents))

    def poisson(self, mean: float) -> int:
        """A Poisson count: unit-rate exponential arrivals before time ``mean`` (exact, no underflow)."""
        count, clock = 0, self.random.expovariate(1.0)
        while clock < mean:
            count += 1
            clock += self.random.expovariate(1.0)
        return count

    def _count_cohorts(self) -> None:
        """Cohort counts after churn: the initial customers still here; this year's cohort at its start and now."""
        first_new, start_count = self.year_start
        self.tally["initial_cohort_active"] = sum(c.initial for c in self.agents)
        self.tally["year_cohort_active"] = sum(c.serial < first_new for c in self.agents)
        self.tally["year_cohort_start"] = start_count

    def run(self) -> ReferenceModel:
        while self.running and self.steps < self.config.periods:
            self.step()
        return self

    def monthly(self) -> pd.DataFrame:
        """One row per month, the same columns as ``RelationshipModel.monthly()``."""
        return self.datacollector.get_model_vars_dataframe().set_index("month")
