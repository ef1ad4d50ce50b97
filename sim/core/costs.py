"""The firm's books for a month, and the cost-to-serve mechanisms through which the number and size of customers
matter (issue 12; docs/MODEL.md 7.10; the evidence in docs/EVIDENCE.md, section 3).

- fixed programme costs: each level the policy uses costs ``fixed_cost`` × ``fixed_cost_scale`` a year, however
  many customers it serves;
- scale economies in service: an agent contact costs ``agent_contact_cost`` × (1 + β / √R), R the month's agent
  load in staffed positions (square-root staffing);
- cost to serve that scales with size: a contact's cost, and an account's team workload, weigh value_i ^ elasticity
  (value is 1 for a customer of mean value);
- field service: a share of handled problems needs a visit, charged at its expected cost;
- account-manager capacity: account teams come in whole managers, each carrying ``accounts_per_manager`` workload;
- buyer power: a customer with share s of the firm's revenue takes c(s) = concession × s / (s + half share) off its
  price, so off the margin;
- product learning from distinct problems (:func:`learned_quality`).

Each mechanism is off at its config default (the generic segment, today's model), and then the books are kept
exactly as before. The model (:mod:`sim.core.model`) books into a :class:`Books` object during its step; the
docking reference (:mod:`sim.core.reference`) restates the same rules one customer at a time.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from sim.core.config import Config
from sim.core.schema import ACTIVITIES

STAFFED_HOURS_PER_YEAR = 2000.0  # one staffed position a year (EVIDENCE 3.2)


def size_dependent(config: Config) -> list[str]:
    """The switched-on mechanisms whose effect depends on the number of customers itself (so a run on a sample of
    the customers, scaled up, would misstate them): empty in today's model."""
    return [
        name
        for name in ("fixed_cost_scale", "staffing_safety_factor", "distinct_problem_types", "accounts_per_manager")
        if getattr(config, name)
    ] + (["buyer_power_concession"] if config.buyer_power_concession else [])


def weights(value: np.ndarray, elasticity: float) -> np.ndarray:
    """Workload of each customer relative to a customer of mean value: value ^ elasticity."""
    return np.power(value, elasticity, dtype=np.float64)


def learned_quality(reports: float, problem_types: int) -> float:
    """Quality from ``reports`` problems fed back in total, among ``problem_types`` equally frequent distinct ones.

    The expected number of distinct types among the reports is K (1 − e^(−N/K)) (Nielsen & Landauer 1993); quality
    is the share found, so a firm with more customers learns faster, with diminishing returns.
    """
    return -math.expm1(-reports / problem_types)


def staffing_factor(config: Config, agent_units: float) -> float:
    """An agent contact's cost relative to a large centre's, 1 + β / √R, at this month's agent load.

    R = agent contacts a year (this month's × 12) × handle time / staffed hours a year: the positions the load
    needs before safety staffing (Borst, Mandelbaum & Reiman 2004).
    """
    if agent_units <= 0.0:
        return 1.0
    load = agent_units * 12.0 * config.contact_handle_minutes / 60.0 / STAFFED_HOURS_PER_YEAR
    return 1.0 + config.staffing_safety_factor / math.sqrt(load)


def account_team(config: Config, value: np.ndarray) -> tuple[float, int, Any]:
    """The month's account-team cost for the customers served with one (their values given), the managers it takes
    (0 without a capacity) and each customer's part of the cost (for the individual records).

    Without a capacity each account costs ``partnership_cost`` × workload a year; with one, the team is
    ceil(Σ workload / ``accounts_per_manager``) managers at ``account_manager_cost`` a year: a step function of the
    number of accounts.
    """
    if config.account_cost_elasticity:
        workload = weights(value, config.account_cost_elasticity)
        total = float(workload.sum())
    else:
        workload, total = np.ones(len(value)), float(len(value))
    if not config.accounts_per_manager:
        return total * config.partnership_cost / 12.0, 0, workload * (config.partnership_cost / 12.0)
    managers = math.ceil(total / config.accounts_per_manager - 1e-9) if total > 0 else 0
    cost = managers * config.account_manager_cost / 12.0
    return cost, managers, workload * (cost / total) if total > 0 else 0.0


def concessions(config: Config, revenue: np.ndarray, total: float) -> float:
    """Dollars conceded this month: Σ c(s_i) × revenue_i, with s_i = revenue_i / the firm's revenue ``total``."""
    if total <= 0.0:
        return 0.0
    revenue = revenue.astype(np.float64)
    share = revenue / total
    rate = share / (share + config.buyer_power_half_share)
    rate *= revenue
    return config.buyer_power_concession * float(rate.sum())  # no BLAS dot: it contends for cores under load


class Books:
    """What the firm spends in a month, by activity and channel, with the run's cost mechanisms applied."""

    def __init__(self, config: Config, used_levels: tuple[str, ...]) -> None:
        self.config = config
        self.fixed_monthly = (
            config.fixed_cost_scale * sum(config.level_named(name).fixed_cost for name in set(used_levels)) / 12.0
        )
        self.elasticity = config.contact_cost_elasticity
        self.field_service = config.field_service_share * config.field_service_cost
        self.by_size = bool(config.accounts_per_manager or config.account_cost_elasticity)
        self.begin_month()

    def begin_month(self) -> None:
        self.costs = dict.fromkeys(ACTIVITIES, 0.0)
        self.contacts = {"agent": 0, "ivr": 0}
        self.agent_units = dict.fromkeys(ACTIVITIES, 0.0)  # agent contacts weighted by workload, per activity
        self.ivr_units = 0.0

    def contact(self, activity: str, ivr: np.ndarray, value: np.ndarray, who: np.ndarray) -> Any:
        """Book one contact per customer ``who`` (``ivr``: those handled automatically); returns each one's cost."""
        config = self.config
        n_ivr = int(np.count_nonzero(ivr))
        n_agent = len(ivr) - n_ivr
        agent_units, ivr_units, weight = n_agent, n_ivr, 1.0
        if self.elasticity:  # bigger accounts cost more to talk to
            weight = weights(value[who], self.elasticity)
            ivr_units, agent_units = float(weight[ivr].sum()), float(weight[~ivr].sum())
        self.costs[activity] += agent_units * config.agent_contact_cost + ivr_units * config.ivr_contact_cost
        self.contacts["agent"] += n_agent
        self.contacts["ivr"] += n_ivr
        self.agent_units[activity] += agent_units
        self.ivr_units += ivr_units
        return np.where(ivr, config.ivr_contact_cost, config.agent_contact_cost) * weight

    def field_visits(self, value: np.ndarray, who: np.ndarray) -> Any:
        """Book the expected cost of an on-site visit for each handled problem of ``who``; returns each one's cost."""
        if self.elasticity:
            cost = self.field_service * weights(value[who], self.elasticity)
            self.costs["field_service"] += float(cost.sum())
            return cost
        self.costs["field_service"] += self.field_service * len(who)
        return self.field_service

    def accounts(self, value: np.ndarray, record: dict[str, float]) -> Any:
        """Book the account team of the customers (``value``) served with one; returns each one's cost."""
        config = self.config
        if self.by_size:  # managers carry a workload; bigger accounts weigh more
            cost, record["account_managers"], charge = account_team(config, value)
        else:
            cost, charge = len(value) * config.partnership_cost / 12.0, config.partnership_cost / 12.0
        self.costs["account_management"] = cost
        return charge

    def close(self, revenue: np.ndarray, record: dict[str, float]) -> tuple[float, float]:
        """Add the month's staffing surcharge, fixed programme costs and concessions; record the channel costs.
        Returns (revenue after concessions, gross margin)."""
        config = self.config
        agent_units, ivr_units = self.contacts["agent"], self.contacts["ivr"]
        if self.elasticity:
            agent_units, ivr_units = sum(self.agent_units.values()), self.ivr_units
        if config.staffing_safety_factor:  # small centres pay for safety staffing: every agent contact costs more
            factor = staffing_factor(config, agent_units)
            for activity, units in self.agent_units.items():
                self.costs[activity] += (factor - 1.0) * units * config.agent_contact_cost
            agent_units *= factor
        self.costs["fixed_programme"] = self.fixed_monthly
        record["cost_agent"] = agent_units * config.agent_contact_cost
        record["cost_ivr"] = ivr_units * config.ivr_contact_cost
        record["contacts_agent"] = self.contacts["agent"]
        record["contacts_ivr"] = self.contacts["ivr"]
        total = float(revenue.sum())  # float32 pairwise summation: relative error ~1e-7
        gross_margin = total * config.margin
        if config.buyer_power_concession:  # large buyers take a concession off the price, so off the margin
            record["concessions"] = conceded = concessions(config, revenue, total)
            total -= conceded
            gross_margin -= conceded
        return total, gross_margin
