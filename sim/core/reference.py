"""The docking reference: the rules of :mod:`sim.core.model`, written again one customer at a time in plain Mesa style.

Axtell et al. (1996) "dock" two implementations of one model by checking that they agree in distribution. This
module is the second implementation: each customer is a :class:`Customer` (a ``mesa.Agent`` with scalar
attributes), the firm and its market are a :class:`ReferenceModel`, and every rule is re-expressed with scalar
Python math from the config and the level table alone; it does not use :mod:`sim.core.dynamics` or
:mod:`sim.core.population`. It is slow (pure Python loops) and meant to be read side by side with docs/MODEL.md.

All randomness comes from one generator, Mesa's ``self.random`` seeded with ``config.seed``; the draws differ from
the vectorised model's named streams, so the two agree in distribution only (tests/test_docking.py).
It implements the model with every customer mechanism of issue 13 off (sim/core/customers.py, sim/core/network.py:
the defaults) and refuses a config that switches one on; those mechanisms are tested on their own
(tests/test_customers.py, tests/test_network.py, tests/test_buying.py).
The month follows the order of :mod:`sim.core.model`; steps 1-5 and 7 are the customer's own (:meth:`Customer.step`),
the rest belongs to the firm and the market (:meth:`ReferenceModel.step`).
"""

from __future__ import annotations

import math
from functools import partial
from statistics import NormalDist
from typing import Any

import mesa
import pandas as pd

from sim.core.config import Config, ConfigError, resolve
from sim.core.customers import SWITCH, mechanisms_on
from sim.core.levels import Level
from sim.core.schema import ACTIVITIES, QUADRANTS, RECORD_KEYS, STAGES

_STANDARD_NORMAL = NormalDist()


def _logistic(x: float) -> float:
    """1 / (1 + e^-x) without overflow for large |x|."""
    if x >= 0.0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def _recorded(key: str, model: ReferenceModel) -> float:
    """DataCollector reporter for one entry of the month's record (a partial, so Mesa passes the model)."""
    return model.record[key]


class Customer(mesa.Agent):
    """One customer: traits drawn at arrival, satisfaction and loyalty state updated every month."""

    model: ReferenceModel

    def __init__(self, model: ReferenceModel, *, arrival_month: int, initial: bool, expectation_shift: float = 0.0):
        super().__init__(model)
        config, draw = model.config, model.random
        self.serial = model.arrivals  # order of arrival: cohorts are "serial below some number"
        model.arrivals += 1
        self.initial = initial

        # Value to the firm: lognormal with mean 1. Its normal score ranks customers for tiers and IVR routing.
        sigma = config.value_dispersion
        z = draw.gauss(0.0, 1.0)
        self.value = math.exp(sigma * z - sigma * sigma / 2.0)
        rank = _STANDARD_NORMAL.cdf(z)  # share of the market less valuable than this customer
        in_tier = config.tier_level != "none" and rank >= 1.0 - config.tier_share
        self.level: Level = config.level_named(config.tier_level if in_tier else config.level)
        self.routed_to_ivr = config.ivr_routing_share > 0.0 and rank < config.ivr_routing_share
        self.revenue = self.value * config.revenue_per_customer / 12.0

        # Satisfaction: perceived value (fit plus customisation) against an expectation shifted by word of mouth.
        # Customisation and structural bonds are the level's, scaled by segment; with bond_build_months they grow
        # with the months spent at the level (step), else they are there in full from the start.
        scale = config.relationship_effect_scale
        self.full_customisation = self.level.customisation_value * scale
        self.full_structural = self.level.structural_bond * scale
        built = 0.0 if config.bond_build_months > 0.0 else 1.0
        self.fit_value = 1.0 + draw.gauss(0.0, config.fit_sd)
        self.base_value = self.fit_value + built * self.full_customisation
        self.expectation = 1.0 - config.value_gap + expectation_shift + draw.gauss(0.0, config.expectation_sd)
        self.satisfaction = 0.0

        # Behaviour: complaint propensity ~ Beta with concentration 8 around its mean; questions ~ Gamma(0.5).
        mean_voice = config.complaint_propensity
        if 0.0 < mean_voice < 1.0:
            self.complaint_propensity = draw.betavariate(8.0 * mean_voice, 8.0 * (1.0 - mean_voice))
        else:
            self.complaint_propensity = mean_voice
        questions_per_month = (
            draw.gammavariate(0.5, config.inquiry_rate / 0.5) / 12.0 if config.inquiry_rate > 0.0 else 0.0
        )
        self.inquiry_probability = min(questions_per_month, 1.0) if self.level.inbound_channel else 0.0
        self.price_sensitivity = draw.betavariate(2.0, 2.0)
        self.contact_averse = draw.random() < config.contact_aversion_share
        # With wear-out, the contacts a year the customer welcomes ~ Gamma(shape 2); none if contact-averse.
        ideal = config.ideal_contacts_per_year
        self.ideal_contacts = draw.gammavariate(2.0, ideal / 2.0) if ideal > 0.0 and not self.contact_averse else 0.0
        self.contact_cycle = 0  # outbound contacts so far in the customer's contact year

        # Loyalty: financial bond ~ Gamma(2) plus the level's structural bond; the social bond grows with contacts.
        mean_cost = config.switching_cost_mean
        self.financial_bond = draw.gammavariate(2.0, mean_cost / 2.0) if mean_cost > 0.0 else 0.0
        self.switching_cost = self.financial_bond + built * self.full_structural
        self.social_bond = 0.0
        if initial:  # an established base: 1-5 years in, with some commitment built
            self.tenure = draw.randint(12, 60)
            start = config.initial_commitment
            self.commitment = start + (1.0 - start) * draw.betavariate(2.0, 2.0)
        else:
            self.tenure = 0
            self.commitment = config.initial_commitment

        # Outreach: the first contact falls 0..interval-1 months after arrival, so the workload is level over time.
        interval = self.level.outreach_interval_months
        self.next_outreach = arrival_month + draw.randint(0, interval - 1) if interval else -1

        # This month's outcomes, read by the firm after every customer has stepped.
        self.had_problem = False
        self.hazard = 0.0

    # -- the customer's month (steps 1-5 and 7) ---------------------------------------------------------------
    def step(self) -> None:
        model = self.model
        config = model.config
        draw = model.random.random

        # 1. experience: bonds built over the months at the level, then expectation-disconfirmation
        if config.bond_build_months > 0.0:
            grown = 1.0 - math.exp(-min(self.tenure, model.month) / config.bond_build_months)
            self.switching_cost = self.financial_bond + grown * self.full_structural
            self.base_value = self.fit_value + grown * self.full_customisation
        gap = self.base_value - self.expectation
        smoothing = config.satisfaction_smoothing
        self.satisfaction = (1.0 - smoothing) * self.satisfaction + smoothing * gap
        self.expectation += config.expectation_adaptation * gap

        # 2-3. one draw decides: a problem, else (with a channel) a question, else a quiet month
        u = draw()
        self.had_problem = u < model.problem_probability
        if self.had_problem:
            self.meet_problem()
        elif u < model.problem_probability + self.inquiry_probability:
            self.contact("question", routed=True)

        # 4. welcome call in the first month after the sale (tenure counts months completed before this one)
        if self.tenure == 1 and self.level.welcome_call:
            self.welcome_call()

        # 5. scheduled outreach
        if self.next_outreach == model.month:
            self.outreach()

        # 7. loyalty: commitment follows satisfaction (losses weigh more), then the leave probability
        s, c = self.satisfaction, self.commitment
        c += config.commitment_gain * s * (1.0 - c) if s > 0.0 else config.commitment_loss * s * c
        self.commitment = min(max(c, 0.0), 1.0)
        self.hazard = self.leave_probability(model.attraction_now)

    def contact(self, activity: str, *, routed: bool, bond: bool = True, automated: bool = False) -> bool:
        """Charge one contact to ``activity``; True if it went to IVR. Personal (agent) contacts build a bond."""
        ivr = automated or (routed and self.routed_to_ivr)
        config = self.model.config
        self.model.charge(activity, "ivr" if ivr else "agent", self.value**config.contact_cost_elasticity)
        if bond and not ivr:
            gain = config.social_bond_gain * config.relationship_effect_scale
            self.social_bond = min(self.social_bond + gain, config.social_bond_cap)
        return ivr

    def meet_problem(self) -> None:
        """A problem costs satisfaction unless the firm hears of it and resolves it (well and fast)."""
        model, config, level = self.model, self.model.config, self.level
        draw = model.random.random
        tally = model.tally
        tally["problems"] += 1
        major = draw() < config.major_problem_share
        impact = config.major_problem_impact if major else config.minor_problem_impact
        detected = draw() < level.problem_detection  # found through joint work: no complaint needed
        complained = warranty = False
        if not detected:
            voice = min(self.complaint_propensity * (config.major_complaint_factor if major else 1.0), 1.0)
            if level.inbound_channel:
                complained = draw() < voice
            elif config.warranty_voice_share > 0.0:  # no channel: warranty claims and returns still come in
                warranty = draw() < voice * config.warranty_voice_share
        recovered = 0.0
        if detected or complained or warranty:
            tally["problems_detected" if detected else "complaints"] += 1
            ivr = self.contact("complaint", routed=complained, bond=not warranty)  # complaints follow the routing
            # an on-site visit for a share of handled problems, charged at its expected cost
            tally["cost_field_service"] += (
                config.field_service_share * config.field_service_cost * (self.value**config.contact_cost_elasticity)
            )
            if warranty:  # repaired or replaced: resolved, slowly
                tally["recovered"] += 1
                recovered = config.slow_recovery
            elif draw() < level.resolution_probability * (config.ivr_resolution_factor if ivr else 1.0):
                tally["recovered"] += 1
                recovered = config.quick_recovery if draw() < level.quick_resolution_share else config.slow_recovery
            else:
                recovered = config.voice_relief  # heard but not resolved: voicing still relieves a little
            if level.quality_feedback:
                tally["reports"] += 1
        self.satisfaction -= impact * (1.0 - recovered)

    def welcome_call(self) -> None:
        """A call after the sale; silent dissatisfaction found is fed back and, with the resolution chance, fixed."""
        model, config = self.model, self.model.config
        automated = config.welcome_call_channel == "automated"  # an automated follow-up at the IVR's cost and rate
        self.contact("welcome_call", routed=False, automated=automated)
        threshold = config.satisfaction_threshold
        disclosure = self.level.welcome_call_detection  # the dissatisfied customer says so (or not)
        if self.satisfaction < threshold and (disclosure >= 1.0 or model.random.random() < disclosure):
            model.tally["silent_dissatisfaction_found"] += 1
            model.tally["reports"] += self.level.quality_feedback
            chance = self.level.resolution_probability * (config.ivr_resolution_factor if automated else 1.0)
            if model.random.random() < chance:
                self.satisfaction = max(threshold, 0.0)  # the shortfall is cleared ...
                self.expectation = self.base_value  # ... and expectations reset to what the offer gives

    def outreach(self) -> None:
        """A scheduled contact: useful ones add satisfaction and may sell more; unwanted ones annoy (no bond)."""
        model, config = self.model, self.model.config
        self.next_outreach += self.level.outreach_interval_months
        if config.ideal_contacts_per_year > 0.0:  # wear-out: the n-th contact of the year against the ideal number
            n = self.contact_cycle + 1
            self.contact_cycle = n % (12 // self.level.outreach_interval_months)
            unwanted = n > self.ideal_contacts
            excess = (n - self.ideal_contacts) / max(self.ideal_contacts, 1.0)
        else:
            unwanted, excess = self.contact_averse, 1.0
        if unwanted:
            self.contact("outreach", routed=False, bond=False)
            self.satisfaction -= config.annoyance * excess
            return
        self.contact("outreach", routed=False)
        self.satisfaction += config.outreach_value * config.relationship_effect_scale
        if model.random.random() < config.cross_sell_probability:
            ceiling = self.value * config.revenue_per_customer / 12.0 * (1.0 + config.max_upsell)
            self.revenue = min(self.revenue * (1.0 + config.cross_sell_uplift), ceiling)

    def leave_probability(self, attraction: float) -> float:
        """Monthly leave probability: natural churn plus switching to an outside option with this attraction."""
        model, config = self.model, self.model.config
        if attraction <= 0.0:  # a monopoly: the dissatisfied stay as hostages
            return model.natural_churn
        x = (
            config.churn_intercept
            + config.price_effect * attraction * self.price_sensitivity
            - config.satisfaction_effect * self.satisfaction
            - config.commitment_effect * self.commitment
            - config.switching_cost_effect * (self.switching_cost + self.social_bond)
        )
        return model.natural_churn + (1.0 - model.natural_churn) * attraction * _logistic(x)


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

    def attraction(self, month: int) -> float:
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

    def step(self) -> None:
        config = self.config
        self.month = month = self.steps - 1
        self.tally = tally = dict.fromkeys([*RECORD_KEYS, "reports", "work_agent", "work_ivr"], 0.0)
        self.agent_work = {}
        self.problem_probability = config.problem_rate / 12.0 * (1.0 - config.max_problem_reduction * self.quality)
        self.attraction_now = self.attraction(month)
        customers: list[Customer] = list(self.agents)
        n = len(customers)

        # 1-5, 7: each customer's own month
        self.agents.do("step")

        # 6. feedback: problems heard of (and silent dissatisfaction found) raise quality for everyone
        if tally["reports"] and config.distinct_problem_types:
            # the share of K equally frequent distinct problems found among all reports so far: K(1 - e^(-N/K)) / K
            self.reports += tally["reports"]
            self.quality = 1.0 - math.exp(-self.reports / config.distinct_problem_types)
        elif tally["reports"]:
            # saturating: quality approaches 1 however many reports arrive in one month
            learned = 1.0 - math.exp(-config.feedback_learning * tally["reports"] / n)
            self.quality += (1.0 - self.quality) * learned

        # 7. quadrant (satisfaction x behavioural loyalty), Net Promoter and lifecycle counts
        threshold = config.satisfaction_threshold
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

        # 8. the month's accounts (leavers were still customers this month)
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

        # 9. churn, and word of mouth from this month's problems, unhappy leavers and promoters
        leavers = [c for c in customers if self.random.random() < c.hazard]
        unhappy_leavers = sum(c.satisfaction < threshold for c in leavers)
        tally["left"], tally["left_dissatisfied"] = len(leavers), unhappy_leavers
        happy_after_problem = sum(c.had_problem and c.satisfaction >= threshold for c in customers)
        unhappy_after_problem = tally["problems"] - happy_after_problem
        tally["happy_tellers"] = happy_after_problem + tally["promoters"] / 12.0  # promoters tell about once a year
        tally["unhappy_tellers"] = unhappy_after_problem + unhappy_leavers
        tally["good_mentions"] = good = tally["happy_tellers"] * config.positive_listeners * config.word_of_mouth
        tally["bad_mentions"] = bad = tally["unhappy_tellers"] * config.negative_listeners * config.word_of_mouth
        self.heard_good = self.spread_word(self.heard_good, good)
        self.heard_bad = self.spread_word(self.heard_bad, bad)
        tally["heard_good"], tally["heard_bad"] = self.heard_good, self.heard_bad

        for c in leavers:
            c.remove()

        # 10a. acquisitions: paid flow less those put off by bad stories; referrals; both shrink as the market fills
        untapped = max(self.prospects - (n - len(leavers)), 0.0) / max(self.prospects - config.n_customers, 1.0)
        paid = self.poisson(config.acquisition_rate * config.n_customers / 12.0 * (1.0 - self.heard_bad) * untapped)
        referred = self.poisson(good * config.referral_conversion * untapped)
        tally["joined"], tally["joined_by_referral"] = paid + referred, referred
        first_new, start_count = self.year_start
        tally["initial_cohort_active"] = sum(c.initial for c in self.agents)
        tally["year_cohort_active"] = sum(c.serial < first_new for c in self.agents)
        tally["year_cohort_start"] = start_count
        self.record = tally
        self.datacollector.collect(self)

        # 10b. the new customers arrive for next month with expectations shifted by the market's word of mouth
        shift = config.wom_expectation_effect * (self.heard_good - self.heard_bad)
        for _ in range(paid + referred):
            self.customer_class(self, arrival_month=month + 1, initial=False, expectation_shift=shift)
        if (month + 1) % 12 == 0:
            self.year_start = (self.arrivals, len(self.agents))

        # 11. time
        for c in self.agents:
            c.tenure += 1
        self.running = self.steps < config.periods

    def spread_word(self, aware: float, mentions: float) -> float:
        """Share of prospects remembering a story: some forget, each mention reaches a random prospect."""
        keep = aware * (1.0 - self.config.wom_forgetting)
        reached = 1.0 - math.exp(-mentions / self.prospects)
        return keep + (1.0 - keep) * reached

    def poisson(self, mean: float) -> int:
        """A Poisson count: unit-rate exponential arrivals before time ``mean`` (exact, no underflow)."""
        count, clock = 0, self.random.expovariate(1.0)
        while clock < mean:
            count += 1
            clock += self.random.expovariate(1.0)
        return count

    def run(self) -> ReferenceModel:
        while self.running and self.steps < self.config.periods:
            self.step()
        return self

    def monthly(self) -> pd.DataFrame:
        """One row per month, the same columns as ``RelationshipModel.monthly()``."""
        return self.datacollector.get_model_vars_dataframe().set_index("month")
