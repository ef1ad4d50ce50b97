"""Run configuration: every input of a run, with its unit, default and allowed range, in one place.

A :class:`Config` is immutable and validated on creation, so a run never starts with a value out of range.
Configs come from keyword arguments, a flat TOML file, or ``key=value`` overrides from the command line; all
three paths go through the same checks and fail with a :class:`ConfigError` naming the field and what is allowed.
The sources behind the defaults are in docs/MODEL.md (section 6, "Input").
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sim.core.levels import LEVEL_NAMES
from sim.errors import ConfigError
from sim.files import read_toml


def _param(default: Any, unit: str, low: float | None, high: float | None, doc: str, **extra: Any) -> Any:
    """A config field with its documentation and inclusive range kept beside the default."""
    return field(default=default, metadata={"unit": unit, "low": low, "high": high, "doc": doc, **extra})


def _choice(default: str, choices: tuple[str, ...], doc: str) -> Any:
    return field(default=default, metadata={"unit": "", "choices": choices, "doc": doc})


TIER_CHOICES = ("none", *LEVEL_NAMES)


@dataclass(frozen=True)
class Config:
    """All inputs of one run. Units are per customer unless stated; money is in dollars."""

    # --- the run -------------------------------------------------------------------------------------------
    level: str = _choice("reactive", LEVEL_NAMES, "relationship level the firm serves its customers at")
    tier_level: str = _choice(
        "none", TIER_CHOICES, "level for the most valuable customers (tiered policy); none = uniform"
    )
    tier_share: float = _param(0.0, "share", 0.0, 1.0, "share of customers, by value, served at tier_level")
    n_customers: int = _param(10_000, "customers", 1, 10_000_000, "customers at the start of the run")
    years: int = _param(10, "years", 1, 100, "simulated horizon (12 monthly steps per year)")
    seed: int = _param(0, "", 0, 2**63 - 1, "root seed; every random stream is derived from it")

    # --- economics ------------------------------------------------------------------------------------------
    revenue_per_customer: float = _param(1000.0, "$/year", 1e-6, 1e12, "mean revenue of a customer per year")
    margin: float = _param(0.3, "share", 0.0, 1.0, "gross margin on revenue")
    discount_rate: float = _param(0.1, "1/year", 0.0, 1.0, "annual rate used for discounted profit")
    agent_contact_cost: float = _param(5.0, "$/contact", 0.0, 1e6, "cost of a contact handled by a live agent")
    ivr_contact_cost: float = _param(0.36, "$/contact", 0.0, 1e6, "cost of an automated (IVR/web) contact")
    ivr_routing_share: float = _param(
        0.0, "share", 0.0, 1.0, "share of customers, lowest value first, whose inbound contacts go to IVR"
    )
    ivr_resolution_factor: float = _param(
        0.5, "factor", 0.0, 1.0, "resolution probability of an IVR-handled complaint relative to an agent"
    )
    partnership_cost: float = _param(
        5000.0, "$/customer/year", 0.0, 1e12, "account-team cost of a Partnership customer"
    )
    acquisition_cost_multiple: float = _param(
        5.0, "factor", 0.0, 1000.0, "cost of winning a customer as a multiple of the yearly cost of keeping one"
    )
    keeping_cost_share: float = _param(
        0.05, "share of revenue", 0.0, 1.0, "yearly cost of keeping a customer, the reference for the multiple"
    )
    acquisition_rate: float = _param(
        0.2, "1/year", 0.0, 10.0, "paid acquisitions per year as a share of n_customers (fixed marketing effort)"
    )

    # --- market ---------------------------------------------------------------------------------------------
    problem_rate: float = _param(0.3, "problems/year", 0.0, 12.0, "rate at which a customer meets a problem")
    major_problem_share: float = _param(0.25, "share", 0.0, 1.0, "share of problems that are major")
    competition: float = _param(
        0.5, "attraction", 0.0, 1.0, "attraction of the outside option; 0 = monopoly (no alternative)"
    )
    competitor_entry_year: int = _param(
        0, "year", 0, 100, "year a competitor enters (monopoly before it); 0 = competition from the start"
    )
    word_of_mouth: float = _param(1.0, "factor", 0.0, 100.0, "scales how many people each story reaches")
    positive_listeners: float = _param(3.0, "people", 0.0, 1000.0, "people a satisfied customer tells")
    negative_listeners: float = _param(11.0, "people", 0.0, 1000.0, "people a dissatisfied customer tells")
    referral_conversion: float = _param(0.05, "share", 0.0, 1.0, "share of people told good news who become customers")
    market_size_multiple: float = _param(
        10.0, "factor", 1.0, 1e6, "prospects in the market as a multiple of n_customers"
    )
    wom_forgetting: float = _param(0.1, "1/month", 0.0, 1.0, "share of prospects who forget a story each month")
    wom_expectation_effect: float = _param(
        0.2, "utility", 0.0, 10.0, "shift of new customers' expectation from the market's net word of mouth"
    )
    natural_churn: float = _param(
        0.05, "1/year", 0.0, 1.0, "leaving for reasons the firm cannot influence (moving, closing down)"
    )

    # --- customers: traits and behaviour (the free parameters that calibration may fit) ------------------------
    value_dispersion: float = _param(
        1.68, "log-sd", 0.0, 4.0, "spread of customer value (lognormal); 1.68 gives the 80/20 pattern"
    )
    fit_sd: float = _param(0.1, "utility", 0.0, 5.0, "spread of how well the offer fits a customer")
    expectation_sd: float = _param(0.15, "utility", 0.0, 5.0, "spread of expectations around the market norm")
    value_gap: float = _param(
        0.2, "utility", -5.0, 5.0, "mean amount by which the offer's value exceeds a new customer's expectation"
    )
    satisfaction_smoothing: float = _param(
        0.15, "1/month", 1e-6, 1.0, "weight of the newest disconfirmation in cumulative satisfaction"
    )
    expectation_adaptation: float = _param(
        0.02, "1/month", 0.0, 1.0, "speed at which expectations move towards the value received"
    )
    minor_problem_impact: float = _param(1.6515, "utility", 0.0, 100.0, "satisfaction lost to a minor problem")
    major_problem_impact: float = _param(2.744, "utility", 0.0, 100.0, "satisfaction lost to a major problem")
    voice_relief: float = _param(0.2361, "share", 0.0, 1.0, "share of the loss recovered by complaining, unresolved")
    slow_recovery: float = _param(0.5106, "share", 0.0, 1.0, "share of the loss recovered by a slow resolution")
    quick_recovery: float = _param(0.7362, "share", 0.0, 1.0, "share of the loss recovered by a quick resolution")
    complaint_propensity: float = _param(
        0.25, "probability", 0.0, 1.0, "mean chance that a customer voices a minor problem (beta across customers)"
    )
    major_complaint_factor: float = _param(2.0, "factor", 1.0, 100.0, "complaint propensity multiplier, major")
    inquiry_rate: float = _param(1.0, "contacts/year", 0.0, 100.0, "mean questions per customer (gamma)")
    commitment_gain: float = _param(0.1, "1/month", 0.0, 1.0, "growth of commitment per unit of satisfaction")
    commitment_loss: float = _param(0.2, "1/month", 0.0, 1.0, "loss of commitment per unit of dissatisfaction")
    initial_commitment: float = _param(0.3, "commitment", 0.0, 1.0, "commitment of a new customer")
    churn_intercept: float = _param(-2.4382, "logit", -50.0, 50.0, "baseline of the switching decision")
    satisfaction_effect: float = _param(2.241, "logit/utility", 0.0, 100.0, "weight of satisfaction on staying")
    commitment_effect: float = _param(2.0, "logit", 0.0, 100.0, "weight of commitment on staying")
    switching_cost_effect: float = _param(2.0, "logit/utility", 0.0, 100.0, "weight of switching cost on staying")
    price_effect: float = _param(2.0, "logit", 0.0, 100.0, "pull of competitors' prices on sensitive customers")
    switching_cost_mean: float = _param(
        0.3, "utility", 0.0, 100.0, "mean financial switching cost (gamma across customers)"
    )
    social_bond_gain: float = _param(0.05, "utility", 0.0, 10.0, "switching cost added by each personal contact")
    social_bond_cap: float = _param(0.5, "utility", 0.0, 100.0, "largest social switching cost")
    contact_aversion_share: float = _param(
        0.25, "share", 0.0, 1.0, "share of customers who find unsolicited contact unwanted"
    )
    outreach_value: float = _param(0.1, "utility", 0.0, 10.0, "satisfaction gained from a useful outreach")
    annoyance: float = _param(0.1, "utility", 0.0, 10.0, "satisfaction lost to an unwanted outreach")
    cross_sell_probability: float = _param(0.1, "probability", 0.0, 1.0, "chance a useful outreach sells more")
    cross_sell_uplift: float = _param(0.05, "share", 0.0, 10.0, "revenue added by one cross-sale")
    max_upsell: float = _param(0.5, "share", 0.0, 100.0, "largest revenue added by cross-selling")
    feedback_learning: float = _param(
        0.5, "quality/report", 0.0, 100.0, "quality gained per complaint fed back, per customer"
    )
    max_problem_reduction: float = _param(0.5, "share", 0.0, 1.0, "share of problems that full product quality removes")

    # --- measurement ----------------------------------------------------------------------------------------
    satisfaction_threshold: float = _param(0.0, "utility", -100.0, 100.0, "satisfied at or above this")
    loyalty_threshold: float = _param(0.8, "probability", 0.0, 1.0, "loyal if 12-month stay chance is this or more")
    promoter_satisfaction: float = _param(0.1, "utility", -100.0, 100.0, "promoters are at least this satisfied")
    promoter_commitment: float = _param(0.6, "commitment", 0.0, 1.0, "and at least this committed")

    def __post_init__(self) -> None:
        for spec in dataclasses.fields(self):
            _check(spec, getattr(self, spec.name))
        if self.competitor_entry_year > self.years:
            raise ConfigError(
                "competitor_entry_year", f"must be between 0 and years ({self.years}), got {self.competitor_entry_year}"
            )
        if self.tier_level != "none" and self.tier_share == 0.0:
            raise ConfigError("tier_share", "must be above 0 when tier_level is set")

    # ----------------------------------------------------------------------------------------------------------
    def replace(self, **changes: Any) -> Config:
        """A copy with some fields changed (validated like any new config)."""
        return from_mapping({**self.as_dict(), **changes})

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def periods(self) -> int:
        return 12 * self.years


FIELDS: dict[str, dataclasses.Field] = {spec.name: spec for spec in dataclasses.fields(Config)}


def _allowed(spec: dataclasses.Field) -> str:
    meta = spec.metadata
    if "choices" in meta:
        return "one of " + ", ".join(meta["choices"])
    if spec.type in ("int", int):
        return f"an integer from {meta['low']} to {meta['high']}"
    return f"a number from {meta['low']:g} to {meta['high']:g}"


def _check(spec: dataclasses.Field, value: Any) -> None:
    meta = spec.metadata
    if "choices" in meta:
        if value not in meta["choices"]:
            raise ConfigError(spec.name, f"must be {_allowed(spec)}; got {value!r}")
        return
    wants_int = spec.type in ("int", int)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (wants_int and not isinstance(value, int)):
        raise ConfigError(spec.name, f"must be {_allowed(spec)}; got {value!r}")
    if not math.isfinite(value) or not meta["low"] <= value <= meta["high"]:
        raise ConfigError(spec.name, f"must be {_allowed(spec)}; got {value!r}")


def _coerce(spec: dataclasses.Field, value: Any) -> Any:
    """Accept ints for float fields (TOML writes ``margin = 1`` as an int); leave anything else to _check."""
    if spec.type in ("float", float) and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


def from_mapping(values: Mapping[str, Any]) -> Config:
    """A validated config from a flat mapping; unknown names are rejected."""
    unknown = sorted(set(values) - set(FIELDS))
    if unknown:
        raise ConfigError(unknown[0], "unknown field; see `relsim fields` for the allowed names")
    return Config(**{name: _coerce(FIELDS[name], value) for name, value in values.items()})


def resolve(config: Config | None, seed: int | None, params: Mapping[str, Any]) -> Config:
    """The config of a model built Mesa-style: a config, flat keyword fields, or both; ``seed`` wins."""
    changes = dict(params) if seed is None else {**params, "seed": seed}
    if config is None:
        return from_mapping(changes)
    return config.replace(**changes) if changes else config


def parse_override(text: str) -> tuple[str, Any]:
    """Turn ``key=value`` from the command line into a typed pair (types come from the field)."""
    if "=" not in text:
        raise ConfigError(text or "--set", "expected key=value")
    name, raw = (part.strip() for part in text.split("=", 1))
    if name not in FIELDS:
        raise ConfigError(name, "unknown field; see `relsim fields` for the allowed names")
    spec = FIELDS[name]
    if "choices" in spec.metadata:
        return name, raw
    try:
        return name, int(raw) if spec.type in ("int", int) else float(raw)
    except ValueError:
        raise ConfigError(name, f"must be {_allowed(spec)}; got {raw!r}") from None


def load(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """A config from an optional TOML file plus ``key=value`` overrides (which win)."""
    values: dict[str, Any] = {}
    if path is not None:
        values = read_toml(path, "--config")[0]  # size cap, UTF-8, TOML and nesting errors: one line each
        for name, value in values.items():
            if isinstance(value, dict):
                raise ConfigError(name, "tables are not allowed; write every field at the top level of the file")
    for text in overrides:
        name, value = parse_override(text)
        values[name] = value
    return from_mapping(values)


def describe_fields() -> list[dict[str, Any]]:
    """One record per field (name, default, unit, allowed values, meaning), for docs and `relsim fields`."""
    return [
        {
            "name": spec.name,
            "default": spec.default,
            "unit": spec.metadata["unit"],
            "allowed": _allowed(spec),
            "meaning": spec.metadata["doc"],
        }
        for spec in FIELDS.values()
    ]
