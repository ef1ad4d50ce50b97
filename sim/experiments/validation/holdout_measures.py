"""The hold-out experiments of ``experiments/holdout.toml`` (issue 13, item 6): each runs the model in the target's
scenario and returns named measurements. Like :mod:`.measures`, each is a pure function of (base config, seed,
scenario overrides). None of them is ever used in fitting.

A scenario may name fields that do not exist yet (issue 12's ``segment``): :func:`split_scenario` sets aside what is
not a config field, and the report says which were not applied.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from sim.core.config import Config
from sim.core.inputs import is_field
from sim.core.model import RelationshipModel
from sim.core.rng import stream
from sim.core.trace import repurchase_after_problem
from sim.outputs.export import acquisitions
from sim.outputs.results import run


def split_scenario(scenario: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """(the overrides that are config fields, the names that are not and so were not applied)."""
    applied = {key: value for key, value in scenario.items() if is_field(key)}
    return applied, sorted(set(scenario) - set(applied))


def lifetime_profit(base: Config, seed: int, scenario: dict[str, Any]) -> dict[str, float]:
    """Reinartz & Kumar: correlation of lifetime (months active of the 36 after acquisition) and cumulative profit
    (gross margin minus own cost to serve), over the customers acquired in the first year."""
    config = base.replace(**scenario, seed=seed)
    model = RelationshipModel(config, trace=True).run()
    panel = model.trace.panel()[["customer_id", "period", "tenure", "cost", "value"]]
    acquired = acquisitions(panel).set_index("customer_id")["acquired_period"]
    panel = panel.assign(acquired=panel["customer_id"].map(acquired))
    cohort = panel[(panel["acquired"] >= 1) & (panel["acquired"] <= 12) & (panel["period"] < panel["acquired"] + 36)]
    profit = cohort["value"] * config.margin - cohort["cost"]
    per_customer = pd.DataFrame(
        {"months": cohort.groupby("customer_id").size(), "profit": profit.groupby(cohort["customer_id"]).sum()}
    )
    return {"lifetime_profit_correlation": float(per_customer["months"].corr(per_customer["profit"]))}


def _teller_ratio(monthly: pd.DataFrame) -> float:
    """Positive to negative tellers per 6-month window, averaged over the windows of years 2 to 6."""
    window = (monthly.index.to_numpy() - 1) // 6
    sums = monthly.groupby(window)[["happy_tellers", "unhappy_tellers"]].sum()
    sums = sums[(sums.index >= 2) & (sums.index < 12)]
    return float((sums["happy_tellers"] / sums["unhappy_tellers"]).mean())


def word_of_mouth_mass(base: Config, seed: int, scenario: dict[str, Any]) -> dict[str, float]:
    """East, Hammond & Wright: tellers of positive versus negative stories (counts of stories, see the report)."""
    return {"word_of_mouth_ratio": _teller_ratio(run(base.replace(**scenario, seed=seed)).monthly)}


def word_of_mouth_by_segment(base: Config, seed: int, scenario: dict[str, Any]) -> dict[str, float]:
    """The same ratio in every run of the scenario; the measure is the smallest (every run must exceed 1)."""
    ratios = []
    for entry in scenario["runs"]:
        applied, _ = split_scenario({**scenario, **entry})
        applied.pop("runs", None)
        ratios.append(_teller_ratio(run(base.replace(**applied, seed=seed)).monthly))
    return {"positive_word_of_mouth_dominates": float(min(ratios))}


def recovery(base: Config, seed: int, scenario: dict[str, Any]) -> dict[str, float]:
    """de Matos et al.: transaction satisfaction after a quickly resolved minor problem minus the satisfaction of
    customers without a problem in the same month whose tenure is within 6 months; and relative survival."""
    config = base.replace(**scenario, seed=seed)
    model = RelationshipModel(config, trace=True).run()
    problems = model.trace.problem_log()
    panel = model.trace.panel()[["customer_id", "period", "tenure", "satisfaction"]]
    had = pd.MultiIndex.from_frame(problems[["customer_id", "period"]])
    calm = panel[~pd.MultiIndex.from_frame(panel[["customer_id", "period"]]).isin(had)]
    periods, tenures = config.periods + 1, int(panel["tenure"].max()) + 8
    total, count = np.zeros((periods, tenures)), np.zeros((periods, tenures))
    np.add.at(total, (calm["period"], calm["tenure"]), calm["satisfaction"])
    np.add.at(count, (calm["period"], calm["tenure"]), 1)
    total, count = np.cumsum(total, axis=1), np.cumsum(count, axis=1)  # window sums over tenure +- 6
    quick = problems[(problems["outcome"] == "resolved_quickly") & ~problems["major"].astype(bool)]
    tenure = panel.set_index(["customer_id", "period"])["tenure"]
    own = tenure.reindex(pd.MultiIndex.from_frame(quick[["customer_id", "period"]])).to_numpy().astype(int)
    high, low = np.minimum(own + 6, tenures - 1), np.maximum(own - 7, 0)
    period = quick["period"].to_numpy()
    matched_sum = total[period, high] - np.where(own - 7 >= 0, total[period, low], 0)
    matched_count = count[period, high] - np.where(own - 7 >= 0, count[period, low], 0)
    ok = matched_count > 0
    gap = quick["transaction_satisfaction"].to_numpy()[ok] - matched_sum[ok] / matched_count[ok]
    table = repurchase_after_problem(model.trace, horizon_months=12, last_period=config.periods)
    row = table[(table["severity"] == "minor") & (table["outcome"] == "resolved_quickly")]
    return {
        "recovery_paradox_satisfaction": float(gap.mean()) if len(gap) else float("nan"),
        "recovery_paradox_repurchase": float(row["repurchase"].iloc[0]) if len(row) else float("nan"),
    }


def _value(config: Config) -> tuple[float, float]:
    """(30-year discounted profit, mean annual retention) of one run."""
    summary = run(config).summary
    return float(summary["discounted_profit"]), 1.0 - float(summary["churn_rate"])


def customer_value(base: Config, seed: int, scenario: dict[str, Any]) -> dict[str, float]:
    """Gupta, Lehmann & Stuart: elasticities of the base's value to retention, acquisition cost and margin, one
    driver at a time with the same random numbers. Retention rises 1 % through a lower switching baseline found by
    bisection (the defections experiment's hook); margin and acquisition cost change no behaviour."""
    config = base.replace(**scenario, seed=seed)
    value, retention = _value(config)
    goal = min(retention * 1.01, 0.9999)
    low, high = 0.0, 0.5
    while _value(config.replace(churn_intercept=config.churn_intercept - high))[1] < goal and high < 20:
        low, high = high, high * 2
    for _ in range(12):
        middle = (low + high) / 2
        retained = _value(config.replace(churn_intercept=config.churn_intercept - middle))[1]
        low, high = (middle, high) if retained < goal else (low, middle)
    better, reached = _value(config.replace(churn_intercept=config.churn_intercept - high))
    cheaper, _ = _value(config.replace(acquisition_cost_multiple=config.acquisition_cost_multiple * 0.99))
    richer, _ = _value(config.replace(margin=min(config.margin * 1.01, 1.0)))
    applicable = 0.70 <= retention <= 0.95
    return {
        "annual_retention": retention,
        "value_elasticity_retention": (better / value - 1) / (reached / retention - 1) if applicable else np.nan,
        "value_elasticity_acquisition_cost": (cheaper / value - 1) / 0.01 if applicable else np.nan,
        "value_elasticity_margin": (richer / value - 1) / 0.01 if applicable else np.nan,
    }


def _policy_run(base: Config, seed: int, scenario: dict[str, Any], policy: dict[str, Any]) -> RelationshipModel:
    settings = {key: value for key, value in policy.items() if key != "name"}
    return RelationshipModel(base.replace(**scenario, **settings, seed=seed), trace=True).run()


def prioritisation(base: Config, seed: int, scenario: dict[str, Any]) -> dict[str, float]:
    """Homburg, Droll & Totzek: return on sales of the tiered policy against each uniform one; the bottom tier's
    retention and the top tier's commitment against uniform Reactive (initial customers, years 2 to 10)."""
    policies = {policy["name"]: policy for policy in scenario["policies"]}
    applied = {key: value for key, value in scenario.items() if key != "policies"}
    models = {name: _policy_run(base, seed, applied, policy) for name, policy in policies.items()}
    later = {name: model.monthly().loc[13:] for name, model in models.items()}
    ros = {name: frame["profit"].sum() / frame["revenue"].sum() for name, frame in later.items()}
    n = models["tiered"].config.n_customers
    value = RelationshipModel(models["tiered"].config).population.active()["value"]  # the initial customers' traits
    top = np.zeros(n, bool)
    top[np.argsort(value)[int(n * 0.8) :]] = True

    def retention(model: RelationshipModel, group: np.ndarray) -> float:
        left = model.trace.departures().set_index("customer_id")["period"]
        last = np.full(n, np.inf)
        ids = left.index.to_numpy()
        inside = ids < n
        last[ids[inside]] = left.to_numpy()[inside]
        rates = []
        for year in range(1, model.config.years):  # the year starting at month 12 * year + 1
            alive = group & (last > 12 * year)
            rates.append(np.mean(last[alive] > 12 * (year + 1)) if alive.any() else np.nan)
        return float(np.nanmean(rates))

    def commitment(model: RelationshipModel) -> float:
        panel = model.trace.panel()
        panel = panel[(panel["period"] > 12) & (panel["customer_id"] < n)]
        return float(panel.loc[top[panel["customer_id"].to_numpy()], "commitment"].mean())

    return {
        "prioritisation_return_on_sales": float(
            min(ros["tiered"] - ros["uniform_base"], ros["tiered"] - ros["uniform_top"])
        ),
        "prioritisation_bottom_tier_unharmed": retention(models["tiered"], ~top)
        - retention(models["uniform_base"], ~top),
        "prioritisation_top_tier_better": commitment(models["tiered"]) - commitment(models["uniform_base"]),
    }


def proactive_backfire(base: Config, seed: int, scenario: dict[str, Any]) -> dict[str, float]:
    """Ascarza et al.: in month 24 the fifth with the highest leave probability is split at random; one half gets
    one proactive agent contact (as an outreach contact: useful, or annoying for contact-averse customers), the
    other nothing; the relative risk of churn over the next 3 months."""
    config = base.replace(**scenario, seed=seed)
    model = RelationshipModel(config)
    for _ in range(24):
        model.step()
    people = model.population.active()
    hazard = model.leave_probability()
    at_risk = np.flatnonzero(hazard >= np.quantile(hazard, 0.8))
    treated_mask = stream(seed, "holdout_backfire").random(len(at_risk)) < 0.5
    treated, control = at_risk[treated_mask], at_risk[~treated_mask]
    averse = people["contact_averse"][treated]
    people["satisfaction"][treated[~averse]] += config.outreach_value
    people["satisfaction"][treated[averse]] -= config.annoyance
    bond = people["social_bond"]
    welcome = treated[~averse]
    bond[welcome] = np.minimum(bond[welcome] + config.social_bond_gain, config.social_bond_cap)
    ids = {"treated": people["customer_id"][treated].copy(), "control": people["customer_id"][control].copy()}
    for _ in range(3):
        model.step()
    still = model.population.active()["customer_id"]
    churn = {name: 1.0 - np.isin(group, still).mean() for name, group in ids.items()}
    return {"proactive_contact_backfire": float(churn["treated"] / churn["control"]) if churn["control"] else np.nan}


HOLDOUT_EXPERIMENTS = {
    "lifetime_profit": lifetime_profit,
    "word_of_mouth_mass": word_of_mouth_mass,
    "word_of_mouth_by_segment": word_of_mouth_by_segment,
    "recovery": recovery,
    "customer_value": customer_value,
    "prioritisation": prioritisation,
    "proactive_backfire": proactive_backfire,
}
