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
"""

from __future__ import annotations

from functools import partial
from typing import Any

import mesa
import numpy as np
import pandas as pd

from sim.core import dynamics
from sim.core.config import Config, ConfigError, resolve
from sim.core.costs import Books, learned_quality
from sim.core.population import ArrivalBank, Population, level_table, new_customers
from sim.core.relational import BondBuilding, extra_fields, outreach_effect
from sim.core.rng import streams
from sim.core.schema import HEADLINE_KEYS, QUADRANTS, RECORD_KEYS, STAGES
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


class RelationshipModel(mesa.Model):
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
        self.population = Population(int(config.n_customers * 1.1) + 16, extra_fields(config))
        traits, extra = self.streams["traits"], self.streams["relational"]
        initial = new_customers(config, traits, config.n_customers, month=0, initial=True, extra_rng=extra)
        self.population.append(initial)
        self.arrivals = ArrivalBank(config, traits, block=config.n_customers // 8, extra_rng=extra)
        self.quality = 0.0  # product quality gained from feedback, in [0, 1]
        self.reports = 0.0  # problems fed back so far (learning from distinct problems)
        self.heard_good = 0.0  # share of prospects who remember good word of mouth
        self.heard_bad = 0.0  # ... and bad
        self.record: dict[str, float] = {}
        self._entrant: tuple[int, float] | None = None  # (first month, attraction) from competitor_enters()
        self._year_start = (config.n_customers, config.n_customers)  # (first id that joined later, count)

        # The levels in effect (config.levels) as small tables indexed by each customer's level code.
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
        config = self.config
        month = self.steps - 1
        people = self.population.active()
        n = self.population.n
        record = dict.fromkeys(RECORD_KEYS, 0.0)
        record["month"] = month + 1
        self.books.begin_month()
        satisfaction = people["satisfaction"]
        level = people["level"]
        if self.trace:
            self.trace.begin_month(n)

        # 1. experience: bonds build with time at the level, then this month's value against expectation
        if self._bonds is not None:
            self._bonds.step(people, month)
        work = self._buffer("work", n)
        dynamics.update_satisfaction(
            satisfaction,
            people["expectation"],
            people["base_value"],
            config.satisfaction_smoothing,
            config.expectation_adaptation,
            work,
        )

        # 2-3. problems and questions share one uniform per customer (mutually exclusive outcomes)
        events = self.streams["events"]
        uniform = events.random(n, dtype=np.float32, out=self._buffer("uniform", n))
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
            newcomer = newcomer[self._welcome[level[newcomer]]]
            reports += self._welcome_call(people, newcomer, record)

        # 5. outreach
        if self._uses["outreach"]:
            self._outreach(people, month)

        # 6. feedback raises quality for everyone
        if reports and config.distinct_problem_types:  # the share of distinct problems found so far
            self.reports += reports
            self.quality = learned_quality(self.reports, config.distinct_problem_types)
        elif reports:  # saturating, so that quality approaches 1 however many reports arrive in one month
            self.quality += (1.0 - self.quality) * -np.expm1(-config.feedback_learning * reports / n)

        # 7. loyalty: commitment, leave probability, quadrant and NPS
        dynamics.update_commitment(
            people["commitment"],
            satisfaction,
            config.commitment_gain,
            config.commitment_loss,
            work,
            self._buffer("hazard", n),  # free until the leave probability is computed below
        )
        attraction = self.attraction(month)
        hazard = self.leave_probability(month, out=self._buffer("hazard", n), spare=work)
        self._count_states(people, hazard, record)
        record["attraction"] = attraction

        # 8. the month's accounts (before churn: leavers were customers this month)
        self._account(people, month, record)

        # 9. churn and the word of mouth it starts
        leave = self.streams["churn"].random(n, dtype=np.float32, out=self._buffer("uniform", n))
        leavers = np.flatnonzero(leave < hazard)
        unhappy_leavers = int(np.count_nonzero(satisfaction[leavers] < config.satisfaction_threshold))
        if self.trace:
            self.trace.snapshot(month + 1, people, hazard, self.quadrant_codes(hazard, satisfaction), leavers)
        record["left"] = len(leavers)
        record["left_dissatisfied"] = unhappy_leavers
        good, _ = self._word_of_mouth(people, problem, unhappy_leavers, record)
        self.population.remove(leavers)
        paid, referred = self._acquisitions(good)
        record["joined"] = paid + referred
        record["joined_by_referral"] = referred
        self._count_cohorts(record)
        self.record = record
        self.history.append(record)
        self.datacollector.collect(self)

        # 10. acquisition: new customers arrive for next month, expectations shifted by word of mouth
        if paid + referred:
            shift = config.wom_expectation_effect * (self.heard_good - self.heard_bad)
            self.population.append(self.arrivals.take(paid + referred, month=month + 1, expectation_shift=shift))
        if (month + 1) % 12 == 0:
            self._year_start = (self.population.next_id, self.population.n)
            if self.population.compact():  # the work buffers shrink with the population
                self._buffers = {name: np.empty(0, np.float32) for name in self._buffers}

        # 11. time
        self.population.data["tenure"][: self.population.n] += 1
        self.running = self.steps < config.periods

    # ------------------------------------------------------------------------------------------------------
    def _contact(
        self,
        people: dict[str, np.ndarray],
        who: np.ndarray,
        activity: str,
        *,
        by_routing: bool,
        builds_bond: bool = True,
        automated: bool = False,
    ) -> np.ndarray:
        """Charge one contact per customer in ``who``; return the mask of those handled by IVR (all, if
        ``automated``). A contact's cost weighs value ^ ``contact_cost_elasticity`` (1 in today's model).

        Personal (agent) contacts build a social bond (Berry's tier-2 bonds), unless the contact was unwanted.
        """
        if automated:
            ivr = np.ones(len(who), bool)
        else:
            ivr = people["routed_to_ivr"][who] if by_routing else np.zeros(len(who), bool)
        cost = self.books.contact(activity, ivr, people["value"], who)
        if self.trace:
            self.trace.contact(who, cost)
        if not builds_bond:
            return ivr
        personal = who[~ivr]
        bond = people["social_bond"]
        bond[personal] = np.minimum(bond[personal] + self._bond_gain, self.config.social_bond_cap)
        return ivr

    def _problems(
        self,
        people: dict[str, np.ndarray],
        problem: np.ndarray,
        month: int,
        record: dict[str, float],
    ) -> int:
        """Problems, voice and recovery (TARP's complaint-handling outcomes). Returns reports fed back."""
        config = self.config
        count = len(problem)
        record["problems"] = count
        if count == 0:
            return 0
        service = self.streams["service"]
        draws = service.random((5, count))
        level = people["level"][problem]
        major = draws[0] < config.major_problem_share
        impact = np.where(major, config.major_problem_impact, config.minor_problem_impact)

        detected = draws[1] < self._detection[level]
        voice = np.minimum(
            people["complaint_propensity"][problem] * np.where(major, config.major_complaint_factor, 1), 1
        )
        inbound = self._inbound[level]
        complained = ~detected & inbound & (draws[2] < voice)
        handled = detected | complained
        # Without a channel, warranty claims and returns still reach the firm (a share of the voice).
        warranty = ~detected & ~inbound & (draws[2] < voice * config.warranty_voice_share)
        if config.warranty_voice_share:
            handled |= warranty

        ivr = np.zeros(count, bool)
        if complained.any():
            ivr[complained] = self._contact(people, problem[complained], "complaint", by_routing=True)
        if detected.any():
            self._contact(people, problem[detected], "complaint", by_routing=False)
        if warranty.any():
            self._contact(people, problem[warranty], "complaint", by_routing=False, builds_bond=False)
            complained |= warranty
        if self.books.field_service and handled.any():  # a share of handled problems needs a visit
            cost = self.books.field_visits(people["value"], problem[handled])
            if self.trace:
                self.trace.charge(problem[handled], cost)
        resolution = self._resolution[level] * np.where(ivr, config.ivr_resolution_factor, 1.0)
        resolved = handled & (draws[3] < resolution)
        quick = resolved & (draws[4] < self._quick[level])
        if config.warranty_voice_share:  # a warranty claim ends in a repair or replacement: resolved, slowly
            resolved |= warranty
            quick &= ~warranty
        # outcome: 0 silent, 1 complained and unresolved, 2 resolved slowly, 3 resolved quickly (nested events)
        outcome = handled.astype(np.int8) + resolved + quick
        recovered_share = np.array([0.0, config.voice_relief, config.slow_recovery, config.quick_recovery])[outcome]
        people["satisfaction"][problem] -= (impact * (1.0 - recovered_share)).astype(np.float32)
        if self.trace:
            self.trace.problems(month + 1, people["customer_id"][problem], major, outcome)

        record["complaints"] = int(np.count_nonzero(complained))
        record["problems_detected"] = int(np.count_nonzero(detected))
        record["recovered"] = int(np.count_nonzero(resolved))
        return int(np.count_nonzero(handled & self._feedback[level]))

    def _welcome_call(
        self,
        people: dict[str, np.ndarray],
        newcomer: np.ndarray,
        record: dict[str, float],
    ) -> int:
        """Call each new customer; a silently dissatisfied one is helped with the level's resolution chance.

        A dissatisfied customer says so with the level's ``welcome_call_detection`` (1 in today's model); a
        successful call resets expectations to the value the customer actually gets and clears the
        dissatisfaction. An automated follow-up (``welcome_call_channel``) costs an IVR contact and fixes with the
        IVR's resolution factor. Returns the findings fed back (every silent dissatisfaction found is a report).
        """
        if len(newcomer) == 0:
            return 0
        config = self.config
        automated = config.welcome_call_channel == "automated"
        self._contact(people, newcomer, "welcome_call", by_routing=False, automated=automated)
        satisfaction = people["satisfaction"]
        unhappy = newcomer[satisfaction[newcomer] < config.satisfaction_threshold]
        if len(unhappy) == 0:
            return 0
        level = people["level"][unhappy]
        # One uniform decides both: found with the disclosure share, and fixed within it with the resolution chance.
        draw = self.streams["service"].random(len(unhappy))
        disclosure = self._disclosure[level]
        found = draw < disclosure
        chance = disclosure * self._resolution[level] * (config.ivr_resolution_factor if automated else 1.0)
        fixed = unhappy[draw < chance]
        record["silent_dissatisfaction_found"] = int(np.count_nonzero(found))
        satisfaction[fixed] = max(config.satisfaction_threshold, 0.0)
        people["expectation"][fixed] = people["base_value"][fixed]
        return int(np.count_nonzero(found & self._feedback[level]))

    def _outreach(self, people: dict[str, np.ndarray], month: int) -> None:
        """Scheduled outbound contacts: useful ones add satisfaction and may sell more; unwanted ones annoy."""
        config = self.config
        due = np.flatnonzero(people["next_outreach"] == month)
        if len(due) == 0:
            return
        interval = self._interval[people["level"][due]]
        people["next_outreach"][due] += interval
        if config.ideal_contacts_per_year:  # contacts beyond the customer's ideal number a year annoy, more and more
            useful, effect = outreach_effect(people, due, 12 // interval, self._outreach_value, config.annoyance)
            unwanted = due[~useful]
        else:  # today's rule: contact-averse customers are annoyed by every contact, the others always gain
            averse = people["contact_averse"][due]
            useful, unwanted, effect = ~averse, due[averse], None
        welcome = due[useful]
        self._contact(people, welcome, "outreach", by_routing=False)
        # An unwanted call is still a call the firm pays for, but it builds no bond.
        self._contact(people, unwanted, "outreach", by_routing=False, builds_bond=False)
        satisfaction = people["satisfaction"]
        if effect is None:
            satisfaction[welcome] += self._outreach_value
            satisfaction[unwanted] -= config.annoyance
        else:
            satisfaction[due] += effect.astype(np.float32)

        sold = welcome[self.streams["outreach"].random(len(welcome)) < config.cross_sell_probability]
        revenue = people["revenue"]
        ceiling = people["value"][sold] * (config.revenue_per_customer / 12.0) * (1.0 + config.max_upsell)
        revenue[sold] = np.minimum(revenue[sold] * (1.0 + config.cross_sell_uplift), ceiling)

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

    def _account(self, people: dict[str, np.ndarray], month: int, record: dict[str, float]) -> None:
        config = self.config
        books = self.books
        if self._uses["account"]:
            on_account = np.flatnonzero(np.isin(people["level"], self._account_code))
            charge = books.accounts(people["value"][on_account], record)
            if self.trace:
                self.trace.charge(on_account, charge)
        revenue, gross_margin = books.close(people["revenue"], record)
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

    def _word_of_mouth(
        self, people: dict[str, np.ndarray], problem: np.ndarray, unhappy_leavers: int, record: dict[str, float]
    ) -> tuple[float, float]:
        """Stories told this month (satisfied: 3 listeners, dissatisfied: 11; TARP via the domain brief).

        Tellers: customers who had a problem this month (by how they feel about it now), dissatisfied
        leavers, and promoters, who recommend about once a year. Returns the mentions (good, bad).
        """
        config = self.config
        after_problem = people["satisfaction"][problem] >= config.satisfaction_threshold
        happy_tellers = int(np.count_nonzero(after_problem)) + record["promoters"] / 12.0
        unhappy_tellers = len(problem) - int(np.count_nonzero(after_problem)) + unhappy_leavers
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

    # ------------------------------------------------------------------------------------------------------
    def run(self) -> RelationshipModel:
        """Step to the end of the configured horizon; returns the model for chaining."""
        while self.running and self.steps < self.config.periods:
            self.step()
        return self

    def monthly(self) -> pd.DataFrame:
        """One row per month: every recorded quantity (see RECORD_KEYS)."""
        return pd.DataFrame(self.history, columns=list(RECORD_KEYS)).set_index("month")

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
        return dynamics.leave_probability(
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
