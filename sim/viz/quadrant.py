"""The satisfaction/loyalty quadrant: where the customers are now, and how to draw them.

- :func:`quadrant_snapshot` places the current customers on the quadrant (satisfaction across, loyalty = the
  12-month stay probability up), counting all of them and keeping a stable sample of at most ``max_points`` to draw
  (:func:`sample_mask`);
- :func:`draw_quadrant` draws a snapshot on a matplotlib ``Axes`` (the teaching app and the animation use it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from sim.core.model import RelationshipModel
from sim.core.schema import QUADRANTS

if TYPE_CHECKING:
    from matplotlib.axes import Axes

MAX_POINTS = 1_500  # drawn at most; more points cost render time and add nothing to the picture
SAMPLE_SEED = 20_240_607  # fixed: the same customers are drawn in every frame and every session

# Jones & Sasser's names, in the order of sim.core.model.QUADRANTS, with colours that survive colour-blindness.
QUADRANT_NAMES = {
    "loyalist": "loyalists / apostles",
    "hostage": "hostages",
    "mercenary": "mercenaries",
    "defector": "defectors / terrorists",
}
QUADRANT_COLOURS = {"loyalist": "#1b9e77", "hostage": "#7570b3", "mercenary": "#e6ab02", "defector": "#d95f02"}
SATISFACTION_RANGE = (-2.0, 1.0)  # where almost all customers are; those beyond are drawn at the edge


@dataclass(frozen=True)
class QuadrantSnapshot:
    """Where the customers are on the quadrant now.

    ``counts`` covers every active customer; ``satisfaction``, ``loyalty`` and ``quadrant`` (index into
    :data:`sim.core.model.QUADRANTS`) cover the drawn sample only.
    """

    month: int
    counts: dict[str, int]
    satisfaction: np.ndarray
    loyalty: np.ndarray
    quadrant: np.ndarray
    satisfaction_threshold: float
    loyalty_threshold: float
    attraction: float

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def counts_text(self) -> str:
        """One line with every quadrant's count and share (what the app shows and its browser test reads)."""
        total = max(self.total, 1)
        parts = [f"{QUADRANT_NAMES[name]} {count:,} ({count / total:.0%})" for name, count in self.counts.items()]
        return f"Month {self.month}: {self.total:,} customers — " + " · ".join(parts)


def sample_mask(customer_id: np.ndarray, max_points: int, seed: int = SAMPLE_SEED) -> np.ndarray:
    """A mask selecting about ``max_points`` customers (never more), the same customers from month to month.

    Each customer id gets a fixed pseudo-random key from ``seed``; a customer is drawn while its key is below the
    share ``max_points / n``. The selected sets are nested, so as customers come and go the drawn ones stay drawn
    (points move rather than flicker), and the sample is reproducible.
    """
    n = len(customer_id)
    if n <= max_points:
        return np.ones(n, bool)
    # splitmix64-style integer hash: vectorised, cheap, independent of the model's random streams
    key = customer_id.astype(np.uint64) + np.uint64(seed % 2**63)
    with np.errstate(over="ignore"):
        key = (key ^ (key >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        key = (key ^ (key >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        key ^= key >> np.uint64(31)
    mask = key < np.uint64(int(max_points / n * 2.0**64))
    if np.count_nonzero(mask) > max_points:  # the hash is uniform, so this trims a handful at most
        keep = np.flatnonzero(mask)
        mask[keep[np.argsort(key[keep])[max_points:]]] = False
    return mask


def quadrant_snapshot(
    model: RelationshipModel, max_points: int = MAX_POINTS, seed: int = SAMPLE_SEED
) -> QuadrantSnapshot:
    """The active customers on the quadrant, with the leave probability of the month just simulated."""
    config = model.config
    people = model.population.active()
    satisfaction = people["satisfaction"]
    hazard = model.leave_probability()
    loyalty = (1.0 - hazard.astype(np.float64)) ** 12  # behavioural loyalty: the 12-month stay probability
    code = model.quadrant_codes(hazard, satisfaction)  # the model's own rule (7.9)
    counts = np.bincount(code, minlength=len(QUADRANTS))
    drawn = sample_mask(people["customer_id"], max_points, seed)
    return QuadrantSnapshot(
        month=model.steps,
        counts={name: int(count) for name, count in zip(QUADRANTS, counts, strict=True)},
        satisfaction=satisfaction[drawn].astype(np.float64),
        loyalty=loyalty[drawn],
        quadrant=code[drawn],
        satisfaction_threshold=config.satisfaction_threshold,
        loyalty_threshold=config.loyalty_threshold,
        attraction=model.attraction(max(model.steps - 1, 0)),
    )


def draw_quadrant(ax: Axes, snapshot: QuadrantSnapshot, title: str | None = None, marker_size: float = 9) -> None:
    """Scatter the sampled customers, coloured by quadrant, with the thresholds and each quadrant's share."""
    low, high = SATISFACTION_RANGE
    low = min(low, snapshot.satisfaction_threshold - 0.5)
    high = max(high, snapshot.satisfaction_threshold + 0.5)
    x = np.clip(snapshot.satisfaction, low, high)
    for code, name in enumerate(QUADRANTS):
        chosen = snapshot.quadrant == code
        ax.scatter(
            x[chosen], snapshot.loyalty[chosen], s=marker_size, c=QUADRANT_COLOURS[name], alpha=0.55, linewidths=0
        )
    ax.axvline(snapshot.satisfaction_threshold, color="0.25", lw=1, ls="--")
    ax.axhline(snapshot.loyalty_threshold, color="0.25", lw=1, ls="--")
    ax.set_xlim(low, high)
    ax.set_ylim(0.0, 1.04)
    ax.set_xlabel("satisfaction (value received − expected)")
    ax.set_ylabel("loyalty (12-month stay probability)")
    total = max(snapshot.total, 1)
    corners = {  # (x, y, alignment) in axes coordinates: loyal at the top, satisfied on the right
        "loyalist": (0.98, 0.985, "right", "top"),
        "hostage": (0.02, 0.985, "left", "top"),
        "mercenary": (0.98, 0.02, "right", "bottom"),
        "defector": (0.02, 0.02, "left", "bottom"),
    }
    for name, (cx, cy, ha, va) in corners.items():
        share = snapshot.counts[name] / total
        ax.text(
            cx,
            cy,
            f"{QUADRANT_NAMES[name]} {share:.0%}",
            transform=ax.transAxes,
            ha=ha,
            va=va,
            fontsize=8.5,
            color=QUADRANT_COLOURS[name],
            fontweight="bold",
            bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "none", "alpha": 0.8},
        )
    if title:
        ax.set_title(title, fontsize=10)
