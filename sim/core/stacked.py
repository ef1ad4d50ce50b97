"""The population of a batch of runs (sim/core/batch.py): every customer field as a runs × slots array, each run's
customers in the order its single run keeps them, and each run's random numbers handed out in the order its
single run draws them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sim.core.population import FIELDS, assemble, customer_constants, draw_traits
from sim.core.relational import contact_traits, extra_fields

F32 = np.float32


def ceil32(values: np.ndarray) -> np.ndarray:
    """The smallest float32 at or above each value: for a float32 u, u < value exactly when u < ceil32(value), so a
    comparison the single run makes in float64 can be made in float32 (faster) with the same outcome."""
    rounded = values.astype(F32)
    low = rounded.astype(float) < values
    rounded[low] = np.nextafter(rounded[low], np.float32(np.inf))
    return rounded


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

    def __init__(self, generators: list[np.random.Generator], dtype: Any, months: int = 4, least: int = 256) -> None:
        """``months``: how many months' needs a refill draws ahead; ``least``: the fewest values it draws."""
        self.generators, self.dtype, self.months, self.least = generators, np.dtype(dtype), months, least
        self.data = np.zeros((len(generators), 0), self.dtype)
        self.start = np.zeros(len(generators), np.int64)  # each run's next value
        self.end = np.zeros(len(generators), np.int64)  # each run's values drawn so far

    def _ensure(self, needed: np.ndarray) -> None:
        """At least ``needed[r]`` values ready for every run r: the runs short of them draw ``months`` × more,
        after the values they hold (moved to the front of the row first only when the row has no room left)."""
        short = np.flatnonzero(self.start + needed > self.end)
        if len(short) == 0:
            return
        more = np.maximum(needed[short] * self.months, self.least)
        width = int((self.end[short] - self.start[short] + more).max())
        if width * 2 > self.data.shape[1]:  # room for two refills: rows move to the front about every other one
            self._regrow(max(width * 3, int(self.data.shape[1] * 1.5)))
        start, end = self.start[short], self.end[short]
        room = self.data.shape[1]
        for r, begin, stop, count in zip(*(a.tolist() for a in (short, start, end, more)), strict=True):
            row = self.data[r]
            if stop + count > room:
                row[: stop - begin] = row[begin:stop].copy()
                self.start[r], stop = 0, stop - begin
            self.generators[r].random(count, dtype=self.dtype, out=row[stop : stop + count])
            self.end[r] = stop + count

    def _regrow(self, width: int) -> None:
        """A wider buffer holding only each run's values not yet handed out, at the front of its row."""
        grown = np.zeros((len(self.generators), width), self.dtype)
        for r, (begin, stop) in enumerate(zip(self.start.tolist(), self.end.tolist(), strict=True)):
            grown[r, : stop - begin] = self.data[r, begin:stop]
        self.data, self.end, self.start = grown, self.end - self.start, np.zeros_like(self.start)

    def take(self, counts: np.ndarray) -> np.ndarray:
        """The next ``counts[r]`` values of every run r, run after run."""
        self._ensure(counts)
        runs = np.flatnonzero(counts)
        total = int(counts.sum())
        if total > 32 * len(runs):  # many values a run: slices joined cost less than a gather of them all
            starts, ends = self.start[runs], self.start[runs] + counts[runs]
            rows = zip(runs.tolist(), starts.tolist(), ends.tolist(), strict=True)
            values = np.concatenate([self.data[r, a:b] for r, a, b in rows])
        else:
            values = self.data.reshape(-1)[ragged(runs * self.data.shape[1] + self.start[runs], counts[runs])]
        self.start += counts
        return values

    def rows(self, out: np.ndarray, used: np.ndarray) -> np.ndarray:
        """Run r's next ``used[r]`` values into the start of row r of ``out`` (the rest of a row is left as it is:
        no customer is there)."""
        self._ensure(used)
        data = self.data
        for r, (begin, count) in enumerate(zip(self.start.tolist(), used.tolist(), strict=True)):
            out[r, :count] = data[r, begin : begin + count]
        self.start += used
        return out


class StackedRuns:
    """The runs' customers as R × C arrays (mixed into :class:`sim.core.batch.Batch`, whose configs, streams and
    pools it uses): run r's active customers are the first ``n[r]`` slots of row r; a leaver's slot is filled by
    the run's last active customer; newcomers are appended from the run's stock of drawn traits."""

    configs: list[Any]
    first: Any
    n_runs: int
    runs: np.ndarray
    p: dict[str, np.ndarray]
    gen: list[dict[str, np.random.Generator]]
    pools: dict[str, Pool]

    def _init_population(self) -> None:
        counts = self.p["n_customers"].astype(np.int64)
        self.capacity = int((counts * 1.1).max()) + 16
        fields = {**FIELDS, **extra_fields(self.first)}  # with the fields of contact wear-out when it is on
        self.data = {name: np.zeros((self.n_runs, self.capacity), dtype) for name, dtype in fields.items()}
        self.n = np.zeros(self.n_runs, np.int64)
        self.next_id = np.zeros(self.n_runs, np.int64)
        self.constants_at: dict[int, dict[str, Any]] = {}
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
        self.row_starts = np.arange(self.n_runs + 1) * self.capacity  # flat position of each row's first slot
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
        stacked: dict[str, Any] = {}
        for key, values in self._constants(month).items():
            if key == "levels":
                stacked[key] = values[0]
                continue
            chosen = values[runs]
            same = bool((chosen == chosen[0]).all())
            # A value the runs share stays a Python number, as the single run has it (a float32 array keeps its
            # precision next to one, not next to a numpy float64).
            stacked[key] = chosen[0].item() if same else np.repeat(chosen, counts)
        fields = assemble(joined, stacked)
        if self.first.ideal_contacts_per_year > 0.0:  # contact wear-out: each run's draws from its own stream
            ends = np.cumsum(counts)
            parts = [
                contact_traits(self.configs[r], self.gen[r]["relational"], fields["contact_averse"][end - k : end])
                for r, k, end in zip(runs.tolist(), counts.tolist(), ends.tolist(), strict=True)
            ]
            fields.update({key: np.concatenate([part[key] for part in parts]) for key in parts[0]})
        return fields

    def _constants(self, month: int) -> dict[str, np.ndarray]:
        """Every run's :func:`customer_constants` at ``month`` (one array per key, by run; computed once)."""
        held = self.constants_at.get(month)
        if held is None:
            each = [customer_constants(config, month) for config in self.configs]
            held = {key: np.array([c[key] for c in each]) for key in each[0] if key != "levels"}
            held["levels"] = [each[0]["levels"]]  # a batch's runs share their level definitions
            self.constants_at = {month: held}  # arrivals are drawn at month 0 (their month is added when placed)
        return held

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
            if self.first.ideal_contacts_per_year > 0.0:
                sample.update(contact_traits(self.first, np.random.default_rng(0), sample["contact_averse"]))
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

    def _draw_rows(self, stream: str) -> np.ndarray:
        """Each run's float32 uniforms for its active customers in the first ``n[r]`` slots of row r."""
        return self.pools[stream].rows(self.buffers["uniform"], self.n)

    def _draw_for(self, stream: str, flat_positions: np.ndarray, rows: int = 1) -> np.ndarray:
        """float64 uniforms for these positions, as each run's single call random((rows, k)) gives them:
        shape (rows, positions), run by run in order."""
        counts = self._per_run(flat_positions)
        values = self.pools[stream].take(counts * rows)
        if rows == 1:  # run after run, in order: already each position's own value
            return values[None]
        run = flat_positions // self.capacity
        first = np.cumsum(counts) - counts  # where each run's positions start among flat_positions
        within = np.arange(len(flat_positions)) - first[run]
        base = rows * first[run] + within  # run r's values start at rows × (positions before r)
        return np.stack([values[base + j * counts[run]] for j in range(rows)])


def rows_true(mask: np.ndarray) -> np.ndarray:
    """How many entries of each row are true (exact; several times faster than count_nonzero along an axis)."""
    return mask.view(np.uint8).sum(axis=1, dtype=np.int32).astype(np.int64)  # int32: twice as fast as int64


def spread(aware: np.ndarray, mentions: np.ndarray, prospects: np.ndarray, forgetting: float) -> np.ndarray:
    """dynamics.spread_word for every run at once (the same operations, element-wise)."""
    reached = np.where(prospects > 0, 1.0 - np.exp(-mentions / np.where(prospects > 0, prospects, 1.0)), 0.0)
    return aware * (1.0 - forgetting) + (1.0 - aware * (1.0 - forgetting)) * reached
