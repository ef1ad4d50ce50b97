"""Word of mouth among existing customers (issue 13; docs/MODEL.md 7.14): a customer network, contagion of
defection along its ties, and stories told by customers that reach their contacts.

The network links customer ids. It grows in the blocks in which customers' traits are drawn (the initial base,
then each block of the arrival bank), from its own random stream, so it is a pure function of (config, seed) and
independent of what happens in the run. Each block is stored as a CSR adjacency over the ids known so far
(``indptr``, ``indices``); a customer's contacts are the union over blocks. Every operation on it is vectorised.

Ties: each customer forms Poisson(mean_degree / 2 · G) ties, G a mean-1 gamma with variance
``network_degree_dispersion`` (so degrees are negative-binomial, over-dispersed, with some hubs), to customers
known so far: with probability ``network_homophily`` one of the same value decile, otherwise anyone. Ties are
undirected, so the mean degree is about ``network_mean_degree``.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr

from sim.core.config import Config
from sim.core.customers import gamma_multiplier


def gather(indptr: np.ndarray, indices: np.ndarray, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The neighbours of ``nodes`` in one CSR block, and for each the position in ``nodes`` it belongs to."""
    nodes = nodes[nodes < len(indptr) - 1]
    start, stop = indptr[nodes], indptr[nodes + 1]
    lengths = stop - start
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    owner = np.repeat(np.arange(len(nodes)), lengths)
    offsets = np.arange(total) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return indices[np.repeat(start, lengths) + offsets], owner


class CustomerNetwork:
    """Ties between customer ids, grown block by block."""

    def __init__(self, config: Config, rng: np.random.Generator) -> None:
        self.config = config
        self.rng = rng
        self.size = 0  # ids known so far
        self.decile = np.zeros(0, np.int8)
        self.blocks: list[tuple[np.ndarray, np.ndarray]] = []

    def add(self, value: np.ndarray) -> None:
        """Add the customers whose values are ``value`` as the next ids, with the ties they form."""
        config, rng = self.config, self.rng
        count = len(value)
        first, end = self.size, self.size + count
        sigma = config.value_dispersion
        score = (np.log(value) + sigma**2 / 2) / sigma if sigma > 0 else np.zeros(count)
        self.decile = np.concatenate([self.decile, np.minimum(ndtr(score) * 10, 9).astype(np.int8)])
        self.size = end
        ties = rng.poisson(
            config.network_mean_degree / 2 * gamma_multiplier(rng, config.network_degree_dispersion, count)
        )
        source = np.repeat(np.arange(first, end), ties)
        target = rng.integers(0, end, len(source))
        similar = rng.random(len(source)) < config.network_homophily
        if similar.any():  # a random id of the same decile: index the ids sorted by decile
            order = np.argsort(self.decile, kind="stable")
            counts = np.bincount(self.decile, minlength=10)
            starts = np.cumsum(counts) - counts
            wanted = self.decile[source[similar]]
            pick = starts[wanted] + (rng.random(len(wanted)) * counts[wanted]).astype(np.int64)
            target[similar] = order[pick]
        keep = source != target
        source, target = source[keep], target[keep]
        both_from = np.concatenate([source, target])
        both_to = np.concatenate([target, source])
        order = np.argsort(both_from, kind="stable")
        indptr = np.zeros(end + 1, np.int64)
        np.cumsum(np.bincount(both_from, minlength=end), out=indptr[1:])
        self.blocks.append((indptr, both_to[order].astype(np.int32)))

    def contacts(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """All contacts of the customers ``ids`` (with repeats), and for each the position in ``ids`` it is of."""
        found = [gather(indptr, indices, ids) for indptr, indices in self.blocks]
        return np.concatenate([f[0] for f in found]), np.concatenate([f[1] for f in found])

    def degree(self, ids: np.ndarray) -> np.ndarray:
        degree = np.zeros(len(ids), np.int64)
        for indptr, _ in self.blocks:
            inside = ids < len(indptr) - 1
            degree[inside] += indptr[ids[inside] + 1] - indptr[ids[inside]]
        return degree


def position_map(customer_id: np.ndarray, next_id: int) -> np.ndarray:
    """For every customer id so far, its position in the population (-1: not a customer now)."""
    where = np.full(next_id, -1, np.int32)
    where[customer_id] = np.arange(len(customer_id), dtype=np.int32)
    return where


def positions(where: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Positions of the customers ``ids`` who are customers now (``where`` from :func:`position_map`)."""
    found = where[ids[ids < len(where)]]
    return found[found >= 0]


class WordOfMouth:
    """Contagion of defection and stories among customers (each part is off unless its field is set)."""

    def __init__(self, config: Config, streams: dict[str, np.random.Generator]) -> None:
        self.config = config
        self.stories = streams["stories"]
        has_ties = config.network_mean_degree > 0
        self.network = CustomerNetwork(config, streams["network"]) if has_ties else None
        self.contagion = has_ties and config.defection_contagion > 0
        self.telling = config.satisfied_story_rate > 0 or config.dissatisfied_story_rate > 0
        self._decay = float(np.exp(-1.0 / config.contagion_decay_months))
        self._where: np.ndarray | None = None  # this month's position map (valid until the month's churn)

    def _map(self, people: dict[str, np.ndarray], next_id: int) -> np.ndarray:
        if self._where is None or len(self._where) != next_id:
            self._where = position_map(people["customer_id"], next_id)
        return self._where

    @property
    def fields(self) -> dict[str, np.dtype]:
        return {"exposure": np.dtype(np.float32)} if self.contagion else {}

    def odds(self, people: dict[str, np.ndarray]) -> np.ndarray | None:
        """The contagion factor on each customer's leave odds: 1 + h · exposure, halved effect for committed
        customers (Nitzan & Libai 2011: loyal customers are less affected)."""
        if not self.contagion:
            return None
        config = self.config
        exposure = people["exposure"]
        effect = np.where(people["commitment"] >= config.promoter_commitment, 0.5, 1.0) * config.defection_contagion
        return (1.0 + effect * exposure).astype(np.float32)

    def decay(self, people: dict[str, np.ndarray]) -> None:
        """A month passes for every exposure (called once per step, after the leave probability)."""
        self._where = None  # a new month: positions have changed since the last map
        if self.contagion:
            people["exposure"] *= self._decay

    def defections(self, people: dict[str, np.ndarray], leavers: np.ndarray, next_id: int) -> None:
        """Each leaver's contacts who are still customers are exposed (weight 1 in the next month)."""
        if not self.contagion or len(leavers) == 0:
            return
        neighbours, _ = self.network.contacts(people["customer_id"][leavers].astype(np.int64))
        exposed = positions(self._map(people, next_id), neighbours)
        people["exposure"] += np.bincount(exposed, minlength=len(people["exposure"])).astype(np.float32)

    def tell(self, people: dict[str, np.ndarray], next_id: int) -> tuple[int, int]:
        """Stories told this month beyond problems and promoters: (satisfied tellers, dissatisfied tellers).

        A satisfied customer tells one with probability satisfied_story_rate / 12, a dissatisfied one with
        dissatisfied_story_rate / 12. Each story moves the satisfaction of the teller's contacts who are customers
        by ± wom_customer_effect (heard next month); the prospects hear it as any other story.
        """
        if not self.telling:
            return 0, 0
        config = self.config
        satisfied = people["satisfaction"] >= config.satisfaction_threshold
        chance = np.where(satisfied, config.satisfied_story_rate, config.dissatisfied_story_rate) / 12.0
        tells = self.stories.random(len(satisfied)) < chance
        good = np.flatnonzero(tells & satisfied)
        bad = np.flatnonzero(tells & ~satisfied)
        self.tellers = (people["customer_id"][good].copy(), people["customer_id"][bad].copy())
        if self.network is not None and config.wom_customer_effect > 0:
            n = len(satisfied)
            heard = np.zeros(n)
            for tellers, sign in ((good, 1.0), (bad, -1.0)):
                contacts, _ = self.network.contacts(people["customer_id"][tellers].astype(np.int64))
                heard += sign * np.bincount(positions(self._map(people, next_id), contacts), minlength=n)
            people["satisfaction"] += (config.wom_customer_effect * heard).astype(np.float32)
        return len(good), len(bad)
