"""The relsim model: one firm serving a vectorised population of customers at Kotler's relationship levels.

One step is one month. The order of a step (docs/MODEL.md, section 3):

1. experience    bonds build with time at a level (if on); satisfaction and expectations move with the value
                 received (expectation-disconfirmation);
2. problems      some customers meet a problem; it costs satisfaction unless the firm hears of it (complaint,
                 joint work) and resolves it, well and fast;
3. questions     customers at levels with a channel call with questions (agent or IVR, by routing);
4. welcome call  new customers at Accountable and above get a call that finds silent dissatisfaction;
5. outreach      customers at Proactive and above get their scheduled value-adding contact (or are annoyed);
6. feedback      problems the firm heard of raise product quality (fewer problems for everyone);
7. loyalty       commitment follows satisfaction; the monthly leave probability follows from satisfaction,
                 commitment, switching cost and the outside option; quadrant and NPS are counted;
8. accounts      revenue, concessions, costs (sim/core/costs.py) and profit of the month are recorded;
9. churn         leavers go, dissatisfied ones tell others (word of mouth);
10. acquisition  paid marketing and referrals bring new customers; word of mouth shifts their expectations;
11. time         tenure grows by a month.

The customer mechanisms of issue 13 (heterogeneity, tenure effects, buying by purchase mode: sim/core/customers.py;
word of mouth among customers and contagion: sim/core/network.py) hook into these steps; all are off by default.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import mesa
import numpy as np
import pandas as pd

from sim.core import dynamics
from sim.core.config import Config, ConfigError
from sim.core.costs import Books, learned_quality
from sim.core.customers import Behaviour
from sim.core.inputs import resolve
from sim.core.market import Market
from sim.core.measures import Measures
from sim.core.network import WordOfMouth
from sim.core.population import ArrivalBank, Population, level_table, new_customers
from sim.core.relational import BondBuilding, extra_fields
from sim.core.rng import MECHANISM_STREAMS, streams
from sim.core.schema import HEADLINE_KEYS, QUADRANTS, RECORD_KEYS
from sim.core.service import ServiceSteps
from sim.core.trace import Trace


def _recorded(key: str, model: RelationshipModel) -> float:
    """DataCollector reporter: one entry of the model's record for the month (picklable through partial)."""
    return model.record[key]


def _share(key: str, model: RelationshipModel) -> float:
    """DataCollector reporter: a count of the month's record as a share of the customers served."""
    return model.record[key] / model.record["active"] if model.record["active"] else 0.0


def _cost_to_serve(model: RelationshipModel) -> float:
    """DataCollector reporter: the month's relationship cost per customer, at a yearly rate."""
    record = model.record
    return 12.0 * record["relationship_cost"] / record["active"] if record["active"] else 0.0


class RelationshipModel(ServiceSteps, Measures, Market, mesa.Model):
    """A firm and its customers, stepped monthly.

    Build it from a :class:`~sim.core.config.Config` or, as Mesa's ``batch_run`` and SolaraViz do, from flat keyword
    parameters (any field of the config) plus ``seed``::

        model = RelationshipModel(level="proactive", n_customers=5_000, seed=1)
        model.run()
        model.monthly()   # a DataFrame, one row per month
    """

    def __init__(
        self, config: Config | None = None, *, seed: int | None = None, trace: bool = False, **kwargs: Any
    ) -> None:
        config = resolve(config, seed, kwargs)  # named **kwargs: SolaraViz accepts only that name
        super().__init__(seed=config.seed)
        self.config = config
        self.trace = Trace(config.level_names) if trace else None  # individual records for validation and export
        self.streams = streams(config.seed)
        mechanisms = streams(config.seed, MECHANISM_STREAMS)
        self.behaviour = Behaviour(config, mechanisms)
        self.word_of_mouth = WordOfMouth(config, mechanisms)
        extra = {**extra_fields(config), **self.behaviour.fields(), **self.word_of_mouth.fields}
        traits = self.behaviour.traits if self.behaviour.fields() or self.word_of_mouth.fields else None
        network = self.word_of_mouth.network
        self.population = Population(int(config.n_customers * 1.1) + 16, extra)
        traits_stream, relational = self.streams["traits"], self.streams["relational"]
        initial = new_customers(
            config, traits_stream, config.n_customers, month=0, initial=True, extra_rng=relational, traits=traits
        )
        self.population.append(initial)
        if network is not None:
            network.add(initial["value"])
        self.arrivals = ArrivalBank(
            config,
            traits_stream,
            block=config.n_customers // 8,
            extra_rng=relational,
            traits=traits,
            on_block=None if network is None else network.add,
        )
        self._spend: np.ndarray | None = None  # this month's spend (non-contractual buying)
        self._resolved_quickly: np.ndarray | None = None  # which of this month's problems were resolved quickly
        self.quality = 0.0  # product quality gained from feedback, in [0, 1]
        self.reports = 0.0  # problems fed back so far (learning from distinct problems)
        self.heard_good = 0.0  # share of prospects who remember good word of mouth
        self.heard_bad = 0.0  # ... and bad
        self.record: dict[str, float] = {}
        self._entrant: tuple[int, float] | None = None  # (first month, attraction) from competitor_enters()
        self._year_start = (config.n_customers, config.n_customers)  # (first id that joined later, count)

        self._set_up_levels(config)

        # Scalars used every month.
        self._natural_churn = dynamics.monthly_probability(config.natural_churn)
        self._loyal_limit = dynamics.loyalty_hazard_limit(config.loyalty_threshold)
        self._acquisition_cost = (
            config.acquisition_cost_multiple * config.keeping_cost_share * config.revenue_per_customer
        )
        self._buffers = {name: np.empty(0, np.float32) for name in ("uniform", "hazard", "work")}

        # Every recorded quantity goes to self.history (monthly()); Mesa's DataCollector keeps the headline
        # series that Mesa's tools (batch_run, SolaraViz charts) read. Fewer reporters: less per-step overhead.
        self.history: list[dict[str, float]] = []
        self.datacollector = mesa.DataCollector(
            model_reporters={
                **{key: partial(_recorded, key) for key in HEADLINE_KEYS},
                "cost_to_serve": _cost_to_serve,
                **{f"share_{name}": partial(_share, name) for name in QUADRANTS},
            }
        )

    def _set_up_levels(self, config: Config) -> None:
        """The levels in effect (config.levels) as small tables indexed by each customer's level code; what the
        policy's levels use; the month's books; relational effects (bonds, outreach value)."""
        levels = config.levels
        self._inbound = level_table(levels, "inbound_channel", bool)
        self._resolution = level_table(levels, "resolution_probability", np.float32)
        self._quick = level_table(levels, "quick_resolution_share", np.float32)
        self._welcome = level_table(levels, "welcome_call", bool)
        self._feedback = level_table(levels, "quality_feedback", bool)
        self._detection = level_table(levels, "problem_detection", np.float32)
        self._disclosure = level_table(levels, "welcome_call_detection", np.float32)
        self._interval = level_table(levels, "outreach_interval_months", np.int16)
        used = [config.level_named(config.level)]
        if config.tier_level != "none":
            used.append(config.level_named(config.tier_level))
        self.books = Books(config, tuple(level.name for level in used))  # the month's costs (sim/core/costs.py)
        scale = config.relationship_effect_scale  # relational effects are stronger in business markets
        self._bonds = None
        if config.bond_build_months > 0.0:
            structural, custom = (level_table(levels, name, np.float64) * scale for name in BondBuilding.PARAMETERS)
            self._bonds = BondBuilding(config, structural, custom)
        self._outreach_value = config.outreach_value * scale if scale != 1.0 else config.outreach_value
        self._bond_gain = config.social_bond_gain * scale if scale != 1.0 else config.social_bond_gain
        self._uses = {
            "channel": any(level.inbound_channel for level in used),
            "welcome": any(level.welcome_call for level in used),
            "outreach": any(level.outreach_per_year for level in used),
            "account": any(level.account_management for level in used),
        }
        self._account_code = [code for code, level in enumerate(levels) if level.account_management]

    # ------------------------------------------------------------------------------------------------------
    def _buffer(self, name: str, n: int) -> np.ndarray:
        array = self._buffers[name]
        if len(array) < n:
            array = self._buffers[name] = np.empty(max(n, int(len(array) * 1.25)), np.float32)
        return array[:n]

    def attraction(self, month: int) -> float:
        """Attraction of the outside option in this month (0 before a competitor's entry)."""
        config = self.config
        if self._entrant is not None and month >= self._entrant[0]:
            return self._entrant[1]
        if config.competitor_entry_year and month < 12 * config.competitor_entry_year:
            return 0.0
        return config.competition

    def competitor_enters(self, attraction: float | None = None) -> None:
        """A competitor enters now: from the next step on, the outside option's attraction is ``attraction``
        (default ``competition``), overriding ``competition`` and ``competitor_entry_year``.

        For interactive use (the teaching app's "competitor enters" control); a scripted entry is
        ``competitor_entry_year``. Raises :class:`~sim.core.config.ConfigError` for an attraction outside [0, 1].
        """
        value = self.config.competition if attraction is None else attraction
        if not 0.0 <= value <= 1.0:  # also rejects NaN
            raise ConfigError("attraction", f"must be a number from 0 to 1; got {attraction!r}")
        self._entrant = (self.steps, float(value))

    def step(self) -> None:
        month = self.steps - 1
        people = self.population.active()
        n = self.population.n
        record = dict.fromkeys(RECORD_KEYS, 0.0)
        record["month"] = month + 1
        self.books.begin_month()
        if self.trace:
            self.trace.begin_month(n)
        work = self._buffer("work", n)
        self._experience(people, month, work)  # 1
        problem, reports = self._serve(people, month, record, work)  # 2-5
        self._learn(reports, n)  # 6
        hazard = self._loyalty(people, month, record, work)  # 7
        self._account(people, month, record)  # 8 (before churn: leavers were customers this month)
        good = self._churn(people, month, hazard, problem, record)  # 9
        self._arrive(month, good, record)  # 10
        # 11. time
        self.population.data["tenure"][: self.population.n] += 1
        if self.behaviour.tenure_effects:
            self.behaviour.age(self.population.active())
        self.running = self.steps < self.config.periods

    def _experience(self, people: dict[str, np.ndarray], month: int, work: np.ndarray) -> None:
        """1. Bonds build with time at the level, then this month's value against expectation."""
        config = self.config
        if self._bonds is not None:
            self._bonds.step(people, month)
        if self.behaviour.on["experience"]:
            self.behaviour.experience(people, work)
        else:
            dynamics.update_satisfaction(
                people["satisfaction"],
                people["expectation"],
                people["base_value"],
                config.satisfaction_smoothing,
                config.expectation_adaptation,
                work,
            )

    def _serve(
        self, people: dict[str, np.ndarray], month: int, record: dict[str, float], work: np.ndarray
    ) -> tuple[np.ndarray, int]:
        """2-5. Problems, questions, welcome calls and outreach; returns the problems and the reports fed back."""
        config = self.config
        n = len(work)
        # 2-3. problems and questions share one uniform per customer (mutually exclusive outcomes)
        uniform = self.streams["events"].random(n, dtype=np.float32, out=self._buffer("uniform", n))
        problem_probability = config.problem_rate / 12.0 * (1.0 - config.max_problem_reduction * self.quality)
        problem = np.flatnonzero(uniform < problem_probability)
        reports = self._problems(people, problem, month, record)
        if self._uses["channel"]:
            np.add(people["inquiry_probability"], problem_probability, out=work)
            question = np.flatnonzero(uniform < work)
            question = question[uniform[question] >= problem_probability]
            self._contact(people, question, "question", by_routing=True)
        # 4. the welcome call, shortly after the sale
        if self._uses["welcome"]:
            newcomer = np.flatnonzero(people["tenure"] == 1)
            newcomer = newcomer[self._welcome[people["level"][newcomer]]]
            reports += self._welcome_call(people, newcomer, record)
        # 5. outreach
        if self._uses["outreach"]:
            self._outreach(people, month)
        return problem, reports

    def _learn(self, reports: int, n: int) -> None:
        """6. Problems the firm heard of raise quality for everyone."""
        config = self.config
        if reports and config.distinct_problem_types:  # the share of distinct problems found so far
            self.reports += reports
            self.quality = learned_quality(self.reports, config.distinct_problem_types)
        elif reports:  # saturating, so that quality approaches 1 however many reports arrive in one month
            self.quality += (1.0 - self.quality) * -np.expm1(-config.feedback_learning * reports / n)

    def _loyalty(
        self, people: dict[str, np.ndarray], month: int, record: dict[str, float], work: np.ndarray
    ) -> np.ndarray:
        """7. Commitment, the leave probability, quadrant and NPS; returns the leave probability."""
        config = self.config
        n = len(work)
        dynamics.update_commitment(
            people["commitment"],
            people["satisfaction"],
            config.commitment_gain,
            config.commitment_loss,
            work,
            self._buffer("hazard", n),  # free until the leave probability is computed below
        )
        attraction = self.attraction(month)
        hazard = self.leave_probability(month, out=self._buffer("hazard", n), spare=work)
        self.word_of_mouth.decay(people)
        self._count_states(people, hazard, record)
        record["attraction"] = attraction
        return hazard

    def _churn(
        self,
        people: dict[str, np.ndarray],
        month: int,
        hazard: np.ndarray,
        problem: np.ndarray,
        record: dict[str, float],
    ) -> float:
        """9. Leavers go and dissatisfied ones tell others; the month is recorded. Returns the good mentions."""
        config = self.config
        satisfaction = people["satisfaction"]
        leave = self.streams["churn"].random(len(hazard), dtype=np.float32, out=self._buffer("uniform", len(hazard)))
        leavers = np.flatnonzero(leave < hazard)
        unhappy_leavers = int(np.count_nonzero(satisfaction[leavers] < config.satisfaction_threshold))
        if self.trace:
            self.trace.snapshot(
                month + 1, people, hazard, self.quadrant_codes(hazard, satisfaction), leavers, spend=self._spend
            )
        record["left"] = len(leavers)
        record["left_dissatisfied"] = unhappy_leavers
        good, _ = self._word_of_mouth(people, problem, unhappy_leavers, record)
        self.word_of_mouth.defections(people, leavers, self.population.next_id)
        self.population.remove(leavers)
        return good

    def _arrive(self, month: int, good: float, record: dict[str, float]) -> None:
        """10. Paid marketing and referrals win customers for next month, expectations shifted by word of mouth;
        the month's record is complete (cohort counts after churn) and stored."""
        config = self.config
        paid, referred = self._acquisitions(good)
        record["joined"] = paid + referred
        record["joined_by_referral"] = referred
        self._count_cohorts(record)
        self.record = record
        self.history.append(record)
        self.datacollector.collect(self)
        if paid + referred:
            shift = config.wom_expectation_effect * (self.heard_good - self.heard_bad)
            self.population.append(self.arrivals.take(paid + referred, month=month + 1, expectation_shift=shift))
        if (month + 1) % 12 == 0:
            self._year_start = (self.population.next_id, self.population.n)
            if self.population.compact():  # the work buffers shrink with the population
                self._buffers = {name: np.empty(0, np.float32) for name in self._buffers}

    # ------------------------------------------------------------------------------------------------------

    def _account(self, people: dict[str, np.ndarray], month: int, record: dict[str, float]) -> None:
        config = self.config
        books = self.books
        if self._uses["account"]:
            on_account = np.flatnonzero(np.isin(people["level"], self._account_code))
            charge = books.accounts(people["value"][on_account], record)
            if self.trace:
                self.trace.charge(on_account, charge)
        self._spend = self.behaviour.month_spend(people)  # None: billed monthly (contractual)
        spend = people["revenue"] if self._spend is None else self._spend
        revenue, gross_margin = books.close(spend, record)
        relationship_cost = sum(books.costs.values())
        acquisition_cost = config.acquisition_rate * config.n_customers / 12.0 * self._acquisition_cost
        profit = gross_margin - relationship_cost - acquisition_cost
        record.update({f"cost_{activity}": value for activity, value in books.costs.items()})
        record["revenue"] = revenue
        record["gross_margin"] = gross_margin
        record["relationship_cost"] = relationship_cost
        record["acquisition_cost"] = acquisition_cost
        record["profit"] = profit
        record["discounted_profit"] = profit / (1.0 + config.discount_rate) ** ((month + 1) / 12.0)
        record["quality"] = self.quality

    # ------------------------------------------------------------------------------------------------------
    def run(self) -> RelationshipModel:
        """Step to the end of the configured horizon; returns the model for chaining."""
        while self.running and self.steps < self.config.periods:
            self.step()
        return self

    def monthly(self) -> pd.DataFrame:
        """One row per month: every recorded quantity (see RECORD_KEYS)."""
        return pd.DataFrame(self.history, columns=list(RECORD_KEYS)).set_index("month")
