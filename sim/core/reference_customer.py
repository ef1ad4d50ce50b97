"""One customer of the docking reference (:mod:`sim.core.reference`): a ``mesa.Agent`` with scalar attributes.

Its traits are drawn at arrival and its own month is steps 1-5 and 7 of :mod:`sim.core.model`'s order
(:meth:`Customer.step`): experience, problems and questions, the welcome call, outreach, loyalty. Contacts are booked
and counted by the firm (:meth:`sim.core.reference.ReferenceModel.charge`, ``model.tally``);
all draws come from the model's one generator, in the order written here.
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Any

import mesa

from sim.core.levels import Level

_STANDARD_NORMAL = NormalDist()


def _logistic(x: float) -> float:
    """1 / (1 + e^-x) without overflow for large |x|."""
    if x >= 0.0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


class Customer(mesa.Agent):
    """One customer: traits drawn at arrival, satisfaction and loyalty state updated every month."""

    model: Any  # the ReferenceModel; sim.core.reference imports this module, so it is not imported back

    def __init__(self, model: Any, *, arrival_month: int, initial: bool, expectation_shift: float = 0.0):
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
