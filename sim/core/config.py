"""Run configuration: every input of a run, with its unit, default and allowed range, in one place.

A :class:`Config` is immutable and validated on creation, so a run never starts with a value out of range.
Configs come from keyword arguments, a TOML file, or ``key=value`` overrides from the command line; all three paths
go through the same checks and fail with a :class:`ConfigError` naming the field and what is allowed.
The sources behind the defaults are in docs/MODEL.md (section 6, "Input").

The relationship levels in effect are part of the config (``config.levels``; :mod:`sim.core.levels`). A file
changes them in ``[levels.NAME]`` tables (the only tables it may have); everywhere else a level parameter is the
flat name ``levels.NAME.PARAMETER``, which ``--set``, sweeps and :meth:`Config.as_dict` use.

A run names its customer ``segment`` (:mod:`sim.core.segments`): the segment's profile gives every segment field
the run does not set itself. Build configs with :func:`from_mapping`, :func:`~sim.core.inputs.load` or
:meth:`Config.replace`, which apply the profile; the constructor takes every field as given. :func:`from_mapping`
lives beside the class because :meth:`Config.replace` is built on it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sim.core import fields
from sim.core.fields import choice, flat_levels, param
from sim.core.levels import (
    DEFAULT_LEVELS,
    DISPLAY,
    LEVEL_NAMES,
    PARAMETERS,
    SPECS,
    Level,
    define_levels,
    render_text,
    same_value,
)
from sim.core.segments import DEFAULT_SEGMENT, SEGMENT_NAMES, SHIPPED, Segment, read_segments
from sim.errors import ConfigError

LEVEL_KEYS = ("based_on", *DISPLAY)  # what a [levels.NAME] table may set besides the parameters


TIER_CHOICES = ("none", *LEVEL_NAMES)
PURCHASE_MODES = ("contractual", "noncontractual")


@dataclass(frozen=True)
class Config:
    """All inputs of one run. Units are per customer unless stated; money is in dollars."""

    # --- the run -------------------------------------------------------------------------------------------
    level: str = choice("reactive", LEVEL_NAMES, "relationship level the firm serves its customers at")
    tier_level: str = choice(
        "none", TIER_CHOICES, "level for the most valuable customers (tiered policy); none = uniform"
    )
    tier_share: float = param(0.0, "share", 0.0, 1.0, "share of customers, by value, served at tier_level")
    n_customers: int = param(10_000, "customers", 1, 10_000_000, "customers at the start of the run")
    years: int = param(10, "years", 1, 100, "simulated horizon (12 monthly steps per year)")
    seed: int = param(0, "", 0, 2**63 - 1, "root seed; every random stream is derived from it")

    # --- economics ------------------------------------------------------------------------------------------
    revenue_per_customer: float = param(1000.0, "$/year", 1e-6, 1e12, "mean revenue of a customer per year")
    margin: float = param(0.3, "share", 0.0, 1.0, "gross margin on revenue")
    discount_rate: float = param(0.1, "1/year", 0.0, 1.0, "annual rate used for discounted profit")
    agent_contact_cost: float = param(5.0, "$/contact", 0.0, 1e6, "cost of a contact handled by a live agent")
    ivr_contact_cost: float = param(0.36, "$/contact", 0.0, 1e6, "cost of an automated (IVR/web) contact")
    ivr_routing_share: float = param(
        0.0, "share", 0.0, 1.0, "share of customers, lowest value first, whose inbound contacts go to IVR"
    )
    ivr_resolution_factor: float = param(
        0.5, "factor", 0.0, 1.0, "resolution probability of an IVR-handled complaint relative to an agent"
    )
    partnership_cost: float = param(5000.0, "$/customer/year", 0.0, 1e12, "account-team cost of a Partnership customer")
    acquisition_cost_multiple: float = param(
        5.0, "factor", 0.0, 1000.0, "cost of winning a customer as a multiple of the yearly cost of keeping one"
    )
    keeping_cost_share: float = param(
        0.05, "share of revenue", 0.0, 1.0, "yearly cost of keeping a customer, the reference for the multiple"
    )
    acquisition_rate: float = param(
        0.2, "1/year", 0.0, 10.0, "paid acquisitions per year as a share of n_customers (fixed marketing effort)"
    )

    # --- market ---------------------------------------------------------------------------------------------
    problem_rate: float = param(0.3, "problems/year", 0.0, 12.0, "rate at which a customer meets a problem")
    major_problem_share: float = param(0.25, "share", 0.0, 1.0, "share of problems that are major")
    competition: float = param(
        0.5, "attraction", 0.0, 1.0, "attraction of the outside option; 0 = monopoly (no alternative)"
    )
    competitor_entry_year: int = param(
        0,
        "years",
        0,
        100,
        "years of monopoly before a competitor enters (N: it enters in month 12N+1); 0 = competitors from the start",
    )
    word_of_mouth: float = param(1.0, "factor", 0.0, 100.0, "scales how many people each story reaches")
    positive_listeners: float = param(3.0, "people", 0.0, 1000.0, "people a satisfied customer tells")
    negative_listeners: float = param(11.0, "people", 0.0, 1000.0, "people a dissatisfied customer tells")
    referral_conversion: float = param(0.05, "share", 0.0, 1.0, "share of people told good news who become customers")
    market_size_multiple: float = param(
        10.0, "factor", 1.0, 1e6, "prospects in the market as a multiple of n_customers"
    )
    wom_forgetting: float = param(0.1, "1/month", 0.0, 1.0, "share of prospects who forget a story each month")
    wom_expectation_effect: float = param(
        0.2, "utility", 0.0, 10.0, "shift of new customers' expectation from the market's net word of mouth"
    )
    natural_churn: float = param(
        0.05, "1/year", 0.0, 1.0, "leaving for reasons the firm cannot influence (moving, closing down)"
    )

    # --- customers: traits and behaviour (the free parameters that calibration may fit) ------------------------
    value_dispersion: float = param(
        1.68, "log-sd", 0.0, 4.0, "spread of customer value (lognormal); 1.68 gives the 80/20 pattern"
    )
    fit_sd: float = param(0.1, "utility", 0.0, 5.0, "spread of how well the offer fits a customer")
    expectation_sd: float = param(0.15, "utility", 0.0, 5.0, "spread of expectations around the market norm")
    value_gap: float = param(
        0.2, "utility", -5.0, 5.0, "mean amount by which the offer's value exceeds a new customer's expectation"
    )
    satisfaction_smoothing: float = param(
        0.15, "1/month", 1e-6, 1.0, "weight of the newest disconfirmation in cumulative satisfaction"
    )
    expectation_adaptation: float = param(
        0.02, "1/month", 0.0, 1.0, "speed at which expectations move towards the value received"
    )
    minor_problem_impact: float = param(1.6515, "utility", 0.0, 100.0, "satisfaction lost to a minor problem")
    major_problem_impact: float = param(2.744, "utility", 0.0, 100.0, "satisfaction lost to a major problem")
    voice_relief: float = param(0.2361, "share", 0.0, 1.0, "share of the loss recovered by complaining, unresolved")
    slow_recovery: float = param(0.5106, "share", 0.0, 1.0, "share of the loss recovered by a slow resolution")
    quick_recovery: float = param(0.7362, "share", 0.0, 1.0, "share of the loss recovered by a quick resolution")
    complaint_propensity: float = param(
        0.25, "probability", 0.0, 1.0, "mean chance that a customer voices a minor problem (beta across customers)"
    )
    major_complaint_factor: float = param(2.0, "factor", 1.0, 100.0, "complaint propensity multiplier, major")
    inquiry_rate: float = param(1.0, "contacts/year", 0.0, 100.0, "mean questions per customer (gamma)")
    commitment_gain: float = param(0.1, "1/month", 0.0, 1.0, "growth of commitment per unit of satisfaction")
    commitment_loss: float = param(0.2, "1/month", 0.0, 1.0, "loss of commitment per unit of dissatisfaction")
    initial_commitment: float = param(0.3, "commitment", 0.0, 1.0, "commitment of a new customer")
    churn_intercept: float = param(-2.4382, "logit", -50.0, 50.0, "baseline of the switching decision")
    satisfaction_effect: float = param(2.241, "logit/utility", 0.0, 100.0, "weight of satisfaction on staying")
    commitment_effect: float = param(2.0, "logit", 0.0, 100.0, "weight of commitment on staying")
    switching_cost_effect: float = param(2.0, "logit/utility", 0.0, 100.0, "weight of switching cost on staying")
    price_effect: float = param(2.0, "logit", 0.0, 100.0, "pull of competitors' prices on sensitive customers")
    switching_cost_mean: float = param(
        0.3, "utility", 0.0, 100.0, "mean financial switching cost (gamma across customers)"
    )
    social_bond_gain: float = param(0.05, "utility", 0.0, 10.0, "switching cost added by each personal contact")
    social_bond_cap: float = param(0.5, "utility", 0.0, 100.0, "largest social switching cost")
    contact_aversion_share: float = param(
        0.25, "share", 0.0, 1.0, "share of customers who find unsolicited contact unwanted"
    )
    outreach_value: float = param(0.1, "utility", 0.0, 10.0, "satisfaction gained from a useful outreach")
    annoyance: float = param(0.1, "utility", 0.0, 10.0, "satisfaction lost to an unwanted outreach")
    cross_sell_probability: float = param(0.1, "probability", 0.0, 1.0, "chance a useful outreach sells more")
    cross_sell_uplift: float = param(0.05, "share", 0.0, 10.0, "revenue added by one cross-sale")
    max_upsell: float = param(0.5, "share", 0.0, 100.0, "largest revenue added by cross-selling")
    feedback_learning: float = param(
        0.5, "quality/report", 0.0, 100.0, "quality gained per complaint fed back, per customer"
    )
    max_problem_reduction: float = param(0.5, "share", 0.0, 1.0, "share of problems that full product quality removes")

    # --- measurement ----------------------------------------------------------------------------------------
    satisfaction_threshold: float = param(0.0, "utility", -100.0, 100.0, "satisfied at or above this")
    loyalty_threshold: float = param(0.8, "probability", 0.0, 1.0, "loyal if 12-month stay chance is this or more")
    promoter_satisfaction: float = param(0.1, "utility", -100.0, 100.0, "promoters are at least this satisfied")
    promoter_commitment: float = param(0.6, "commitment", 0.0, 1.0, "and at least this committed")

    # --- customer segments and the mechanisms through which the number of customers matters (issue 12) --------
    # Every default is the mechanism's "off" value, today's model, which is the generic segment; the named segments
    # of sim/core/segments.toml switch the mechanisms on with their sourced values (docs/EVIDENCE.md 2-3).
    segment: str = choice(
        DEFAULT_SEGMENT, SEGMENT_NAMES, "customer segment whose profile gives the segment fields a run does not set"
    )
    warranty_voice_share: float = param(
        0.0, "share", 0.0, 1.0, "share of complaint propensity reaching a firm without a channel (warranty, returns)"
    )
    welcome_call_channel: str = choice(
        "agent", ("agent", "automated"), "who makes the welcome call: an agent, or an automated follow-up (IVR cost)"
    )
    field_service_cost: float = param(0.0, "$/visit", 0.0, 1e7, "cost of an on-site service visit")
    field_service_share: float = param(0.0, "share", 0.0, 1.0, "share of handled problems that need an on-site visit")
    fixed_cost_scale: float = param(
        0.0, "factor", 0.0, 1000.0, "factor on each used level's fixed_cost a year; 0 = no fixed programme costs"
    )
    staffing_safety_factor: float = param(
        0.0, "factor", 0.0, 100.0, "beta of square-root staffing: agent cost x (1 + beta/sqrt(load)); 0 = flat cost"
    )
    contact_handle_minutes: float = param(6.0, "minutes", 0.01, 10_000.0, "agent time per contact (staffing load)")
    contact_cost_elasticity: float = param(
        0.0, "elasticity", 0.0, 3.0, "contact costs scale with customer value to this power (0 = fixed dollars)"
    )
    accounts_per_manager: float = param(
        0.0, "accounts", 0.0, 1e9, "workload one account manager carries; 0 = partnership_cost per customer-year"
    )
    account_manager_cost: float = param(150_000.0, "$/year", 0.0, 1e12, "loaded yearly cost of one account manager")
    account_cost_elasticity: float = param(
        0.0, "elasticity", 0.0, 3.0, "account-team workload scales with customer value to this power (0 = equal)"
    )
    buyer_power_concession: float = param(
        0.0, "share", 0.0, 1.0, "largest share of its revenue a powerful buyer takes off the price"
    )
    buyer_power_half_share: float = param(
        0.05, "share", 1e-9, 1.0, "buyer's share of the firm's revenue at which it gets half the largest concession"
    )
    distinct_problem_types: int = param(
        0, "problem types", 0, 10**9, "distinct problems learning can find; 0 = feedback_learning per customer"
    )
    bond_build_months: float = param(
        0.0, "months", 0.0, 1200.0, "time constant of building structural bonds and customisation; 0 = in full at once"
    )
    ideal_contacts_per_year: float = param(
        0.0, "contacts/year", 0.0, 1e9, "mean ideal outbound contacts a year (beyond it they annoy); 0 = no ideal"
    )
    relationship_effect_scale: float = param(
        1.0, "factor", 0.0, 100.0, "factor on outreach value, social bond gain, customisation and structural bonds"
    )

    # --- realistic customers (issue 13; docs/EVIDENCE.md sections 4 and 5; docs/MODEL.md section 7.13) --------------
    # Every default below is the mechanism's "off" setting: with all of them, the model is the calibrated one of
    # before issue 13, bit for bit (tests/test_mechanisms_off.py). Proposed values and ranges: docs/MODEL.md 6.1.
    churn_propensity_dispersion: float = param(
        0.0, "variance", 0.0, 2.0, "variance of the gamma (mean 1) multiplier on each customer's voluntary-leave risk"
    )
    experience_noise_sd: float = param(
        0.0, "utility", 0.0, 1.0, "month-to-month spread of the value a customer experiences around the offer's value"
    )
    satisfaction_anchoring_months: float = param(
        0.0, "months", 0.0, 600.0, "new experience weighs smoothing / (1 + tenure / this); 0 = no anchoring"
    )
    tenure_spend_slope_mean: float = param(0.0, "log/year", -1.0, 1.0, "mean yearly change of log spend with tenure")
    tenure_spend_slope_sd: float = param(0.0, "log/year", 0.0, 1.0, "spread of that slope across customers")
    tenure_cost_slope_mean: float = param(
        0.0, "log/year", -1.0, 1.0, "mean yearly change of log cost to serve (contact costs) with tenure"
    )
    tenure_cost_slope_sd: float = param(0.0, "log/year", 0.0, 1.0, "spread of that slope across customers")
    tenure_referral_slope_mean: float = param(
        0.0, "log/year", -1.0, 1.0, "mean yearly change of a promoter's log referral rate with tenure"
    )
    tenure_referral_slope_sd: float = param(0.0, "log/year", 0.0, 1.0, "spread of that slope across customers")
    tenure_price_sensitivity_slope_mean: float = param(
        0.0, "1/year", -0.5, 0.5, "mean yearly change of price sensitivity (0 to 1) with tenure"
    )
    tenure_price_sensitivity_slope_sd: float = param(0.0, "1/year", 0.0, 0.5, "spread of that slope")
    purchase_mode: str = choice(
        "contractual",
        PURCHASE_MODES,
        "contractual: billed every month; noncontractual: Poisson purchases, unobserved (latent) attrition",
    )
    purchase_rate: float = param(12.0, "purchases/year", 0.1, 365.0, "mean purchase rate (noncontractual)")
    purchase_rate_dispersion: float = param(
        0.0, "variance", 0.0, 10.0, "variance of the gamma (mean 1) multiplier on each customer's purchase rate"
    )
    network_mean_degree: float = param(0.0, "ties", 0.0, 100.0, "mean ties to other customers; 0 = no network")
    network_degree_dispersion: float = param(
        1.0, "variance", 0.0, 10.0, "variance of the gamma (mean 1) multiplier on a customer's number of ties"
    )
    network_homophily: float = param(
        0.8, "share", 0.0, 1.0, "share of ties formed with customers of the same value decile"
    )
    defection_contagion: float = param(
        0.0, "relative hazard", 0.0, 10.0, "rise of the leave odds per contact who defected last month"
    )
    contagion_decay_months: float = param(
        1.0, "months", 0.1, 120.0, "time constant of the exponential decay of a defection's contagion"
    )
    satisfied_story_rate: float = param(0.0, "stories/year", 0.0, 52.0, "stories a satisfied customer tells")
    dissatisfied_story_rate: float = param(0.0, "stories/year", 0.0, 52.0, "stories a dissatisfied customer tells")
    wom_customer_effect: float = param(
        0.0, "utility", 0.0, 1.0, "satisfaction change of a customer per story heard from a network contact"
    )
    recovery_overshoot: float = param(
        0.0, "utility", 0.0, 5.0, "transaction satisfaction added by a quick resolution (not cumulative satisfaction)"
    )

    # --- the relationship levels in effect (sim/core/levels.toml, changed by [levels.NAME] tables) -------------
    levels: tuple[Level, ...] = field(default=DEFAULT_LEVELS, metadata={"doc": "the relationship levels in effect"})

    def __post_init__(self) -> None:
        levels = self.levels
        if not isinstance(levels, tuple) or not levels or not all(isinstance(level, Level) for level in levels):
            raise ConfigError("levels", f"must be a non-empty tuple of Level; got {levels!r}")
        names = self.level_names
        if len(set(names)) != len(names):
            raise ConfigError("levels", f"names a level twice: {', '.join(names)}")
        choices = {"level": names, "tier_level": ("none", *names)}
        for spec in FIELDS.values():  # typed in place: an int given for a float field becomes a float
            value = fields.check(spec.name, spec, getattr(self, spec.name), choices.get(spec.name))
            object.__setattr__(self, spec.name, value)
        if self.competitor_entry_year > self.years:
            raise ConfigError(
                "competitor_entry_year", f"must be between 0 and years ({self.years}), got {self.competitor_entry_year}"
            )
        if self.tier_level != "none" and self.tier_share == 0.0:
            raise ConfigError("tier_share", "must be above 0 when tier_level is set")

    # ----------------------------------------------------------------------------------------------------------
    def replace(self, **changes: Any) -> Config:
        """A copy with some fields changed (validated like any new config); level changes as in :func:`from_mapping`,
        on top of this config's levels (their labels and colours too)."""
        return from_mapping({**self.overrides(), "levels": self.levels, **flat_levels(changes)})

    def overrides(self) -> dict[str, Any]:
        """The run's own fields: every field except the segment fields that have their segment's value.

        The base to merge a change of segment onto: ``from_mapping({**config.overrides(), "segment": other})`` gives
        the other segment's profile under this run's own fields (:meth:`replace` does this). A field set to its
        segment's value counts as following the segment. Levels are not included (``config.levels`` carries them).
        """
        profile = SEGMENTS[self.segment].values
        return {
            name: getattr(self, name)
            for name in FIELDS
            if name not in profile or not same_value(getattr(self, name), profile[name])
        }

    def as_dict(self) -> dict[str, Any]:
        """Every input as flat plain data: the fields, then ``levels.NAME.PARAMETER`` for every level in effect.

        :func:`from_mapping` reads it back to an equal config (labels, colours and teacher texts are not included:
        they change no result). Every field given counts as set by the run, so merging another ``segment`` into this
        record keeps this record's values: to change the segment, start from :meth:`overrides`.
        """
        values = {name: getattr(self, name) for name in FIELDS}
        for level in self.levels:
            values.update({f"levels.{level.name}.{name}": getattr(level, name) for name in PARAMETERS})
        return values

    @property
    def periods(self) -> int:
        return 12 * self.years

    @property
    def level_names(self) -> tuple[str, ...]:
        """The levels in effect, in order: a customer's level code is the position in this tuple."""
        return tuple(level.name for level in self.levels)

    def level_code(self, name: str) -> int:
        return self.level_names.index(name)

    def level_named(self, name: str) -> Level:
        return self.levels[self.level_code(name)]


# The scalar fields (the levels are not one: their parameters are the flat names levels.NAME.PARAMETER).
FIELDS: dict[str, dataclasses.Field] = {spec.name: spec for spec in dataclasses.fields(Config) if spec.name != "levels"}
# The shipped segments, their values checked against the fields (sim/core/segments.toml).
SEGMENTS: dict[str, Segment] = read_segments(SHIPPED, FIELDS)


def from_mapping(values: Mapping[str, Any]) -> Config:
    """A validated config from a mapping of fields; unknown names are rejected.

    Levels: ``levels`` may be a tuple of :class:`~sim.core.levels.Level` (the table to start from instead of the
    shipped one) or a nested mapping ``{name: {key: value}}``; ``levels.NAME.KEY`` entries change one level key (a
    parameter, ``based_on``, ``label``, ``colour`` or ``text``). See :func:`sim.core.levels.define_levels`.
    """
    base = values.get("levels")
    if isinstance(base, tuple):
        values = {key: value for key, value in values.items() if key != "levels"}
    else:
        base = DEFAULT_LEVELS
    scalars: dict[str, Any] = {}
    changes: dict[str, dict[str, Any]] = {}
    unknown = []
    for key, value in flat_levels(values).items():
        parts = key.split(".")
        if key in FIELDS:
            scalars[key] = value
        elif len(parts) == 3 and parts[0] == "levels" and (parts[2] in SPECS or parts[2] in LEVEL_KEYS):
            changes.setdefault(parts[1], {})[parts[2]] = value
        else:
            unknown.append(key)
    if unknown:
        name = sorted(unknown)[0]
        if name.startswith("levels"):
            allowed = ", ".join((*LEVEL_KEYS, *PARAMETERS))
            raise ConfigError(name, f"expected levels.NAME.KEY with KEY one of {allowed}")
        raise ConfigError(name, "unknown field; see `relsim fields` for the allowed names")
    segment = fields.check("segment", FIELDS["segment"], scalars.get("segment", DEFAULT_SEGMENT))
    scalars = {**SEGMENTS[segment].values, **scalars}  # the segment's profile under the run's own fields
    config = Config(**scalars, levels=define_levels(base, changes) if changes else base)
    for name, entries in changes.items():
        if "text" in entries:  # a placeholder the teacher's text cannot fill is an input error, found now
            level_text(config, name)
    return config


def level_text(config: Config, name: str | None = None) -> str:
    """The teacher's text of a level (default: the config's ``level``), its placeholders filled from the config."""
    values = {field_name: getattr(config, field_name) for field_name in FIELDS}
    return render_text(config.level_named(name or config.level), values)
