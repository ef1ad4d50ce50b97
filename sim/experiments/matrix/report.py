"""The matrix experiment's report: REPORT.md in plain words, the ``--json`` records and the number formats."""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

import numpy as np

from sim.experiments.matrix.analysis import MatrixResult
from sim.experiments.matrix.spec import MatrixSpec, policies


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    return None if isinstance(value, float) and not math.isfinite(value) else value


CELL_FIELDS = ("cell", "recommended", "best", "p_recommended_best", "regret", "agrees", "best_minus_recommended",
               "best_minus_recommended_ci_low", "best_minus_recommended_ci_high")  # fmt: skip
LEVEL_FIELDS = ("level", "profit_mean", "profit_ci_low", "profit_ci_high", "retention_mean", "cost_to_serve_mean")


def json_records(result: MatrixResult) -> list[dict[str, Any]]:
    """One record per cell for ``relsim matrix --json``: Kotler's level, the model's best, P(his level is best)
    over bootstrap resamples of the replications, the regret (relative profit lost), the matrix's agreement, the
    difference best − recommended with its CI, and the per-level results under ``levels``."""
    v = result.verdicts.rename(
        columns={
            "recommended_level": "recommended",
            "best_level": "best",
            "agreement": "agrees",
            "diff_mean": "best_minus_recommended",
            "diff_ci_low": "best_minus_recommended_ci_low",
            "diff_ci_high": "best_minus_recommended_ci_high",
        }
    )
    records = []
    for row in v.to_dict("records"):
        levels = result.cells[result.cells["cell"] == row["cell"]]
        record = {key: _plain(row[key]) for key in CELL_FIELDS}
        record["metric"] = result.spec.metric
        record["levels"] = [
            {key.removesuffix("_mean") if key != "profit_mean" else key: _plain(level[key]) for key in LEVEL_FIELDS}
            for level in levels.to_dict("records")
        ]
        records.append(record)
    return records


def money(value: float) -> str:
    """Dollars in millions, readable in a table."""
    if not math.isfinite(value):
        return "–"
    return f"{value / 1e6:,.2f}"


def interval(low: float, high: float, fmt: Any = money) -> str:
    if not (math.isfinite(low) and math.isfinite(high)):
        return "–"
    return f"[{fmt(low)}, {fmt(high)}]"


def _market_hash(spec: MatrixSpec) -> str:
    return hashlib.sha256(json.dumps(dict(spec.market), sort_keys=True).encode()).hexdigest()[:16]


def _metric_words(spec: MatrixSpec) -> str:
    words = "discounted profit (NPV" if spec.metric == "discounted_profit" else "profit (undiscounted"
    return words + f" over {spec.years} years, $M)"


def render_report(result: MatrixResult) -> str:
    """REPORT.md: the verdict in plain words, the tables, the two further claims and the parameter set."""
    sections = (_verdict, _cells, _technology_heavy, _tiered, _parameters)
    return "\n".join(line for section in sections for line in section(result))


def _verdict(result: MatrixResult) -> list[str]:
    spec = result.spec
    cells = {c.name: c for c in spec.cells}
    v = result.verdicts
    metric_words = _metric_words(spec)
    low, high = result.agreement_ci
    n = len(spec.cells)
    conf = f"{spec.confidence:.0%}"
    lines = [
        "# The matrix test: is Kotler's recommended level the most profitable one in each cell?",
        "",
        f"*{'Quick look (`relsim matrix --quick`): not a verdict.' if spec.mode == 'quick' else 'Full experiment.'}* "
        f"{spec.replications} replications × {n} cells × {len(spec.levels)} levels, {spec.years} years, common random "
        f"numbers; metric: {metric_words}. Design and statistics: docs/MATRIX.md.",
        "",
        "This is the matrix's first design: the rows share one customer type and differ only in their number and "
        "value, so its verdict follows largely from how the cells are defined. The verdict earned by mechanisms "
        "(each row in its customer segment, size-dependent costs, level effects drawn from their priors; "
        "P(Kotler's level is best), the regret of following him, the robustness table and what would change each "
        "cell) is `relsim verdict`: results/verdict/REPORT.md and docs/VERDICT.md. This design's runs are kept as "
        "the engine's bit-for-bit reference.",
        "",
        "## Verdict",
        "",
        f"**Kotler's recommendation holds in {result.agreement} of {n} cells** ({conf} bootstrap interval over "
        f"replications: {low:.0f} to {high:.0f}). A cell agrees when the recommended level is the most profitable "
        f"one or statistically indistinguishable from it (the paired {conf} CI of best − recommended includes 0).",
        "",
    ]
    disagree = v[~v["agreement"]]
    if len(disagree):
        lines.append("Where it does not hold:")
        lines.append("")
        for _, row in disagree.iterrows():
            cell = cells[row["cell"]]
            note = ""
            if row["best_level"] in cell.also_acceptable:
                note = f" (Kotler's table names {row['best_level'].capitalize()} as an alternative here.)"
            lines.append(
                f"- **{row['cell']}** ({cell.customers:,} customers × {cell.revenue_per_customer:,.0f} $, margin "
                f"{cell.margin:.0%}): the model's best is **{row['best_level']}**, "
                f"Kotler's is {row['recommended_level']}; best − recommended = {money(row['diff_mean'])} $M "
                f"{interval(row['diff_ci_low'], row['diff_ci_high'])}. "
                f"{row['mechanism']}{note}"
            )
        lines.append("")
    return lines


def _cells(result: MatrixResult) -> list[str]:
    spec = result.spec
    cells = {c.name: c for c in spec.cells}
    v = result.verdicts
    metric_words = _metric_words(spec)
    conf = f"{spec.confidence:.0%}"
    lines = [
        "Per customer-year figures are per customer of the firm's starting base per year, discounted, so that the "
        "components add up to the profit difference. The model's acquisition spend is fixed, the same at every "
        "level; bad word of mouth lowers what it wins, not what it costs.",
        "",
        "## The cells",
        "",
        "| cell | customers | revenue / customer | margin | Kotler | model's best | best − Kotler, $M "
        f"[{conf} CI] | agrees |",
        "|---|---:|---:|---:|---|---|---:|---|",
    ]
    for _, row in v.iterrows():
        lines.append(
            f"| {row['cell']} | {row['customers']:,} | {row['revenue_per_customer']:,.0f} $ | {row['margin']:.0%} | "
            f"{row['recommended_level']} | {row['best_level']} | {money(row['diff_mean'])} "
            f"{interval(row['diff_ci_low'], row['diff_ci_high'])} | {'yes' if row['agreement'] else '**no**'} |"
        )
    lines += [
        "",
        "![best level per cell beside Kotler's recommendation](heatmap.png)",
        "",
        "![profit by level per cell, with CIs](profit_by_level.png)",
        "",
        "### Per cell and level",
        "",
        f"Mean {metric_words.split(' (')[0]} in $M with its {conf} CI (t over replications), mean annual "
        "retention, and cost to serve ($ per customer served per year). ★ best, ◆ Kotler's recommendation.",
        "",
    ]
    for name, group in result.cells.groupby("cell", sort=False):
        cell = cells[name]
        lines += [
            f"**{name}**: {cell.customers:,} customers × {cell.revenue_per_customer:,.0f} $ a year, margin "
            f"{cell.margin:.0%}"
            + (f" (simulated: {cell.sample_customers:,}, totals × {cell.scale:g})" if cell.scale != 1 else ""),
            "",
            "| level | profit, $M | CI | retention | cost to serve, $ |",
            "|---|---:|---|---:|---:|",
        ]
        for _, row in group.iterrows():
            mark = ("★" if row["is_best"] else "") + ("◆" if row["is_recommended"] else "")
            lines.append(
                f"| {row['level']} {mark} | {money(row['profit_mean'])} | "
                f"{interval(row['profit_ci_low'], row['profit_ci_high'])} | {row['retention_mean']:.1%} | "
                f"{row['cost_to_serve_mean']:,.2f} |"
            )
        lines.append("")

    return lines


def _technology_heavy(result: MatrixResult) -> list[str]:
    spec = result.spec
    n = len(spec.cells)
    conf = f"{spec.confidence:.0%}"
    tech = result.technology_heavy.drop_duplicates("cell")
    held = int(tech["best_is_at_least_minimum"].sum())
    supported = int((tech["claim"] == "supported").sum())
    contradicted = int((tech["claim"] == "contradicted").sum())
    minimum = spec.minimum_level.capitalize()
    lines = [
        "## Technology-heavy products: at least Accountable?",
        "",
        f"The scenario changes the shared market: {'; '.join(spec.technology_heavy_changes)}. In {held} of {n} cells "
        f"the most profitable level is {minimum} or above. The best of {minimum}-or-above is statistically better "
        f"than the best of the lower levels (paired {conf} CI above 0) in {supported} cells, worse in "
        f"{contradicted}, indistinguishable in {n - supported - contradicted}.",
        "",
        f"| cell | best (base market) | best (technology-heavy) | ≥ {minimum}? | best high − best low, $M [{conf} CI] "
        "| claim |",
        "|---|---|---|---|---:|---|",
    ]
    for _, row in tech.iterrows():
        lines.append(
            f"| {row['cell']} | {row['best_level_base']} | {row['best_level']} | "
            f"{'yes' if row['best_is_at_least_minimum'] else 'no'} | "
            f"{row['best_high_level']} − {row['best_low_level']} = {money(row['high_minus_low_mean'])} "
            f"{interval(row['high_minus_low_ci_low'], row['high_minus_low_ci_high'])} | {row['claim']} |"
        )
    return lines


def _tiered(result: MatrixResult) -> list[str]:
    spec = result.spec
    conf = f"{spec.confidence:.0%}"
    tiers = result.tiered[result.tiered["is_best_tiered"]]
    counts = tiers["verdict"].value_counts()
    lines = [
        "",
        "## Tiered policies: the most valuable customers at a higher level",
        "",
        f"Each pair of levels lower < upper ({len(policies('tiered', spec.levels))} pairs) as a policy: the top "
        f"{spec.tier_share:.0%} of customers by value at the upper level, the rest at the lower. The best tiered "
        "policy beats the best "
        f"uniform level in {counts.get('tiered better', 0)} cells, loses in {counts.get('uniform better', 0)}, and "
        f"is indistinguishable in {counts.get('indistinguishable', 0)} (paired {conf} CI; choosing the best of "
        f"{len(policies('tiered', spec.levels))} policies favours the tiered side a little).",
        "",
        f"| cell | best uniform | its profit, $M | best tiered (top {spec.tier_share:.0%} / rest) | its profit, $M "
        f"| tiered − uniform, $M [{conf} CI] | verdict |",
        "|---|---|---:|---|---:|---:|---|",
    ]
    for _, row in tiers.iterrows():
        lines.append(
            f"| {row['cell']} | {row['best_uniform_level']} | {money(row['best_uniform_mean'])} | {row['upper']} / "
            f"{row['lower']} | {money(row['profit_mean'])} | {money(row['diff_vs_best_uniform_mean'])} "
            f"{interval(row['diff_vs_best_uniform_ci_low'], row['diff_vs_best_uniform_ci_high'])} | {row['verdict']} |"
        )
    return lines


def _parameters(result: MatrixResult) -> list[str]:
    spec = result.spec
    seeds = spec.seeds()
    timings = result.timings
    overrides = ", ".join(f"{k} = {v!r}" for k, v in spec.market_overrides.items()) or "none"
    base = (
        f"base config `{spec.base_config}` (sha256 {spec.base_config_hash})"
        if spec.base_config
        else "the model defaults (sim.core.config.Config)"
    )
    return [
        "",
        "## Parameter set",
        "",
        f"- spec: `{spec.source or '(in memory)'}` (sha256 {spec.source_hash or '–'})"
        + (
            f", `--quick` design: at most {max(c.sample_customers for c in spec.cells):,} simulated customers a cell"
            if spec.mode == "quick"
            else ""
        ),
        f"- market: {base}; [market] overrides: {overrides}; resolved market parameters hash {_market_hash(spec)} "
        "(all values in parameters.json)",
        f"- discount rate {spec.market['discount_rate']:g}, competition {spec.market['competition']:g}, problem rate "
        f"{spec.market['problem_rate']:g}/year, partnership cost {spec.market['partnership_cost']:,.0f} $ a "
        "customer-year",
        f"- replications {spec.replications}, years {spec.years}, base seed {spec.base_seed}; replication r uses seed "
        f"SeedSequence({spec.base_seed}, spawn_key=(r,)) for every cell, level and scenario; first seeds: "
        + ", ".join(str(s) for s in seeds[:3])
        + ("…" if len(seeds) > 3 else ""),
        f"- bootstrap: {spec.bootstrap} resamples of the replications, seed {spec.bootstrap_seed}",
        "- sampling: "
        + "; ".join(
            f"{c.row} row {c.sample_customers:,} of {c.customers:,} customers simulated (totals × {c.scale:g})"
            for c in {c.row: c for c in spec.cells}.values()
        ),
        f"- run time: {timings.get('simulation_s', math.nan):.1f} s simulation + "
        f"{timings.get('analysis_s', math.nan):.1f} s analysis on {result.evaluator} ({len(result.runs):,} cell runs"
        + (f", {result.resumed:,} of them from an interrupted start" if result.resumed else "")
        + ")",
        f"- code: relsim {_version()}" + (f", git {result.code_version}" if result.code_version else ""),
        "",
    ]


def _version() -> str:
    from sim import __version__

    return __version__
