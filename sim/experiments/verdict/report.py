"""REPORT.md of the verdict and its per-cell JSON records."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from sim.experiments.verdict.sections import (
    changes_text,
    hypercube_text,
    pct,
    prob,
    src_text,
    summary_text,
    table,
)  # fmt: skip
from sim.experiments.verdict.tables import REFERENCE_ROW, VerdictResult

JSON_FIELDS = (
    "cell", "recommended", "best", "p_recommended_best", "regret", "agrees", "expected_regret", "p_within_margin",
    "p_best_se", "mc_share", "modal_best", "segment", "customers", "revenue_per_customer", "margin",
)  # fmt: skip


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item"):
        return _clean(value.item())
    return value


def json_records(result: VerdictResult) -> list[dict[str, Any]]:
    """One record per cell of the primary mapping (regret: relative profit lost at the files' values)."""
    return [{key: _clean(row[key]) for key in JSON_FIELDS} for _, row in result.primary.iterrows()]


_pct, _p, _table = pct, prob, table


def _verdict_table(result: VerdictResult) -> str:
    p = result.primary
    frame = pd.DataFrame({
        "cell": p["cell"], "segment": p["segment"], "customers": p["customers"].map("{:,}".format),
        "$/customer-year": p["revenue_per_customer"].map("{:,.0f}".format), "margin": p["margin"].map(_pct),
        "Kotler": p["recommended"], "model's best": p["best"], "regret": p["regret"].map(_pct),
        "agrees (TOST)": p["agrees"].map({True: "yes", False: "**no**"}),
        "P(Kotler best)": [f"{_p(a)} ± {_p(b)}" for a, b in zip(p["p_recommended_best"], p["p_best_se"], strict=True)],
        "E[regret]": p["expected_regret"].map(_pct), "P(within margin)": p["p_within_margin"].map(_p),
        "most often best": p["modal_best"], "MC share": p["mc_share"].map(_p),
    })  # fmt: skip
    return _table(frame)


def _drivers(result: VerdictResult, top: int = 3) -> str:
    if result.sensitivity.empty:
        return "No parameter draws: no sensitivity."
    s = result.sensitivity.assign(size=lambda f: f["rho"].abs())
    lines = []
    for cell, group in s.groupby("cell", sort=False):
        best = group.nlargest(top, "size")
        lines.append(f"- **{cell}**: " + "; ".join(f"`{r.parameter}` ρ = {r.rho:+.2f}" for r in best.itertuples()))
    overall = s.groupby("parameter")["size"].mean().nlargest(8)
    listed = ", ".join(f"`{k}` {v:.2f}" for k, v in overall.items())
    lines.append(f"\nAveraged over the cells (mean |ρ|): {listed}")
    return "\n".join(lines)


def _robustness(result: VerdictResult) -> str:
    scores = result.scores.assign(
        expected_kotler_best=lambda f: f["expected_kotler_best"].map("{:.1f}".format),
        expected_within_margin=lambda f: f["expected_within_margin"].map("{:.1f}".format),
    )[["mapping", "agrees", "kotler_best", "expected_kotler_best", "expected_within_margin", "draws", "text"]]
    parts = ["**Row mappings** (all written into the spec before the first run): cells that agree at the files' "
             "values (TOST), cells where Kotler's level is the best there, and the expected numbers over the draws "
             "(Σ P(best), Σ P(regret ≤ margin)).\n", _table(scores)]  # fmt: skip
    r = result.robustness
    if not r.empty:
        pivot = r.pivot_table(index="cell", columns=["parameter", "half"], values="p_recommended_best", sort=False)
        pivot.columns = [f"{name.split('_')[0]} elasticity {half}" for name, half in pivot.columns]
        pivot = pivot.map(_p).reset_index()
        parts += ["\n**Cost elasticities** (primary mapping): P(Kotler's level is best) among the draws with the "
                  "elasticity in the lower or upper half of its range.\n", _table(pivot)]  # fmt: skip
    return "\n".join(parts)


def _reduction(result: VerdictResult) -> str:
    red = result.reduction
    rows = red.groupby("cell", sort=False).first()[["segment", "best_sim", "best_reference"]].reset_index()
    terms = red.groupby(["segment", "level"], sort=False)[["R", "C", "A", "K"]].first().reset_index()
    terms = terms.assign(R=terms["R"].map("{:.2f}".format), C=terms["C"].map("{:,.1f}".format),
                         A=terms["A"].map("{:.3f}".format), K=terms["K"].map("{:,.1f}".format))  # fmt: skip
    return "\n".join([
        "π_L = m·v·R_L − K_L − C_L − A·v per starting customer (R_L: discounted customer-years of revenue before "
        "concessions; K_L: concessions; C_L: discounted relationship cost; A: acquisition spend per dollar of "
        "value), computed from the nominal runs. With each cell's own terms the reduction equals the simulation "
        f"(reduction.csv); below, each cell is also predicted with the **{REFERENCE_ROW} row's** terms, as if every "
        "row's customers and costs behaved alike (the old model's premise). Where the two winners differ, the row's "
        "own mechanisms (segment, fixed costs over N, buyer power, elasticities) decide the cell.\n",
        _table(rows), "\nThe terms per segment and level (primary mapping, one margin):\n", _table(terms)])  # fmt: skip


def render_report(result: VerdictResult) -> str:
    spec, p = result.spec, result.primary
    agrees, n = int(p["agrees"].sum()), len(p)
    expected = float(p["p_recommended_best"].sum())
    sims = ", ".join(f"{k} {v:.1f} s" for k, v in result.timings.items())
    quick = "\n**This is a --quick run: a first look, not a verdict.**\n" if spec.mode == "quick" else ""
    return f"""# The verdict on Kotler's matrix: how likely is his level the most profitable?
{quick}
Primary row mapping `{spec.primary}`. At the files' values (levels and segments as documented), Kotler's level
agrees with the model (it is the best, or equivalent to it within ±{spec.materiality:.0%} of the best level's
profit by a TOST at α = {spec.alpha} each side, {spec.nominal_replications} paired replications) in
**{agrees} of {n} cells**. Over {int(p["draws"].min())} draws of the level-effect, segment and cost-elasticity
priors, the expected number of cells in which his level is the most profitable is **{expected:.1f} of {n}**, and
the expected regret of following him, averaged over the cells, is **{_pct(float(p["expected_regret"].mean()))}**.

## Per cell

{_verdict_table(result)}

regret: profit lost by following Kotler, relative to the best level's (files' values). P(Kotler best): share of
draws in which his level has the highest profit (± its binomial error from the finite number of draws).
E[regret]: mean over draws. P(within margin): share of draws with regret ≤ {spec.materiality:.0%}. MC share: the part
of the variance of (Kotler's level − best other level) that lies between replications of a draw (Monte Carlo noise)
rather than between draws (parameter uncertainty), from the first {spec.draws} draws, run
{spec.draw_replications} time(s) each; the further draws of the sensitivity sweep run once each.

## What drives it

Rank correlation (Spearman ρ) of the gap (Kotler's level − the best other level, per dollar of revenue) with each
drawn parameter, over the primary mapping's draws; the three largest per cell. A positive ρ: higher values favour
Kotler's level.

{_drivers(result)}

### Global sensitivity: standardised regression coefficients

{src_text(result)}

## Robustness

{summary_text(result)}

{_robustness(result)}

## The factorial: customers, value per customer and margin varied separately

{_factorial(result)}

## The Latin hypercube: customers, value per customer and margin sampled together

{hypercube_text(result)}

## The analytic reduction beside the simulation

{_reduction(result)}

## What would change it

{changes_text(result)}

Narrowing the priors of these parameters with evidence (docs/EVIDENCE.md §1.5 lists them as assumptions) would move
the cells; a cell whose verdict differs between row mappings (the robustness table) depends on what one takes
"many", "medium" and "few" customers to be.

## Settings

Spec `{spec.source}` (sha256 {spec.source_hash}), mode {spec.mode}; {spec.years} years; seed {spec.seed};
nominal replications {spec.nominal_replications}; draws {spec.draws} (primary), {spec.alternative_draws} (other
mappings), factorial {spec.factorial.draws if spec.factorial else 0}; {spec.draw_replications} replication(s) per
draw; sensitivity draws of the primary firms {max(spec.sensitivity_draws, spec.draws)} in all; Latin hypercube
{spec.hypercube.samples if spec.hypercube else 0} points; elasticities uniform on {list(spec.elasticity)}.
Every customer is simulated (no sample is scaled up).
Evaluator {result.evaluator}; {sims}. Code version: {result.code_version or "unrecorded"}.
"""


def _factorial(result: VerdictResult) -> str:
    f = result.factorial
    if f.empty:
        return "No factorial in the spec."
    frame = pd.DataFrame({
        "customers": f["customers"].map("{:,}".format), "segment": f["segment"],
        "$/customer-year": f["revenue_per_customer"].map("{:,.0f}".format), "margin": f["margin"].map(_pct),
        "Kotler (by customers, margin)": f["recommended"], "model's best": f["best"],
        "agrees": f["agrees"].map({True: "yes", False: "no"}), "P(Kotler best)": f["p_recommended_best"].map(_p),
        "E[regret]": f["expected_regret"].map(_pct),
    })  # fmt: skip
    return _table(frame)
