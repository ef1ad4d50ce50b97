"""Many small runs stepped together as one population (issue 14; docs/SWEEPS.md, "Batched runs").

A sweep is made of small firms, and a month of a 500-customer run costs about as much in Python and numpy call
overhead as in arithmetic. A :class:`Batch` steps R runs at once: every customer field is an R × C array, run r's
active customers are the first ``n[r]`` slots of row r, kept in the order its own run would keep them (leavers are
replaced by the last active customer, newcomers are appended), so one numpy call serves every run.

Bit for bit. Each run keeps its own named random streams (sim/core/rng.py) and draws from them exactly the numbers
its single run draws, in the same order (one call per run where the single run makes one). Every element-wise
operation is the single run's, with the run's numbers in the same precision (a Python number next to a float32
array acts as a float32 number, so the batch uses float32 column vectors there); sums over a run's customers are
taken over its row alone, in order. So a run's monthly record is identical whether it runs alone or in any batch
(tests/test_batch.py). The engine (sim/engine/runs.py) batches what it can and runs the rest singly.

What batches: every segment and level, with the cost mechanisms (kept through each run's own
:class:`~sim.core.costs.Books`), bonds that build, contact wear-out and learning from distinct problems; not the
customer mechanisms of issue 13 (:func:`unbatchable` names the first one a config switches on: such a run is
simulated alone). Runs batch together when their configs differ only in :data:`VARYING`, the fields a batch holds
per run; runs that differ in anything else (a segment, the horizon, the level definitions) go to different batches.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from sim.core import dynamics
from sim.core.batch_service import ServiceRules
from sim.core.config import Config
from sim.core.costs import Books, learned_quality
from sim.core.customers import mechanisms_on
from sim.core.population import level_table
from sim.core.relational import BondBuilding
from sim.core.rng import streams
from sim.core.schema import ACTIVITIES, RECORD_KEYS, VARYING
from sim.core.stacked import F32, Pool, StackedRuns, ceil32, rows_true, spread

_NUMBERS = tuple(name for name in VARYING if name not in ("seed", "level", "tier_level", "tier_share"))  # as floats
STREAMS = ("traits", "events", "service", "churn", "acquisition", "outreach")  # the ones the batched rules draw on


def unbatchable(config: Config) -> str | None:
    """The mechanism that keeps this run out of a batch (one of issue 13's customer mechanisms, which only the
    single model has), or None."""
    on = mechanisms_on(config)
    return on[0] if on else None


def books_per_run(config: Config) -> bool:
    """Whether a cost mechanism is on (size-dependent costs, staffing, field service, account capacity, buyer
    power): the batch then keeps each run's books with the single model's :class:`~sim.core.costs.Books`."""
    books = Books(config, ())
    return bool(books.elasticity or books.field_service or books.by_size) or bool(
        config.staffing_safety_factor or config.buyer_power_concession
    )


def batch_key(config: Config) -> tuple[Any, ...]:
    """Runs with equal keys can share a batch: every field outside :data:`VARYING` (and the horizon) agrees."""
    values = config.as_dict()
    return (config.periods, config.levels, *((k, repr(v)) for k, v in sorted(values.items()) if k not in VARYING))


class Batch(ServiceRules, StackedRuns):
    """R runs of one structure (equal :func:`batch_key`) stepped together; :meth:`run` returns each run's
    monthly record as arrays (key → values by month), equal to its single run's ``history``."""

    def __init__(self, configs: Sequence[Config], *, means: bool = True) -> None:
        self.configs = list(configs)
        first = self.configs[0]
        self.first, self.n_runs, self.periods, self.means = first, len(self.configs), first.periods, means
        self.runs = np.arange(self.n_runs)
        per_run = {name: np.array([getattr(c, name) for c in self.configs], dtype=float) for name in _NUMBERS}
        self.p = per_run
        wear_out = first.ideal_contacts_per_year > 0.0  # its traits come from the relational stream
        self.gen = [streams(c.seed, (*STREAMS, "relational") if wear_out else STREAMS) for c in self.configs]
        self.poissons = [g["acquisition"].poisson for g in self.gen]  # each run's acquisition draws
        self.pools = {
            name: Pool([g[name] for g in self.gen], dtype, least=least)
            for name, dtype, least in (
                ("events", F32, 256),
                ("churn", F32, 256),
                ("service", float, 1024),
                ("outreach", float, 1024),
            )
        }
        self._levels_in_effect()
        self.natural = dynamics.monthly_probability(first.natural_churn)
        self.loyal_limit = dynamics.loyalty_hazard_limit(first.loyalty_threshold)
        p = per_run
        self.acquisition_cost = (
            p["acquisition_rate"]
            * p["n_customers"]
            / 12.0
            * (p["acquisition_cost_multiple"] * p["keeping_cost_share"] * p["revenue_per_customer"])
        )
        self.prospects = p["market_size_multiple"] * p["n_customers"]
        self.initial_ids = p["n_customers"].astype(np.int32)  # ids below this: the initial customers
        self.ceiling_rate = (p["revenue_per_customer"] / 12.0).astype(F32)  # float32: it meets a float32 array
        scale = first.relationship_effect_scale
        self.outreach_value = first.outreach_value * scale if scale != 1.0 else first.outreach_value
        self.bond_gain = first.social_bond_gain * scale if scale != 1.0 else first.social_bond_gain
        self.quality = np.zeros(self.n_runs)
        self.reports = np.zeros(self.n_runs)  # problems fed back so far (learning from distinct problems)
        # Whether quality has become a numpy number (from its first update on): its comparisons are then in float64.
        self.learned = np.zeros(self.n_runs, bool)
        self.heard_good, self.heard_bad = np.zeros(self.n_runs), np.zeros(self.n_runs)
        self._init_population()

    def _levels_in_effect(self) -> None:
        """The level tables (shared: a batch's runs have the same levels), and per run what its policy uses."""
        levels = self.first.levels
        self.tables = {
            name: level_table(levels, name, dtype)
            for name, dtype in (
                ("inbound_channel", bool),
                ("resolution_probability", F32),
                ("quick_resolution_share", F32),
                ("welcome_call", bool),
                ("quality_feedback", bool),
                ("problem_detection", F32),
                ("welcome_call_detection", F32),
                ("outreach_interval_months", np.int16),
            )
        }
        used = [
            [c.level_named(c.level)] + ([c.level_named(c.tier_level)] if c.tier_level != "none" else [])
            for c in self.configs
        ]
        self.uses = {
            flag: np.array([any(getattr(level, attribute) for level in u) for u in used])
            for flag, attribute in (
                ("channel", "inbound_channel"),
                ("welcome", "welcome_call"),
                ("outreach", "outreach_per_year"),
                ("account", "account_management"),
            )
        }
        self.on_account = np.array([level.account_management for level in levels])  # by level code
        books = [Books(c, tuple(lv.name for lv in u)) for c, u in zip(self.configs, used, strict=True)]
        self.fixed_monthly = np.array([b.fixed_monthly for b in books])
        self.books = books if books_per_run(self.first) else None
        self.bonds = None
        if self.first.bond_build_months > 0.0:  # as the single model builds them (sim/core/relational.py)
            scale = self.first.relationship_effect_scale
            structural, custom = (level_table(levels, name, np.float64) * scale for name in BondBuilding.PARAMETERS)
            self.bonds = BondBuilding(self.first, structural, custom)

    # --- a month ------------------------------------------------------------------------------------------------
    def run(self) -> list[dict[str, np.ndarray]]:
        """Step every run to the horizon; each run's record as {key: values by month}."""
        self.record = {key: np.zeros((self.periods, self.n_runs)) for key in RECORD_KEYS}
        with np.errstate(over="ignore", invalid="ignore"):  # empty slots hold stale numbers: never counted
            for month in range(self.periods):
                self.step(month)
        by_run = {key: np.ascontiguousarray(values.T) for key, values in self.record.items()}
        return [{key: values[r] for key, values in by_run.items()} for r in range(self.n_runs)]

    def step(self, month: int) -> None:
        first, data, record = self.first, self.data, {}
        active = self.columns < self.n[:, None]
        n_start = self.n.copy()
        self.costs = {activity: np.zeros(self.n_runs) for activity in ACTIVITIES}
        self.contacts_agent, self.contacts_ivr = np.zeros(self.n_runs, np.int64), np.zeros(self.n_runs, np.int64)
        for books in self.books or ():
            books.begin_month()
        if self.bonds is not None:  # every slot's bond grows (empty slots too: they are never read)
            self.bonds.step(self.flat, month)
        satisfaction = data["satisfaction"]
        work = self.buffers["work"]
        dynamics.update_satisfaction(
            satisfaction, data["expectation"], data["base_value"], first.satisfaction_smoothing,
            first.expectation_adaptation, work,
        )  # fmt: skip
        uniform = self._draw_rows("events")
        p = self.p["problem_rate"] / 12.0 * (1.0 - first.max_problem_reduction * self.quality)
        # A Python number next to float32 compares in float32; once quality is a numpy number, in float64.
        threshold = np.where(self.learned, ceil32(p), p.astype(F32))[:, None]
        problem = np.flatnonzero((uniform < threshold) & active)
        reports = self._problems(problem, record)
        if self.uses["channel"].any():
            self._questions(uniform, p, threshold, active)
        if self.uses["welcome"].any():
            reports += self._welcome_calls(active, record)
        if self.uses["outreach"].any():
            self._outreach(month, active)
        learned = reports > 0
        if first.distinct_problem_types:  # the share of distinct problems found so far (a Python number)
            for r in np.flatnonzero(learned).tolist():
                self.reports[r] += reports[r]
                self.quality[r] = learned_quality(float(self.reports[r]), first.distinct_problem_types)
        elif learned.any():
            q = self.quality[learned]
            step = -np.expm1(-first.feedback_learning * reports[learned] / n_start[learned])
            self.quality[learned] = q + (1.0 - q) * step
            self.learned |= learned
        dynamics.update_commitment(
            data["commitment"], satisfaction, first.commitment_gain, first.commitment_loss, work, self.buffers["hazard"]
        )
        attraction = self._attraction(month)
        hazard = self._leave_probability(attraction)
        self._count_states(hazard, active, record)
        record["attraction"] = attraction
        self._accounts(month, active, record)
        self._churn(month, problem, hazard, active, record)

    def _attraction(self, month: int) -> np.ndarray:
        entry = self.p["competitor_entry_year"]
        return np.where((entry > 0) & (month < 12 * entry), 0.0, self.p["competition"])

    def _leave_probability(self, attraction: np.ndarray) -> np.ndarray:
        """The single model's dynamics.leave_probability, with each run's attraction on its row."""
        first, data = self.first, self.data
        return dynamics.leave_probability(
            data["satisfaction"],
            data["commitment"],
            data["switching_cost"],
            data["social_bond"],
            data["price_sensitivity"],
            attraction=attraction[:, None],
            natural_churn_monthly=self.natural,
            intercept=first.churn_intercept,
            satisfaction_effect=first.satisfaction_effect,
            commitment_effect=first.commitment_effect,
            switching_cost_effect=first.switching_cost_effect,
            price_effect=first.price_effect,
            out=self.buffers["hazard"],
            spare=self.buffers["work"],
        )

    def _count_states(self, hazard: np.ndarray, active: np.ndarray, record: dict[str, Any]) -> None:
        first, data = self.first, self.data
        satisfaction, commitment, tenure = data["satisfaction"], data["commitment"], data["tenure"]
        satisfied = (satisfaction >= first.satisfaction_threshold) & active
        loyal = (hazard <= self.loyal_limit) & active
        count = rows_true
        n, n_satisfied, n_loyal = self.n, count(satisfied), count(loyal)
        both = count(satisfied & loyal)
        record.update(loyalist=both, hostage=n_loyal - both, mercenary=n_satisfied - both)
        record["defector"] = n - n_loyal - n_satisfied + both
        promoter = (satisfaction >= first.promoter_satisfaction) & (commitment >= first.promoter_commitment)
        record["promoters"] = count(promoter & active)
        record["detractors"] = n - n_satisfied
        exploring = count(satisfied & (tenure < 3))
        forming = count(satisfied & (tenure < 12))
        record.update(exploration=exploring, formation=forming - exploring, stability=n_satisfied - forming)
        record["decline"] = n - n_satisfied
        record["active"] = n.copy()
        if self.means:
            for key, array in (("mean_satisfaction", satisfaction), ("mean_commitment", commitment)):
                rows = zip(array, n.tolist(), strict=True)
                record[key] = [float(np.add.reduce(row[:k])) / k if k else 0.0 for row, k in rows]

    def _accounts(self, month: int, active: np.ndarray, record: dict[str, Any]) -> None:
        p, costs = self.p, self.costs
        if self.books is not None:
            total, gross_margin = self._close_books(active, record)
        else:
            total, gross_margin = self._close(active, record)
        relationship_cost = 0
        for activity in ACTIVITIES:
            relationship_cost = relationship_cost + costs[activity]
        profit = gross_margin - relationship_cost - self.acquisition_cost
        record.update({f"cost_{activity}": value for activity, value in costs.items()})
        record.update(revenue=total, gross_margin=gross_margin, relationship_cost=relationship_cost)
        record.update(acquisition_cost=self.acquisition_cost, profit=profit, quality=self.quality.copy())
        rates = p["discount_rate"]
        factors = {rate: (1.0 + rate) ** ((month + 1) / 12.0) for rate in set(rates.tolist())}
        record["discounted_profit"] = profit / np.array([factors[rate] for rate in rates.tolist()])

    def _close_books(self, active: np.ndarray, record: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        """Each run's account teams and month-end through its own Books, as the single model keeps them."""
        data, n = self.data, self.n.tolist()
        on_account = self.on_account[data["level"]] if self.uses["account"].any() else None
        keys = ("cost_agent", "cost_ivr", "contacts_agent", "contacts_ivr", "concessions", "account_managers")
        rows: dict[str, list[float]] = {key: [] for key in (*keys, "revenue", "gross_margin")}
        costs = {activity: [] for activity in ACTIVITIES}
        for r, books in enumerate(self.books):
            entry: dict[str, float] = dict.fromkeys(keys, 0.0)
            if self.uses["account"][r]:
                books.accounts(data["value"][r, : n[r]][on_account[r, : n[r]]], entry)
            revenue, gross_margin = books.close(data["revenue"][r, : n[r]], entry)
            entry.update(revenue=revenue, gross_margin=gross_margin)
            for key, values in rows.items():
                values.append(entry[key])
            for activity, values in costs.items():
                values.append(books.costs[activity])
        self.costs.update({activity: np.array(values) for activity, values in costs.items()})
        record.update({key: np.array(rows[key]) for key in keys})
        return np.array(rows["revenue"]), np.array(rows["gross_margin"])

    def _close(self, active: np.ndarray, record: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        """The account teams and month-end of runs without cost mechanisms (the arithmetic of Books, per run)."""
        p, costs = self.p, self.costs
        if self.uses["account"].any():
            on_account = rows_true(self.on_account[self.data["level"]] & active)
            costs["account_management"] = np.where(self.uses["account"], on_account * p["partnership_cost"] / 12.0, 0.0)
        costs["fixed_programme"] = self.fixed_monthly
        record["cost_agent"] = self.contacts_agent * p["agent_contact_cost"]
        record["cost_ivr"] = self.contacts_ivr * p["ivr_contact_cost"]
        record["contacts_agent"], record["contacts_ivr"] = self.contacts_agent, self.contacts_ivr
        revenue = self.data["revenue"]
        add = np.add.reduce  # what ndarray.sum calls (the same pairwise float32 sum), without its wrapper
        total = np.array([float(add(row[:k])) for row, k in zip(revenue, self.n.tolist(), strict=True)])
        return total, total * p["margin"]

    def _churn(self, month: int, problem: np.ndarray, hazard: np.ndarray, active: np.ndarray, record: dict) -> None:
        first, flat = self.first, self.flat
        leave = self._draw_rows("churn")
        leavers = np.flatnonzero((leave < hazard) & active)
        unhappy = leavers[flat["satisfaction"][leavers] < first.satisfaction_threshold]
        record["left"] = self._per_run(leavers)
        unhappy_leavers = record["left_dissatisfied"] = self._per_run(unhappy)
        good = self._word_of_mouth(problem, unhappy_leavers, record)
        self._remove(leavers)
        prospects = self.prospects
        untapped = np.maximum(prospects - self.n, 0.0) / np.maximum(prospects - self.p["n_customers"], 1.0)
        p = self.p
        paid_rate = p["acquisition_rate"] * p["n_customers"] / 12.0 * (1.0 - self.heard_bad) * untapped
        referral_rate = good * first.referral_conversion * untapped
        won = [
            (poisson(a), poisson(b))  # paid, then referred: the single run's order
            for poisson, a, b in zip(self.poissons, paid_rate.tolist(), referral_rate.tolist(), strict=True)
        ]
        paid, referred = np.array(won, np.int64).reshape(-1, 2).T
        record["joined"], record["joined_by_referral"] = paid + referred, referred
        customer_id = self.data["customer_id"]
        active = self.columns < self.n[:, None]
        record["initial_cohort_active"] = rows_true((customer_id < self.initial_ids[:, None]) & active)
        first_new, start_count = self.year_start
        record["year_cohort_active"] = rows_true((customer_id < first_new.astype(np.int32)[:, None]) & active)
        record["year_cohort_start"] = start_count
        record["month"] = month + 1
        for key, values in record.items():
            self.record[key][month] = values
        shift = first.wom_expectation_effect * (self.heard_good - self.heard_bad)
        self._take(paid + referred, month + 1, shift)
        if (month + 1) % 12 == 0:
            self.year_start = (self.next_id.copy(), self.n.copy())
        self.data["tenure"] += 1

    def _word_of_mouth(self, problem: np.ndarray, unhappy_leavers: np.ndarray, record: dict) -> np.ndarray:
        first = self.first
        after = problem[self.flat["satisfaction"][problem] >= first.satisfaction_threshold]
        after_count, problems = self._per_run(after), self._per_run(problem)
        happy = after_count + record["promoters"] / 12.0 + 0
        unhappy = problems - after_count + unhappy_leavers + 0
        good = happy * first.positive_listeners * first.word_of_mouth
        bad = unhappy * first.negative_listeners * first.word_of_mouth
        self.heard_good = spread(self.heard_good, good, self.prospects, first.wom_forgetting)
        self.heard_bad = spread(self.heard_bad, bad, self.prospects, first.wom_forgetting)
        record.update(heard_good=self.heard_good, heard_bad=self.heard_bad, happy_tellers=happy)
        record.update(unhappy_tellers=unhappy, good_mentions=good, bad_mentions=bad)
        return good


def run_batch(configs: Sequence[Config], *, means: bool = True) -> list[dict[str, np.ndarray]]:
    """Each config's monthly record (key → values by month), all stepped as one batch (equal batch keys)."""
    return Batch(configs, means=means).run()


# A batch's size: runs whose customers fill at most BATCH_SLOTS slots (79 MiB at the peak with pools, buffers and
# records, benchmarks/bench_memory.py; sim.core.limits.BATCH_BYTES counts a batch per worker), and no run above
# LARGE_RUN customers: a run that large spreads its per-month overhead on its own.
BATCH_SLOTS = 250_000
LARGE_RUN = 20_000
MAX_RUNS = 512


def batch_size(configs: Sequence[Config]) -> int:
    """How many of these runs to step together (1: each alone)."""
    largest = max(c.n_customers for c in configs)
    if largest > LARGE_RUN:
        return 1
    slots = int(largest * 1.1) + 16
    return max(1, min(len(configs), MAX_RUNS, BATCH_SLOTS // slots))
