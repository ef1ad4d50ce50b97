"""The firm's service within a month for a batch of runs (steps 2-5 of sim/core/model.py, as sim/core/service.py
states them for one run): problems with voice and recovery, questions, welcome calls and outreach, with their
contacts and costs booked per run.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sim.core.relational import outreach_effect
from sim.core.stacked import F32, ceil32


class ServiceRules:
    """Steps 2-5 of the month, mixed into :class:`sim.core.batch.Batch`."""

    first: Any
    n_runs: int
    capacity: int
    data: dict[str, np.ndarray]
    flat: dict[str, np.ndarray]
    p: dict[str, np.ndarray]
    tables: dict[str, np.ndarray]
    uses: dict[str, np.ndarray]
    learned: np.ndarray
    buffers: dict[str, np.ndarray]
    costs: dict[str, np.ndarray]
    contacts_agent: np.ndarray
    contacts_ivr: np.ndarray
    bond_gain: float
    outreach_value: float
    books: list[Any] | None
    row_starts: np.ndarray
    _per_run: Any
    _draw_for: Any

    def _contact(self, who: np.ndarray, activity: str, ivr: np.ndarray, builds_bond: bool = True) -> None:
        if self.books is not None:  # cost mechanisms on: each run's own books, on its own customers, in order
            for r, part in self._by_run(who):
                self.books[r].contact(activity, ivr[part], self.data["value"][r], who[part] - r * self.capacity)
        else:
            self._book_contacts(who, activity, ivr)
        if builds_bond:
            personal = who[~ivr]
            bond = self.flat["social_bond"]
            bond[personal] = np.minimum(bond[personal] + self.bond_gain, self.first.social_bond_cap)

    def _by_run(self, flat_positions: np.ndarray) -> list[tuple[int, slice]]:
        """(run, slice of ``flat_positions``) for each run with positions (they are sorted by run)."""
        bounds = np.searchsorted(flat_positions, self.row_starts)
        pairs = zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True)
        return [(r, slice(a, b)) for r, (a, b) in enumerate(pairs) if b > a]

    def _book_contacts(self, who: np.ndarray, activity: str, ivr: np.ndarray) -> None:
        """One contact per customer at the agent's or the IVR's cost, booked per run (no cost mechanism on)."""
        run = who // self.capacity
        n_ivr = np.bincount(run[ivr], minlength=self.n_runs)
        n_agent = np.bincount(run, minlength=self.n_runs) - n_ivr
        self.costs[activity] += n_agent * self.p["agent_contact_cost"] + n_ivr * self.p["ivr_contact_cost"]
        self.contacts_agent += n_agent
        self.contacts_ivr += n_ivr

    def _questions(self, uniform: np.ndarray, p: np.ndarray, threshold: np.ndarray, active: np.ndarray) -> None:
        """Questions: u < inquiry + p and u >= p (the single run adds p to the float32 inquiry probability in
        float32, or in float64 once p is a numpy number). A float32 bound above both sums picks the candidates;
        the exact sum is then formed for those few only."""
        work, inquiry = self.buffers["work"], self.data["inquiry_probability"]
        above = np.nextafter(ceil32(p), np.float32(np.inf))  # float32, at or above p: the sum can only be larger
        np.add(inquiry, above[:, None], out=work)
        candidate = np.flatnonzero((uniform < work) & active & self.uses["channel"][:, None])
        run = candidate // self.capacity
        chance = inquiry.reshape(-1)[candidate]
        exact = np.where(self.learned[run], (chance + p[run]).astype(F32), chance + p.astype(F32)[run])
        draw = uniform.reshape(-1)[candidate]
        question = candidate[(draw < exact) & (draw >= threshold[run, 0])]
        self._contact(question, "question", self.flat["routed_to_ivr"][question])

    def _problems(self, problem: np.ndarray, record: dict[str, Any]) -> np.ndarray:
        first, flat = self.first, self.flat
        record["problems"] = self._per_run(problem)
        reports = np.zeros(self.n_runs, np.int64)
        if len(problem) == 0:
            return reports
        draws = self._draw_for("service", problem, rows=5)
        level = flat["level"][problem]
        t = self.tables
        major = draws[0] < first.major_problem_share
        impact = np.where(major, first.major_problem_impact, first.minor_problem_impact)
        detected = draws[1] < t["problem_detection"][level]
        voice = np.minimum(flat["complaint_propensity"][problem] * np.where(major, first.major_complaint_factor, 1), 1)
        inbound = t["inbound_channel"][level]
        complained = ~detected & inbound & (draws[2] < voice)
        handled = detected | complained
        warranty = ~detected & ~inbound & (draws[2] < voice * first.warranty_voice_share)
        if first.warranty_voice_share:
            handled |= warranty
        ivr = np.zeros(len(problem), bool)
        ivr[complained] = flat["routed_to_ivr"][problem[complained]]
        self._contact(problem[complained], "complaint", ivr[complained])
        self._contact(problem[detected], "complaint", np.zeros(int(detected.sum()), bool))
        self._contact(problem[warranty], "complaint", np.zeros(int(warranty.sum()), bool), builds_bond=False)
        complained |= warranty
        if self.books is not None and self.books[0].field_service:  # a share of handled problems needs a visit
            visited = problem[handled]
            for r, part in self._by_run(visited):
                self.books[r].field_visits(self.data["value"][r], visited[part] - r * self.capacity)
        resolution = t["resolution_probability"][level] * np.where(ivr, first.ivr_resolution_factor, 1.0)
        resolved = handled & (draws[3] < resolution)
        quick = resolved & (draws[4] < t["quick_resolution_share"][level])
        if first.warranty_voice_share:
            resolved |= warranty
            quick &= ~warranty
        outcome = handled.astype(np.int8) + resolved + quick
        shares = np.array([0.0, first.voice_relief, first.slow_recovery, first.quick_recovery])[outcome]
        flat["satisfaction"][problem] -= (impact * (1.0 - shares)).astype(F32)
        run = problem // self.capacity
        record["complaints"] = np.bincount(run[complained], minlength=self.n_runs)
        record["problems_detected"] = np.bincount(run[detected], minlength=self.n_runs)
        record["recovered"] = np.bincount(run[resolved], minlength=self.n_runs)
        return np.bincount(run[handled & t["quality_feedback"][level]], minlength=self.n_runs)

    def _welcome_calls(self, active: np.ndarray, record: dict[str, Any]) -> np.ndarray:
        first, flat, t = self.first, self.flat, self.tables
        newcomer = np.flatnonzero((self.data["tenure"] == 1) & active)
        newcomer = newcomer[t["welcome_call"][flat["level"][newcomer]]]
        automated = first.welcome_call_channel == "automated"
        self._contact(newcomer, "welcome_call", np.full(len(newcomer), automated), builds_bond=not automated)
        satisfaction = flat["satisfaction"]
        unhappy = newcomer[satisfaction[newcomer] < first.satisfaction_threshold]
        level = flat["level"][unhappy]
        draw = self._draw_for("service", unhappy)[0]
        disclosure = t["welcome_call_detection"][level]
        found = draw < disclosure
        chance = disclosure * t["resolution_probability"][level] * (first.ivr_resolution_factor if automated else 1.0)
        fixed = unhappy[draw < chance]
        run = unhappy // self.capacity
        record["silent_dissatisfaction_found"] = np.bincount(run[found], minlength=self.n_runs)
        satisfaction[fixed] = max(first.satisfaction_threshold, 0.0)
        flat["expectation"][fixed] = flat["base_value"][fixed]
        return np.bincount(run[found & t["quality_feedback"][level]], minlength=self.n_runs)

    def _outreach(self, month: int, active: np.ndarray) -> None:
        first, flat, data = self.first, self.flat, self.data
        due_mask = (data["next_outreach"] == month) & active
        due = np.flatnonzero(due_mask)
        if len(due) == 0:
            return
        interval = self.tables["outreach_interval_months"][flat["level"][due]]
        flat["next_outreach"][due] += interval
        if first.ideal_contacts_per_year:  # contacts beyond a customer's ideal number a year annoy (wear-out)
            useful, effect = outreach_effect(flat, due, 12 // interval, self.outreach_value, first.annoyance)
            welcome, unwanted = due[useful], due[~useful]
        else:  # who welcomes a contact is a trait: both lists straight from the slots (no split of the due list)
            averse = data["contact_averse"]
            welcome, unwanted = np.flatnonzero(due_mask & ~averse), np.flatnonzero(due_mask & averse)
            effect = None
        self._contact(welcome, "outreach", np.zeros(len(welcome), bool))
        self._contact(unwanted, "outreach", np.zeros(len(unwanted), bool), builds_bond=False)
        satisfaction = flat["satisfaction"]
        if effect is None:
            satisfaction[welcome] += self.outreach_value
            satisfaction[unwanted] -= first.annoyance
        else:
            satisfaction[due] += effect.astype(F32)
        sold = welcome[self._draw_for("outreach", welcome)[0] < first.cross_sell_probability]
        revenue = flat["revenue"]
        ceiling = flat["value"][sold] * self.ceiling_rate[sold // self.capacity] * (1.0 + first.max_upsell)
        revenue[sold] = np.minimum(revenue[sold] * (1.0 + first.cross_sell_uplift), ceiling)
