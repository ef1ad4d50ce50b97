"""Kotler's five relationship levels, each written as data.

A level says *what* the firm does for a customer after the sale; *which* customers get which level is decided
elsewhere (:mod:`sim.core.population` assigns a level to every customer from the run's config). Levels are
cumulative in capability, as Kotler describes them: each one keeps what the level below does and adds to it.

Adding a sixth level means one new :class:`Level` entry in :data:`LEVELS` (and one test of what it adds).
Every number here is an assumption documented in docs/MODEL.md, section 7 ("Submodels: relationship levels").
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Level:
    """What a relationship level does after the sale.

    Attributes
    ----------
    name:
        Lower-case identifier used in configs and output.
    inbound_channel:
        Customers can call with problems and questions (voice). Without it a dissatisfied customer can only
        leave (exit).
    resolution_probability:
        Probability that a handled complaint is resolved to the customer's satisfaction ("how well").
    quick_resolution_share:
        Share of resolved complaints resolved quickly, within about a day ("how fast"; the source's green
        channel promises an answer within 24 hours).
    welcome_call:
        An outbound agent call to each new customer in the month after the sale, which finds silent
        dissatisfaction.
    quality_feedback:
        Complaints and findings are passed back to product development, so quality rises for everyone.
    outreach_per_year:
        Outbound value-adding contacts per customer per year (better use, news of new products).
    problem_detection:
        Share of a customer's problems the firm finds itself through joint work, without a complaint.
    customisation_value:
        Permanent rise in the perceived value of the offer through customisation (utility units).
    structural_bond:
        Switching cost added by structural ties such as co-design and joint operations (utility units).
    account_management:
        The firm pays ``partnership_cost`` per customer-year for a dedicated account team.
    """

    name: str
    inbound_channel: bool = False
    resolution_probability: float = 0.0
    quick_resolution_share: float = 0.0
    welcome_call: bool = False
    quality_feedback: bool = False
    outreach_per_year: int = 0
    problem_detection: float = 0.0
    customisation_value: float = 0.0
    structural_bond: float = 0.0
    account_management: bool = False

    @property
    def outreach_interval_months(self) -> int:
        """Months between two outreach contacts to the same customer (0 = no outreach)."""
        return 12 // self.outreach_per_year if self.outreach_per_year else 0


LEVELS: dict[str, Level] = {
    level.name: level
    for level in (
        Level("basic"),
        Level("reactive", inbound_channel=True, resolution_probability=0.6, quick_resolution_share=0.3),
        Level(
            "accountable",
            inbound_channel=True,
            resolution_probability=0.7,
            quick_resolution_share=0.5,
            welcome_call=True,
            quality_feedback=True,
        ),
        Level(
            "proactive",
            inbound_channel=True,
            resolution_probability=0.75,
            quick_resolution_share=0.6,
            welcome_call=True,
            quality_feedback=True,
            outreach_per_year=4,
        ),
        Level(
            "partnership",
            inbound_channel=True,
            resolution_probability=0.9,
            quick_resolution_share=0.8,
            welcome_call=True,
            quality_feedback=True,
            outreach_per_year=12,
            problem_detection=0.8,
            customisation_value=0.3,
            structural_bond=1.0,
            account_management=True,
        ),
    )
}

LEVEL_NAMES: tuple[str, ...] = tuple(LEVELS)


def level_index(name: str) -> int:
    """Position of a level in :data:`LEVEL_NAMES` (the code stored per customer)."""
    return LEVEL_NAMES.index(name)
