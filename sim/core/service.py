"""The firm's service to its customers within a month: contacts and their costs, problems with voice and recovery,
the welcome call and outreach (steps 2-5 of :class:`sim.core.model.RelationshipModel`; docs/MODEL.md 7.2-7.5).

A part of the model class kept in its own module for size: the methods use the model's state (config, streams,
population, books, level tables) set up in ``RelationshipModel.__init__``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sim.core.relational import outreach_effect


class ServiceSteps:
    """Steps 2-5 of the month, mixed into :class:`sim.core.model.RelationshipModel`."""

    config: Any
    streams: Any
    trace: Any
    books: Any
    behaviour: Any

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
        factor = self.behaviour.cost_factor(people, who)  # tenure effect on the cost to serve (None: off)
        cost = self.books.contact(activity, ivr, people["value"], who, factor)
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
        self._resolved_quickly = quick
        if self.trace:  # transaction satisfaction: the encounter's, with the recovery's overshoot (section 7.15)
            encounter = people["satisfaction"][problem] + config.recovery_overshoot * quick
            self.trace.problems(month + 1, people["customer_id"][problem], major, outcome, encounter)

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
        if self.behaviour.on["spend"]:  # the ceiling grows with the customer's spend
            ceiling = ceiling * self.behaviour.spend_level(people, sold)
        revenue[sold] = np.minimum(revenue[sold] * (1.0 + config.cross_sell_uplift), ceiling)
