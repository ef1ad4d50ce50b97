"""The matrix experiment's statistics: per-level summaries with t-intervals, the verdict per cell, the bootstrap
interval of the agreement score, the mechanism behind each disagreement and the two further claims.

Plain arrays and frames in, frames out; ``runs`` is the experiment's runs table (sim.experiments.matrix.plan).
Values are arranged as cubes (cell, policy, replication) so that replications stay paired.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from sim.core.levels import LEVEL_NAMES
from sim.experiments.kotler import Cell
from sim.experiments.matrix.spec import METRICS, RATIOS, MatrixSpec, policies
from sim.outputs.stats import t_interval


def cube(runs: pd.DataFrame, cells: Sequence[str], policies_: Sequence[str], column: str) -> np.ndarray:
    """``column`` as an array (cell, policy, replication), replications in order (the pairing)."""
    table = runs.set_index(["cell", "policy", "replication"])[column].unstack("replication").sort_index(axis=1)
    index = pd.MultiIndex.from_product([list(cells), list(policies_)], names=["cell", "policy"])
    table = table.reindex(index)
    if table.isna().any().any():
        raise ValueError(f"incomplete design: missing runs for {column}")
    return table.to_numpy(float).reshape(len(cells), len(policies_), table.shape[1])


def verdicts(values: np.ndarray, recommended: np.ndarray, confidence: float = 0.95) -> dict[str, np.ndarray]:
    """Per cell: best policy (highest mean), paired difference best − recommended with its CI, agreement.

    ``values`` has shape (..., cells, policies, replications); leading axes (bootstrap resamples) broadcast.
    Agreement: the recommended policy is the best, or the paired CI of best − recommended includes 0.
    """
    means = values.mean(-1)
    best = means.argmax(-1)
    recommended = np.broadcast_to(recommended, best.shape)
    best_values = np.take_along_axis(values, best[..., None, None], axis=-2)[..., 0, :]
    recommended_values = np.take_along_axis(values, recommended[..., None, None], axis=-2)[..., 0, :]
    diff, low, high = t_interval(best_values - recommended_values, confidence)
    agreement = (best == recommended) | (low <= 0.0)
    return {"best": best, "diff": diff, "low": low, "high": high, "agreement": agreement}


def bootstrap_agreement(
    values: np.ndarray, recommended: np.ndarray, n: int, seed: int, confidence: float = 0.95
) -> np.ndarray:
    """Agreement scores (cells agreeing) of ``n`` resamples of the replications.

    The same resampled replication indices are used for every cell and level, which keeps the pairing.
    """
    if n == 0:
        return np.zeros(0, int)
    replications = values.shape[-1]
    indices = np.random.default_rng(seed).integers(0, replications, size=(n, replications))
    scores = []
    for chunk in np.array_split(indices, max(1, n // 500)):  # bounded memory
        resampled = np.moveaxis(values[:, :, chunk], 2, 0)  # (resample, cell, level, replication)
        scores.append(verdicts(resampled, recommended, confidence)["agreement"].sum(-1))
    return np.concatenate(scores)


def bootstrap_p_best(values: np.ndarray, recommended: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Per cell: the share of ``n`` resamples of the replications in which the recommended policy has the highest
    mean profit (a tie goes to the lower policy, as in :func:`verdicts`). The resamples are those of
    :func:`bootstrap_agreement` (same seed, same indices, every cell and level resampled together)."""
    cells = values.shape[0]
    if n == 0:
        return np.full(cells, np.nan)
    replications = values.shape[-1]
    indices = np.random.default_rng(seed).integers(0, replications, size=(n, replications))
    wins = np.zeros(cells)
    for chunk in np.array_split(indices, max(1, n // 500)):  # bounded memory
        means = np.moveaxis(values[:, :, chunk], 2, 0).mean(-1)  # (resample, cell, level)
        wins += (means.argmax(-1) == recommended).sum(0)
    return wins / n


def relative_regret(values: np.ndarray, recommended: np.ndarray) -> np.ndarray:
    """Per cell: (best mean − recommended mean) / |best mean| over the replications; 0 where it is the best."""
    means = values.mean(-1)
    best = means.max(-1)
    lost = best - np.take_along_axis(means, recommended[:, None], -1)[:, 0]
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(lost <= 0.0, 0.0, lost / np.abs(best))


def _summary_frame(
    values: dict[str, np.ndarray], confidence: float, cells: Sequence[str], labels: Sequence[str], label: str
) -> pd.DataFrame:
    """Long frame (cell, label) with mean and CI of each named cube."""
    frame = pd.DataFrame({"cell": np.repeat(list(cells), len(labels)), label: np.tile(list(labels), len(cells))})
    for name, array in values.items():
        mean, low, high = t_interval(array, confidence)
        frame[f"{name}_mean"] = mean.ravel()
        frame[f"{name}_ci_low"] = low.ravel()
        frame[f"{name}_ci_high"] = high.ravel()
    return frame


@dataclass
class MatrixResult:
    """Everything a matrix run produced (``runs`` holds every replication; the rest is derived from it)."""

    spec: MatrixSpec
    runs: pd.DataFrame
    cells: pd.DataFrame  # one row per cell × level (cells.csv)
    verdicts: pd.DataFrame  # one row per cell
    agreement: int
    agreement_ci: tuple[float, float]
    bootstrap_scores: np.ndarray
    technology_heavy: pd.DataFrame  # cell × level (technology_heavy.csv)
    tiered: pd.DataFrame  # cell × tiered policy (tiered.csv)
    timings: dict[str, float] = field(default_factory=dict)
    evaluator: str = "sequential"  # what ran the simulations (sim.engine.evaluators)
    resumed: int = 0  # runs taken from an earlier, interrupted start
    code_version: str | None = None  # the commit the run started from (sim.engine.provenance)


def _cell_frame(spec: MatrixSpec) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "cell": [c.name for c in spec.cells],
            "row": [c.row for c in spec.cells],
            "column": [c.column for c in spec.cells],
            "customers": [c.customers for c in spec.cells],
            "sample_customers": [c.sample_customers for c in spec.cells],
            "revenue_per_customer": [c.revenue_per_customer for c in spec.cells],
            "margin": [c.margin for c in spec.cells],
        }
    )


def _level_values(runs: pd.DataFrame, spec: MatrixSpec, scenario: str, column: str) -> np.ndarray:
    names = [c.name for c in spec.cells]
    labels = [label for label, _, _ in policies(scenario, spec.levels)]
    return cube(runs[runs["scenario"] == scenario], names, labels, column)


def mechanism(
    cell: Cell,
    best: str,
    recommended: str,
    means: Mapping[str, Mapping[str, float]],
    years: int,
    levels: Sequence[str] = LEVEL_NAMES,
) -> str:
    """Why ``best`` beats ``recommended`` in a cell, in plain words, from the paired component differences.

    ``means[level][metric]`` are replication means; ``levels`` orders the levels from least to most effort.
    Money is per customer of the real firm's starting base per
    year, discounted, so that margin − relationship cost − acquisition cost adds up to the profit difference.
    """
    per = cell.customers * years
    b, k = means[best], means[recommended]
    margin = (b["discounted_gross_margin"] - k["discounted_gross_margin"]) / per
    cost = (b["discounted_relationship_cost"] - k["discounted_relationship_cost"]) / per
    acquisition = (b["discounted_acquisition_cost"] - k["discounted_acquisition_cost"]) / per
    team = (k["discounted_account_team_cost"] - b["discounted_account_team_cost"]) / per
    points = 100 * (b["retention_rate"] - k["retention_rate"])
    best_name, rec_name = best.capitalize(), recommended.capitalize()
    tally = (
        f"(per customer-year, discounted: margin {margin:+,.2f} $, relationship cost {cost:+,.2f} $"
        + (f", acquisition cost {acquisition:+,.2f} $" if abs(acquisition) > 0.005 else "")
        + f", profit {margin - cost - acquisition:+,.2f} $ for {best_name})"
    )
    serve = (
        f"cost to serve {k['cost_to_serve_per_customer']:,.2f} $ against {b['cost_to_serve_per_customer']:,.2f} $"
        " per customer served a year"
    )
    if levels.index(best) > levels.index(recommended) and margin > 0 and points > 0:
        text = (
            f"{rec_name} loses more customers (annual retention {k['retention_rate']:.1%} against "
            f"{b['retention_rate']:.1%} at {best_name}, {points:.1f} points lower); the margin lost "
            f"({margin:,.2f} $ per customer-year) is more than the {max(cost, 0):,.2f} $ per customer-year "
            f"that {best_name}'s relationship effort adds."
        )
    elif levels.index(best) < levels.index(recommended) and cost < 0:
        what = f"{rec_name}'s relationship costs ({serve}"
        what += f"; account team {team:,.2f} $ per customer-year)" if team > 0.005 else ")"
        if margin < 0:
            keeps = (
                f"the margin it keeps through higher retention ({-points:+.1f} points, "
                f"{-margin:,.2f} $ per customer-year)"
                if points < 0
                else f"the margin it adds ({-margin:,.2f} $ per customer-year; retention {-points:+.1f} points)"
            )
            text = f"{what} add {-cost:,.2f} $ per customer-year, more than {keeps}."
        else:
            text = f"{what} add {-cost:,.2f} $ per customer-year and earn no extra margin ({-points:+.1f} points)."
    else:
        text = (
            f"{best_name} against {rec_name}: annual retention {points:+.1f} points; {rec_name}'s {serve} at "
            f"{best_name}."
        )
    return f"{text} {tally}"


def analyse(
    spec: MatrixSpec, runs: pd.DataFrame, timings: Mapping[str, float] | None = None, evaluator: str = "sequential"
) -> MatrixResult:
    """Tables, verdicts, bootstrap, mechanisms and the two further claims from the runs."""
    names = [c.name for c in spec.cells]
    levels = list(spec.levels)
    conf = spec.confidence
    metric = spec.metric

    # --- the matrix: every cell × level -------------------------------------------------------------------
    uniform = {m: _level_values(runs, spec, "uniform", m) for m in METRICS}
    rec = np.array([levels.index(c.recommended) for c in spec.cells])
    verdict = verdicts(uniform[metric], rec, conf)
    verdict_frame = pd.DataFrame(
        {
            "cell": names,
            "best_level": [levels[i] for i in verdict["best"]],
            "recommended_level": [c.recommended for c in spec.cells],
            "diff_mean": verdict["diff"],
            "diff_ci_low": verdict["low"],
            "diff_ci_high": verdict["high"],
            "agreement": verdict["agreement"],
            "p_recommended_best": bootstrap_p_best(uniform[metric], rec, spec.bootstrap, spec.bootstrap_seed),
            "regret": relative_regret(uniform[metric], rec),
        }
    )
    mechanisms = []
    for i, cell in enumerate(spec.cells):
        if verdict["agreement"][i]:
            mechanisms.append("")
            continue
        means = {lv: {m: float(uniform[m][i, j].mean()) for m in METRICS} for j, lv in enumerate(levels)}
        mechanisms.append(mechanism(cell, levels[verdict["best"][i]], cell.recommended, means, spec.years, levels))
    verdict_frame["mechanism"] = mechanisms
    verdict_frame = _cell_frame(spec).merge(verdict_frame, on="cell")

    table = _summary_frame(
        {
            "profit": uniform[metric],
            "retention": uniform["retention_rate"],
            "cost_to_serve": uniform["cost_to_serve_per_customer"],
        },
        conf,
        names,
        levels,
        "level",
    )
    table = _cell_frame(spec).merge(table, on="cell")
    table.insert(table.columns.get_loc("level") + 1, "metric", metric)
    per_cell = verdict_frame.set_index("cell")
    table["best_level"] = table["cell"].map(per_cell["best_level"])
    table["recommended_level"] = table["cell"].map(per_cell["recommended_level"])
    table["is_best"] = table["level"] == table["best_level"]
    table["is_recommended"] = table["level"] == table["recommended_level"]
    for column in ("diff_mean", "diff_ci_low", "diff_ci_high", "agreement"):
        table[column] = table["cell"].map(per_cell[column])

    scores = bootstrap_agreement(uniform[metric], rec, spec.bootstrap, spec.bootstrap_seed, conf)
    tail = 100 * (1 - conf) / 2
    agreement_ci = (
        tuple(float(x) for x in np.percentile(scores, [tail, 100 - tail])) if len(scores) else (math.nan, math.nan)
    )

    return MatrixResult(
        spec=spec,
        runs=runs,
        cells=table,
        verdicts=verdict_frame,
        agreement=int(verdict["agreement"].sum()),
        agreement_ci=agreement_ci,  # type: ignore[arg-type]
        bootstrap_scores=scores,
        technology_heavy=_technology_heavy(spec, runs, uniform[metric]),
        tiered=_tiered(spec, runs, uniform[metric]),
        timings=dict(timings or {}),
        evaluator=evaluator,
    )


def _technology_heavy(spec: MatrixSpec, runs: pd.DataFrame, base: np.ndarray) -> pd.DataFrame:
    """Claim (1): with many problems and fast word of mouth, is Accountable or above the better choice?"""
    names = [c.name for c in spec.cells]
    levels = list(spec.levels)
    conf = spec.confidence
    values = {m: _level_values(runs, spec, "technology_heavy", m) for m in (spec.metric, *RATIOS)}
    profit = values[spec.metric]
    means = profit.mean(-1)
    floor = levels.index(spec.minimum_level)
    best = means.argmax(-1)
    best_high = floor + means[:, floor:].argmax(-1)
    best_low = means[:, :floor].argmax(-1)
    rows = np.arange(len(names))
    diff, low, high = t_interval(profit[rows, best_high] - profit[rows, best_low], conf)
    verdict = np.where(low > 0, "supported", np.where(high < 0, "contradicted", "indistinguishable"))
    table = _summary_frame(
        {
            "profit": profit,
            "retention": values["retention_rate"],
            "cost_to_serve": values["cost_to_serve_per_customer"],
        },
        conf,
        names,
        levels,
        "level",
    )
    per_cell = pd.DataFrame(
        {
            "cell": names,
            "best_level": [levels[i] for i in best],
            "best_level_base": [levels[i] for i in base.mean(-1).argmax(-1)],
            "best_is_at_least_minimum": best >= floor,
            "best_high_level": [levels[i] for i in best_high],
            "best_low_level": [levels[i] for i in best_low],
            "high_minus_low_mean": diff,
            "high_minus_low_ci_low": low,
            "high_minus_low_ci_high": high,
            "claim": verdict,
        }
    )
    table = _cell_frame(spec).merge(table, on="cell").merge(per_cell, on="cell")
    table.insert(table.columns.get_loc("level") + 1, "metric", spec.metric)
    table.insert(table.columns.get_loc("level"), "minimum_level", spec.minimum_level)
    return table


def _tiered(spec: MatrixSpec, runs: pd.DataFrame, uniform: np.ndarray) -> pd.DataFrame:
    """Claim (2): the best tiered policy (top share at a higher level) against the best uniform level, paired."""
    names = [c.name for c in spec.cells]
    labels = policies("tiered", spec.levels)
    conf = spec.confidence
    values = _level_values(runs, spec, "tiered", spec.metric)
    rows = np.arange(len(names))
    best_uniform = uniform.mean(-1).argmax(-1)
    reference = uniform[rows, best_uniform]  # (cell, replication)
    best_tiered = values.mean(-1).argmax(-1)
    diff, low, high = t_interval(values - reference[:, None, :], conf)  # every policy against the best uniform
    table = _summary_frame({"profit": values}, conf, names, [label for label, _, _ in labels], "policy")
    table.insert(2, "lower", np.tile([lo for _, lo, _ in labels], len(names)))
    table.insert(3, "upper", np.tile([up for _, _, up in labels], len(names)))
    table.insert(4, "top_share", spec.tier_share)
    table.insert(5, "metric", spec.metric)
    table["diff_vs_best_uniform_mean"] = diff.ravel()
    table["diff_vs_best_uniform_ci_low"] = low.ravel()
    table["diff_vs_best_uniform_ci_high"] = high.ravel()
    table["is_best_tiered"] = (np.arange(len(labels))[None, :] == best_tiered[:, None]).ravel()
    table["best_uniform_level"] = np.repeat([spec.levels[i] for i in best_uniform], len(labels))
    table["best_uniform_mean"] = np.repeat(uniform.mean(-1)[rows, best_uniform], len(labels))
    best_low, best_high = low[rows, best_tiered], high[rows, best_tiered]
    verdict = np.where(best_low > 0, "tiered better", np.where(best_high < 0, "uniform better", "indistinguishable"))
    table["verdict"] = np.repeat(verdict, len(labels))
    return _cell_frame(spec).merge(table, on="cell")
