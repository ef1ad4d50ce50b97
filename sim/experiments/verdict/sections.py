"""The report's sections on the global sensitivity (SRC), the robustness table, the Latin hypercube and what would
change each cell, and the number formats the whole report shares."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import pandas as pd

from sim.core.levels import LEVEL_NAMES

if TYPE_CHECKING:
    from sim.experiments.verdict.tables import VerdictResult

TOP = 3


def pct(x: float | None) -> str:
    return "–" if x is None or not math.isfinite(x) else f"{100 * x:.0f} %"


def prob(x: float | None) -> str:
    return "–" if x is None or not math.isfinite(x) else f"{x:.2f}"


def number(x: float | None) -> str:
    if x is None or not math.isfinite(x):
        return "–"
    return f"{x:,.0f}" if abs(x) >= 100 else f"{x:.3g}"


def table(frame: pd.DataFrame) -> str:
    head = "| " + " | ".join(frame.columns) + " |"
    rule = "|" + "---|" * len(frame.columns)
    body = ["| " + " | ".join(str(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([head, rule, *body])


def src_text(result: VerdictResult) -> str:
    fit, coefficients = result.fit, result.src
    if fit.empty or coefficients.empty:
        draws = int(fit["draws"].max()) if not fit.empty else 0
        return (f"Not computed: {draws} draws per cell are too few for a regression on every drawn parameter "
                "(more draws than parameters are needed; the full run has them).")  # fmt: skip
    lines = [
        "The gap (Kotler's level − the best other level, per dollar of revenue) regressed on every drawn parameter "
        "at once (least squares over the primary cells' draws); SRC = slope × sd(parameter) / sd(gap). R² says how "
        "much of the gap's variance the linear model explains: where it is low, interactions or thresholds "
        "dominate and the SRCs describe little. A positive SRC: higher values favour Kotler's level. No Sobol "
        "indices: with about 45 drawn parameters a Saltelli design needs N·(k + 2) ≈ 47·N runs per firm, far "
        "beyond the 10-minute budget for any N that estimates them (docs/VERDICT.md §3).\n",
    ]
    rows = []
    for f in fit.itertuples():
        cell = coefficients[coefficients["cell"] == f.cell].assign(size=lambda c: c["src"].abs())
        best = cell.nlargest(TOP, "size")
        rows.append({"cell": f.cell, "R²": prob(f.r2), "adjusted R²": prob(f.r2_adjusted),
                     "draws / parameters": f"{f.draws} / {f.parameters}",
                     "largest SRC": "; ".join(f"`{r.parameter}` {r.src:+.2f}" for r in best.itertuples())})  # fmt: skip
    lines.append(table(pd.DataFrame(rows)))
    overall = coefficients.assign(size=coefficients["src"].abs()).groupby("parameter")["size"].mean().nlargest(8)
    lines.append("\nAveraged over the cells (mean |SRC|): " + ", ".join(f"`{k}` {v:.2f}" for k, v in overall.items()))
    return "\n".join(lines)


def summary_text(result: VerdictResult) -> str:
    s = result.summary
    if s.empty:
        return ""
    agree = [f"{a} of {n}" for a, n in zip(s["agrees"], s["cells"], strict=True)]
    frame = pd.DataFrame(
        {
            "varies": s["varies"],
            "setting": s["setting"],
            "cells that agree": agree,
            "cells that flip (vs the primary mapping at the files' values)": s["flips"],
        }
    )
    expected = s["expected"].dropna()
    note = (f" Under the priors the expected number of cells within the margin is {expected.iloc[0]:.1f}."
            if len(expected) else "")  # fmt: skip
    return "\n".join([
        "**Agreement under each choice** (a cell agrees: Kotler's level is the best or within the "
        f"{result.spec.materiality:.0%} margin by the TOST; for the prior draws: in at least half of the draws his "
        "regret is within the margin). Elasticities and the segment profile change the primary mapping's firms "
        "only, at the files' values otherwise, on the same random numbers as the nominal runs. "
        f"\"+cell\": agrees only under that choice; \"−cell\": agrees only at the primary files' values.{note}\n",
        table(frame)])  # fmt: skip


def hypercube_text(result: VerdictResult) -> str:
    cube, summary = result.hypercube, result.hypercube_summary
    if cube.empty:
        return "No Latin hypercube in the spec."
    h = result.spec.hypercube
    wins = cube["best"].value_counts()
    best = ", ".join(f"{level} {int(wins.get(level, 0))}" for level in LEVEL_NAMES)
    n = len(cube)
    frame = summary.rename(columns={f"best_{level}": level for level in LEVEL_NAMES})
    return "\n".join([
        f"{n} points of a Latin hypercube (SALib's sampler through the engine): customers "
        f"{h.customers[0]:,}–{h.customers[1]:,} and revenue per customer-year ${h.revenue_per_customer[0]:,.0f}–"
        f"${h.revenue_per_customer[1]:,.0f} on log scales, margin {pct(h.margin[0])}–{pct(h.margin[1])}, at the "
        f"files' values, {h.replications} replications each. Each point runs in the segment of the nearest "
        "factorial value per customer and takes Kotler's row of the nearest factorial number of customers and his "
        "column of the nearest factorial margin (docs/VERDICT.md §1). The model's best level over the points: "
        f"{best}. Kotler's level is the best at **{int((cube['best'] == cube['recommended']).sum())} of {n}** points "
        f"and agrees (TOST) at **{int(cube['agrees'].sum())} of {n}**. Per segment and Kotler row (how often each "
        "level is the best; figure `hypercube.png`, data `hypercube.csv`):\n",
        table(frame)])  # fmt: skip


def _check(p: float, draws: float) -> str:
    """The empirical check of a linear flip point, in words."""
    if not draws or not math.isfinite(p):
        return " (no draw lies beyond it)"
    return f" (among the {int(draws)} draws beyond it, P(Kotler best) is {prob(p)})"


def changes_text(result: VerdictResult) -> str:
    c = result.changes
    if c.empty:
        return "No parameter draws: nothing to say."
    lines = [
        "Per cell: the parameter with the largest |SRC|, P(Kotler's level is best) among the draws in its lowest "
        "and highest third, and where a linear fit of the gap puts the change of verdict; then the parameter "
        "whose linear flip point needs the smallest change (in standard deviations of its draws). A linear flip "
        "point is an extrapolation: the share of draws beyond it in which Kotler's level is best checks it "
        "(when that share does not move, the fit misleads there).\n"
    ]
    for row in c.itertuples():
        if not getattr(row, "parameter", ""):
            lines.append(f"- **{row.cell}**: too few draws to tell.")
            continue
        kind = "SRC" if row.measure == "src" else "ρ"
        text = (f"- **{row.cell}** (Kotler {row.recommended}, P(best) {prob(row.p_best)}): most influential "
                f"`{row.parameter}` ({kind} {row.weight:+.2f}); P(Kotler best) {prob(row.p_low_third)} in its lowest "
                f"third of the draws vs {prob(row.p_high_third)} in its highest (drawn {number(row.drawn_low)}–"
                f"{number(row.drawn_high)})")  # fmt: skip
        flip = getattr(row, "flip_at", math.nan)
        if isinstance(flip, float) and math.isfinite(flip):
            inside = row.drawn_low <= flip <= row.drawn_high
            text += (f"; the linear fit (R² {prob(row.r2)}) changes the verdict at {number(flip)}, "
                     f"{'inside' if inside else 'outside'} that range")  # fmt: skip
            if inside:
                text += _check(row.p_beyond, row.draws_beyond)
        nearest = getattr(row, "nearest_parameter", None)
        if isinstance(nearest, str) and nearest:
            text += (f". The smallest change that flips it (linearly): `{nearest}` at {number(row.nearest_flip_at)}, "
                     f"{row.nearest_sd:.1f} sd from the draws' mean")  # fmt: skip
            text += _check(row.nearest_p_beyond, row.nearest_draws_beyond)
        elif math.isfinite(row.r2):
            text += ". No single drawn parameter flips it within its drawn range (linear fit)"
        lines.append(text + ".")
    return "\n".join(lines)
