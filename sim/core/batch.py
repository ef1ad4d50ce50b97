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

What batches: the model without the optional mechanisms (:func:`unbatchable` names the first one a config
switches on). Runs batch together when their configs differ only in :data:`VARYING`, the fields a batch holds per
run; runs that differ in anything else (a segment, the horizon, the level definitions) go to different batches.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from sim.core import dynamics
from sim.core.config import Config
from sim.core.costs import Books
from sim.core.customers import mechanisms_on
from sim.core.population import FIELDS, assemble, customer_constants, draw_traits, level_table
from sim.core.rng import streams
from sim.core.schema import ACTIVITIES, RECORD_KEYS

# Fields a batch holds per run; a batch's runs agree on every other field.
VARYING = (
    "seed",
    "level",
    "tier_level",
    "tier_share",
    "n_customers",
    "competition",
    "competitor_entry_year",
    "problem_rate",
    "margin",
    "revenue_per_customer",
    "agent_contact_cost",
    "ivr_contact_cost",
    "partnership_cost",
    "acquisition_rate",
    "acquisition_cost_multiple",
    "keeping_cost_share",
    "discount_rate",
    "market_size_multiple",
)
STREAMS = ("traits", "events", "service", "churn", "acquisition", "outreach")  # the ones the batched rules draw on
F32 = np.float32


def unbatchable(config: Config) -> str | None:
    """The config field that keeps this run out of a batch (a mechanism only the single model has), or None."""
    on = mechanisms_on(config)
    if on:
        return on[0]
    switches = (
        "ideal_contacts_per_year",
        "bond_build_months",
        "distinct_problem_types",
        "contact_cost_elasticity",
        "staffing_safety_factor",
        "field_service_share",
        "accounts_per_manager",
        "account_cost_elasticity",
        "buyer_power_concession",
    )
    return next((name for name in switches if getattr(config, name)), None)


def batch_key(config: Config) -> tuple[Any, ...]:
    """Runs with equal keys can share a batch: every field outside :data:`VARYING` (and the horizon) agrees."""
    values = config.as_dict()
    return (config.periods, config.levels, *((k, repr(v)) for k, v in sorted(values.items()) if k not in VARYING))


def ragged(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenated aranges: starts[i], starts[i] + 1, ..., starts[i] + lengths[i] - 1 for every i."""
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, np.int64)
    offsets = np.cumsum(lengths) - lengths
    return np.repeat(starts - offsets, lengths) + np.arange(total)


class Pool:
    """One stream's uniforms for every run of a batch, drawn months ahead and handed out in order.

    A stream that only ever draws uniforms of one precision gives the same numbers in one long call as in many
    short ones (a generator keeps its whole state between calls, a half-used 64-bit word included), so a run takes
    its month's numbers from a block drawn earlier: one call per run per block instead of one per run per month.
    """

    def __init__(self, generators: list[np.random.Generator], dtype: Any, months: int = 12, least: int = 256) -> None:
        """``months``: how many months' needs a refill draws ahead; ``least``: the fewest values it draws."""
        self.generators, self.dtype, self.months, self.least = generators, np.dtype(dtype), months, least
        self.data = np.zeros((len(generators), 0), self.dtype)
        self.start = np.zeros(len(generators), np.int64)  # each run's next value
        self.end = np.zeros(len(generators), np.int64)  # each run's values drawn so far

    def _ensure(self, needed: np.ndarray) -> None:
        """At least ``needed[r]`` values ready for every run r: the runs short of them draw about a year's more."""
        short = np.flatnonzero(self.start + needed > self.end)
        if len(short) == 0:
            return
        left = self.end[short] - self.start[short]
        more = np.maximum(needed[short] * self.months, self.least)
        width = int((left + more).max())
        if width > self.data.shape[1]:
            grown = np.zeros((len(self.generators), max(width, int(self.data.shape[1] * 1.5))), self.dtype)
            grown[:, : self.data.shape[1]] = self.data
            self.data = grown
        for r, begin, kept, count in zip(*(a.tolist() for a in (short, self.start[short], left, more)), strict=True):
            row = self.data[r]
            row[:kept] = row[begin : begin + kept].copy()
            self.generators[r].random(count, dtype=self.dtype, out=row[kept : kept + count])
        self.start[short] = 0
        self.end[short] = left + more

    def take(self, counts: np.ndarray) -> np.ndarray:
        """The next ``counts[r]`` values of every run r, run after run."""
        self._ensure(counts)
        runs = np.flatnonzero(counts)
        index = ragged(runs * self.data.shape[1] + self.start[runs], counts[runs])
        self.start += counts
        return self.data.reshape(-1)[index]

    def rows(self, out: np.ndarray, used: np.ndarray) -> np.ndarray:
        """Run r's next ``used[r]`` values into the start of row r of ``out`` (the rest of a row is left as it is:
        no customer is there)."""
        self._ensure(used)
        data = self.data
        for r, (begin, count) in enumerate(zip(self.start.tolist(), used.tolist(), strict=True)):
            out[r, :count] = data[r, begin : begin + count]
        self.start += used
        return out


class Batch:
    """R runs of one structure (equal :func:`batch_key`) stepped together; :meth:`run` returns each run's
    monthly record as arrays (key → values by month), equal to its single run's ``history``."""

    def __init__(self, configs: Sequence[Config], *, means: bool = True) -> None:
        self.configs = list(configs)
        first = self.configs[0]
        self.first, self.n_runs, self.periods, self.means = first, len(self.configs), first.periods, means
        self.runs = np.arange(self.n_runs)
        per_run = {name: np.array([getattr(c, name) for c in self.configs], dtype=float) for name in _NUMBERS}
        self.p = per_run
        self.gen = [streams(c.seed, STREAMS) for c in self.configs]
        self.acquisition_streams = [g["acquisition"] for g in self.gen]
        self.pools = {
            name: Pool([g[name] for g in self.gen], dtype, least=least)
            for name, dtype, least in (
                ("events", F32, 256),
                ("churn", F32, 256),
                ("service", float, 4096),
                ("outreach", float, 4096),
            )
        }
        levels = first.levels
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
            for c in configs
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
        self.account_codes = [code for code, level in enumerate(levels) if level.account_management]
        self.fixed_monthly = np.array(
            [Books(c, tuple(lv.name for lv in u)).fixed_monthly for c, u in zip(configs, used, strict=True)]
        )
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
        self.ceiling_rate = (p["revenue_per_customer"] / 12.0).astype(F32)  # float32: it meets a float32 array
        scale = first.relationship_effect_scale
        self.outreach_value = first.outreach_value * scale if scale != 1.0 else first.outreach_value
        self.bond_gain = first.social_bond_gain * scale if scale != 1.0 else first.social_bond_gain
        self.quality = np.zeros(self.n_runs)
        # Whether quality has become a numpy number (from its first update on): its comparisons are then in float64.
        self.learned = np.zeros(self.n_runs, bool)
        self.heard_good, self.heard_bad = np.zeros(self.n_runs), np.zeros(self.n_runs)
        self._init_population()

    # --- the population as R × C arrays ----------------------------------------------------------------------
    def _init_population(self) -> None:
        counts = self.p["n_customers"].astype(np.int64)
        self.capacity = int((counts * 1.1).max()) + 16
        self.data = {name: np.zeros((self.n_runs, self.capacity), dtype) for name, dtype in FIELDS.items()}
        self.n = np.zeros(self.n_runs, np.int64)
        self.next_id = np.zeros(self.n_runs, np.int64)
        self._views()
        initial = self._customers(self.runs, counts, month=0, initial=True)
        self._place(initial, self.runs, counts, shift=None, month=None)
        self.year_start = (counts.copy(), counts.copy())  # (first id that joined later, count), per run
        self.block = np.maximum(counts // 8, 64)
        self.stock: dict[str, np.ndarray] = {}
        self.stock_width = 0
        self.position = np.zeros(self.n_runs, np.int64)
        self.end = np.zeros(self.n_runs, np.int64)

    def _views(self) -> None:
        self.flat = {name: array.reshape(-1) for name, array in self.data.items()}
        self.columns = np.arange(self.capacity)
        self.buffers = {name: np.zeros((self.n_runs, self.capacity), F32) for name in ("uniform", "hazard", "work")}

    def _grow(self, needed: int) -> None:
        capacity = max(needed, int(self.capacity * 1.25) + 1)
        for name, array in self.data.items():
            grown = np.zeros((self.n_runs, capacity), array.dtype)
            grown[:, : self.capacity] = array
            self.data[name] = grown
        self.capacity = capacity
        self._views()

    def _customers(self, runs: np.ndarray, counts: np.ndarray, *, month: int, initial: bool) -> dict[str, np.ndarray]:
        """New customers of the given runs (``counts[i]`` for ``runs[i]``), each run's draws from its own stream."""
        draws = [
            draw_traits(self.configs[r], self.gen[r]["traits"], int(k), initial=initial)
            for r, k in zip(runs.tolist(), counts.tolist(), strict=True)
        ]
        joined = {key: np.concatenate([d[key] for d in draws]) for key in draws[0]}
        constants = [customer_constants(self.configs[r], month) for r in runs.tolist()]
        stacked: dict[str, Any] = {}
        for key, value in constants[0].items():
            values = [c[key] for c in constants]
            same = all(v == value for v in values[1:]) if key != "levels" else True
            stacked[key] = value if same else np.repeat(np.array(values), counts)
        return assemble(joined, stacked)

    def _place(
        self, fields: dict[str, np.ndarray], runs: np.ndarray, counts: np.ndarray, shift: Any, month: int | None
    ) -> None:
        """Append ``fields`` (``counts[i]`` customers for ``runs[i]``, in order) after each run's active ones."""
        counts = counts.astype(np.int64)
        needed = int((self.n[runs] + counts).max()) if len(runs) else 0
        if needed > self.capacity:
            self._grow(needed)
        target = ragged(runs * self.capacity + self.n[runs], counts)
        owner = np.repeat(runs, counts)
        self.flat["customer_id"][target] = ragged(self.next_id[runs], counts)
        for name, array in self.flat.items():
            if name == "customer_id":
                continue
            values = fields[name]
            if name == "expectation" and shift is not None:
                values = values + shift[owner]
            elif name == "next_outreach" and month is not None:
                values = np.where(values >= 0, values + month, -1)
            array[target] = values
        self.n[runs] += counts
        self.next_id[runs] += counts

    def _take(self, counts: np.ndarray, month: int, shift: np.ndarray) -> None:
        """New customers from each run's stock of drawn traits (blocks drawn as the run's own bank draws them)."""
        runs = np.flatnonzero(counts)
        if len(runs) == 0:
            return
        counts = counts[runs]
        short = counts > self.end[runs] - self.position[runs]
        if short.any():
            self._refill(runs[short], counts[short])
        source = ragged(runs * self.stock_width + self.position[runs], counts)
        fields = {name: array.reshape(-1)[source] for name, array in self.stock.items()}
        self.position[runs] += counts
        self._place(fields, runs, counts, shift, month)

    def _refill(self, runs: np.ndarray, counts: np.ndarray) -> None:
        left = self.end[runs] - self.position[runs]
        blocks = -(-(counts - left) // self.block[runs])  # whole blocks, as the single run's bank draws them
        fresh = blocks * self.block[runs]
        width = int((left + fresh).max())
        if width > self.stock_width:
            self._grow_stock(width)
        parts = np.repeat(runs, blocks)
        drawn = self._customers(parts, self.block[parts], month=0, initial=False)
        width = self.stock_width
        keep_from, keep_to = ragged(runs * width + self.position[runs], left), ragged(runs * width, left)
        target = ragged(runs * width + left, fresh)
        for name, array in self.stock.items():
            flat = array.reshape(-1)
            flat[keep_to] = flat[keep_from]
            flat[target] = drawn[name]
        self.position[runs] = 0
        self.end[runs] = left + fresh

    def _grow_stock(self, width: int) -> None:
        width = max(width, int(self.stock_width * 1.5))
        if not self.stock:
            # The fields' dtypes, from no customers drawn from a throwaway generator (no run's stream moves).
            none = draw_traits(self.first, np.random.default_rng(0), 0, initial=False)
            sample = assemble(none, customer_constants(self.first, 0))
            self.stock = {name: np.zeros((self.n_runs, width), array.dtype) for name, array in sample.items()}
        else:
            for name, array in self.stock.items():
                grown = np.zeros((self.n_runs, width), array.dtype)
                grown[:, : self.stock_width] = array
                self.stock[name] = grown
        self.stock_width = width

    def _remove(self, leavers: np.ndarray) -> None:
        """Swap-remove the leavers (flat positions, sorted): each run's last active customers fill its holes."""
        if len(leavers) == 0:
            return
        run, position = np.divmod(leavers, self.capacity)
        count = np.bincount(run, minlength=self.n_runs)
        after = self.n - count
        hole = position < after[run]
        tail = ragged(self.runs * self.capacity + after, count)  # each run's last `count` slots, in order
        offsets = np.cumsum(count) - count
        stays = np.ones(len(tail), bool)
        stays[offsets[run[~hole]] + position[~hole] - after[run[~hole]]] = False
        holes, movers = leavers[hole], tail[stays]
        for array in self.flat.values():
            array[holes] = array[movers]
        self.n = after

    # --- helpers over runs --------------------------------------------------------------------------------------
    def _per_run(self, flat_positions: np.ndarray) -> np.ndarray:
        return np.bincount(flat_positions // self.capacity, minlength=self.n_runs)

    def _split(self, flat_positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Runs with at least one of these positions, and how many each has."""
        counts = self._per_run(flat_positions)
        runs = np.flatnonzero(counts)
        return runs, counts[runs]

    def _draw_rows(self, stream: str) -> np.ndarray:
        """Each run's float32 uniforms for its active customers in the first ``n[r]`` slots of row r."""
        return self.pools[stream].rows(self.buffers["uniform"], self.n)

    def _draw_for(self, stream: str, flat_positions: np.ndarray, rows: int = 1) -> np.ndarray:
        """float64 uniforms for these positions, as each run's single call random((rows, k)) gives them:
        shape (rows, positions), run by run in order."""
        counts = self._per_run(flat_positions)
        values = self.pools[stream].take(counts * rows)
        run = flat_positions // self.capacity
        first = np.cumsum(counts) - counts  # where each run's positions start among flat_positions
        within = np.arange(len(flat_positions)) - first[run]
        base = rows * first[run] + within  # run r's values start at rows × (positions before r)
        return np.stack([values[base + j * counts[run]] for j in range(rows)])

    def _contact(self, who: np.ndarray, activity: str, ivr: np.ndarray, builds_bond: bool = True) -> None:
        run = who // self.capacity
        n_ivr = np.bincount(run[ivr], minlength=self.n_runs)
        n_agent = np.bincount(run, minlength=self.n_runs) - n_ivr
        self.costs[activity] += n_agent * self.p["agent_contact_cost"] + n_ivr * self.p["ivr_contact_cost"]
        self.contacts_agent += n_agent
        self.contacts_ivr += n_ivr
        if builds_bond:
            personal = who[~ivr]
            bond = self.flat["social_bond"]
            bond[personal] = np.minimum(bond[personal] + self.bond_gain, self.first.social_bond_cap)

    # --- a month ------------------------------------------------------------------------------------------------
    def run(self) -> list[dict[str, np.ndarray]]:
        """Step every run to the horizon; each run's record as {key: values by month}."""
        self.record = {key: np.zeros((self.periods, self.n_runs)) for key in RECORD_KEYS}
        with np.errstate(over="ignore", invalid="ignore"):  # empty slots hold stale numbers: never counted
            for month in range(self.periods):
                self.step(month)
        return [{key: values[:, r] for key, values in self.record.items()} for r in range(self.n_runs)]

    def step(self, month: int) -> None:
        first, data, record = self.first, self.data, {}
        active = self.columns < self.n[:, None]
        n_start = self.n.copy()
        self.costs = {activity: np.zeros(self.n_runs) for activity in ACTIVITIES}
        self.contacts_agent, self.contacts_ivr = np.zeros(self.n_runs, np.int64), np.zeros(self.n_runs, np.int64)
        satisfaction = data["satisfaction"]
        work = self.buffers["work"]
        dynamics.update_satisfaction(
            satisfaction, data["expectation"], data["base_value"], first.satisfaction_smoothing,
            first.expectation_adaptation, work,
        )  # fmt: skip
        uniform = self._draw_rows("events")
        p = self.p["problem_rate"] / 12.0 * (1.0 - first.max_problem_reduction * self.quality)
        # A Python number next to float32 compares in float32; once quality is a numpy number, in float64.
        threshold = np.where(self.learned, p, p.astype(F32).astype(float))[:, None]
        problem = np.flatnonzero((uniform < threshold) & active)
        reports = self._problems(problem, record)
        if self.uses["channel"].any():
            self._questions(uniform, p, threshold, active)
        if self.uses["welcome"].any():
            reports += self._welcome_calls(active, record)
        if self.uses["outreach"].any():
            self._outreach(month, active)
        learned = reports > 0
        if learned.any():
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

    def _questions(self, uniform: np.ndarray, p: np.ndarray, threshold: np.ndarray, active: np.ndarray) -> None:
        work, inquiry = self.buffers["work"], self.data["inquiry_probability"]
        if self.learned.all():
            np.add(inquiry, p[:, None], out=work, casting="same_kind")
        elif not self.learned.any():
            np.add(inquiry, p.astype(F32)[:, None], out=work)
        else:
            np.copyto(work, np.where(self.learned[:, None], inquiry + p[:, None], inquiry + p.astype(F32)[:, None]))
        rows = self.uses["channel"][:, None]
        question = np.flatnonzero((uniform < work) & (uniform >= threshold) & active & rows)
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
        first, flat = self.first, self.flat
        due = np.flatnonzero((self.data["next_outreach"] == month) & active)
        if len(due) == 0:
            return
        flat["next_outreach"][due] += self.tables["outreach_interval_months"][flat["level"][due]]
        averse = flat["contact_averse"][due]
        welcome, unwanted = due[~averse], due[averse]
        self._contact(welcome, "outreach", np.zeros(len(welcome), bool))
        self._contact(unwanted, "outreach", np.zeros(len(unwanted), bool), builds_bond=False)
        satisfaction = flat["satisfaction"]
        satisfaction[welcome] += self.outreach_value
        satisfaction[unwanted] -= first.annoyance
        sold = welcome[self._draw_for("outreach", welcome)[0] < first.cross_sell_probability]
        revenue = flat["revenue"]
        ceiling = flat["value"][sold] * self.ceiling_rate[sold // self.capacity] * (1.0 + first.max_upsell)
        revenue[sold] = np.minimum(revenue[sold] * (1.0 + first.cross_sell_uplift), ceiling)

    def _attraction(self, month: int) -> np.ndarray:
        entry = self.p["competitor_entry_year"]
        return np.where((entry > 0) & (month < 12 * entry), 0.0, self.p["competition"])

    def _leave_probability(self, attraction: np.ndarray) -> np.ndarray:
        """dynamics.leave_probability with each run's attraction (float32 columns where it meets float32)."""
        first, data = self.first, self.data
        out, spare = self.buffers["hazard"], self.buffers["work"]
        np.add(data["switching_cost"], data["social_bond"], out=out)
        out *= first.switching_cost_effect
        np.multiply(data["satisfaction"], first.satisfaction_effect, out=spare)
        out += spare
        np.multiply(data["commitment"], first.commitment_effect, out=spare)
        out += spare
        np.multiply(data["price_sensitivity"], (first.price_effect * attraction).astype(F32)[:, None], out=spare)
        out -= spare
        out -= first.churn_intercept
        np.exp(out, out=out)
        out += 1.0
        np.reciprocal(out, out=out)
        out *= ((1.0 - self.natural) * attraction).astype(F32)[:, None]
        out += self.natural
        out[attraction <= 0.0] = self.natural  # a monopoly: natural churn only
        return out

    def _count_states(self, hazard: np.ndarray, active: np.ndarray, record: dict[str, Any]) -> None:
        first, data = self.first, self.data
        satisfaction, commitment, tenure = data["satisfaction"], data["commitment"], data["tenure"]
        satisfied = (satisfaction >= first.satisfaction_threshold) & active
        loyal = (hazard <= self.loyal_limit) & active
        count = np.count_nonzero
        n, n_satisfied, n_loyal = self.n, count(satisfied, axis=1), count(loyal, axis=1)
        both = count(satisfied & loyal, axis=1)
        record.update(loyalist=both, hostage=n_loyal - both, mercenary=n_satisfied - both)
        record["defector"] = n - n_loyal - n_satisfied + both
        promoter = (satisfaction >= first.promoter_satisfaction) & (commitment >= first.promoter_commitment)
        record["promoters"] = count(promoter & active, axis=1)
        record["detractors"] = n - n_satisfied
        exploring = count(satisfied & (tenure < 3), axis=1)
        forming = count(satisfied & (tenure < 12), axis=1)
        record.update(exploration=exploring, formation=forming - exploring, stability=n_satisfied - forming)
        record["decline"] = n - n_satisfied
        record["active"] = n.copy()
        if self.means:
            for key, array in (("mean_satisfaction", satisfaction), ("mean_commitment", commitment)):
                rows = zip(array, n.tolist(), strict=True)
                record[key] = [float(np.add.reduce(row[:k])) / k if k else 0.0 for row, k in rows]

    def _accounts(self, month: int, active: np.ndarray, record: dict[str, Any]) -> None:
        p, costs = self.p, self.costs
        if self.uses["account"].any():
            on_account = np.count_nonzero(np.isin(self.data["level"], self.account_codes) & active, axis=1)
            costs["account_management"] = np.where(self.uses["account"], on_account * p["partnership_cost"] / 12.0, 0.0)
        costs["fixed_programme"] = self.fixed_monthly
        record["cost_agent"] = self.contacts_agent * p["agent_contact_cost"]
        record["cost_ivr"] = self.contacts_ivr * p["ivr_contact_cost"]
        record["contacts_agent"], record["contacts_ivr"] = self.contacts_agent, self.contacts_ivr
        revenue = self.data["revenue"]
        add = np.add.reduce  # what ndarray.sum calls (the same pairwise float32 sum), without its wrapper
        total = np.array([float(add(row[:k])) for row, k in zip(revenue, self.n.tolist(), strict=True)])
        gross_margin = total * p["margin"]
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
            (rng.poisson(a), rng.poisson(b))  # paid, then referred: the single run's order
            for rng, a, b in zip(self.acquisition_streams, paid_rate.tolist(), referral_rate.tolist(), strict=True)
        ]
        paid, referred = np.array(won, np.int64).reshape(-1, 2).T
        record["joined"], record["joined_by_referral"] = paid + referred, referred
        customer_id = self.data["customer_id"]
        active = self.columns < self.n[:, None]
        record["initial_cohort_active"] = np.count_nonzero((customer_id < p["n_customers"][:, None]) & active, axis=1)
        first_new, start_count = self.year_start
        record["year_cohort_active"] = np.count_nonzero((customer_id < first_new[:, None]) & active, axis=1)
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
        self.heard_good = _spread(self.heard_good, good, self.prospects, first.wom_forgetting)
        self.heard_bad = _spread(self.heard_bad, bad, self.prospects, first.wom_forgetting)
        record.update(heard_good=self.heard_good, heard_bad=self.heard_bad, happy_tellers=happy)
        record.update(unhappy_tellers=unhappy, good_mentions=good, bad_mentions=bad)
        return good


# Per-run numbers of VARYING (and what they imply), as float64 arrays.
_NUMBERS = tuple(name for name in VARYING if name not in ("seed", "level", "tier_level", "tier_share"))


def _spread(aware: np.ndarray, mentions: np.ndarray, prospects: np.ndarray, forgetting: float) -> np.ndarray:
    """dynamics.spread_word for every run at once (the same operations, element-wise)."""
    reached = np.where(prospects > 0, 1.0 - np.exp(-mentions / np.where(prospects > 0, prospects, 1.0)), 0.0)
    return aware * (1.0 - forgetting) + (1.0 - aware * (1.0 - forgetting)) * reached


def run_batch(configs: Sequence[Config], *, means: bool = True) -> list[dict[str, np.ndarray]]:
    """Each config's monthly record (key → values by month), all stepped as one batch (equal batch keys)."""
    return Batch(configs, means=means).run()


def batch_size(configs: Sequence[Config], memory_bytes: float = 256e6) -> int:
    """How many runs of this size to step together: enough to spread the per-month overhead, bounded by memory
    (about 100 bytes per customer slot for the fields and work buffers)."""
    slots = max(int(max(c.n_customers for c in configs) * 1.1) + 16, 1)
    return max(1, min(len(configs), int(memory_bytes // (100 * slots)), math.ceil(2_000_000 / slots)))
