"""The verdict's tables from the engine's rows: per mapping and cell, the factorial, the scores of the mappings, the
robustness to the cost elasticities, the sensitivity of Kotler's margin over the best other level, and the analytic
reduction beside the simulation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from sim.core.levels import LEVEL_NAMES
from sim.experiments.verdict import analysis as stats
from sim.experiments.verdict import hypercube, robustness
from sim.experiments.verdict.plan import ELASTICITIES, drawn_values, hypercube_points
from sim.experiments.verdict.spec import Unit, VerdictSpec

REFERENCE_ROW = "medium"  # the reduction's transfer: every cell predicted with this row's R_L, C_L and A


@dataclass
class VerdictResult:
    spec: VerdictSpec
    cells: pd.DataFrame  # one row per mapping × cell
    factorial: pd.DataFrame
    scores: pd.DataFrame  # one row per mapping
    robustness: pd.DataFrame
    sensitivity: pd.DataFrame
    reduction: pd.DataFrame
    draws: pd.DataFrame  # the primary mapping's cells × draws
    src: pd.DataFrame = field(default_factory=pd.DataFrame)  # cell × parameter: standardised regression coefficients
    fit: pd.DataFrame = field(default_factory=pd.DataFrame)  # per cell: R², adjusted R², draws, parameters
    changes: pd.DataFrame = field(default_factory=pd.DataFrame)  # per cell: what would change the verdict
    summary: pd.DataFrame = field(default_factory=pd.DataFrame)  # the robustness table (agreement per setting)
    hypercube: pd.DataFrame = field(default_factory=pd.DataFrame)  # per Latin hypercube point
    hypercube_summary: pd.DataFrame = field(default_factory=pd.DataFrame)
    timings: dict[str, float] = field(default_factory=dict)
    evaluator: str = ""
    code_version: str = ""  # the git commit the run started from (sim.engine.provenance)

    @property
    def primary(self) -> pd.DataFrame:
        return self.cells[self.cells["mapping"] == self.spec.primary].reset_index(drop=True)


def _select(frame: pd.DataFrame, unit: Unit, margin: float) -> pd.DataFrame:
    return frame[(frame["unit"] == unit.name) & np.isclose(frame["margin"], margin)]


def _drawn(frame: pd.DataFrame | None, unit: Unit, margin: float, metric: str) -> tuple[np.ndarray, pd.DataFrame]:
    """Profits [draw, replication, level] of a unit at a margin and its rows (sorted by draw, replication)."""
    if frame is None:
        return np.empty((0, 0, len(LEVEL_NAMES))), pd.DataFrame()
    rows = _select(frame, unit, margin).assign(draw_index=lambda f: f["draw"].astype(int))
    rows = rows.sort_values(["draw_index", "replication"], kind="stable")
    reps = int(rows["replication"].max()) + 1 if len(rows) else 0
    draws = len(rows) // reps if reps else 0
    return stats.profit_array(rows, metric).reshape(draws, reps, len(LEVEL_NAMES)), rows


def _all_draws(frames: dict[str, pd.DataFrame], unit: Unit, margin: float, metric: str
               ) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:  # fmt: skip
    """Profits [draw, replication, level] of the replicated draws, the means [draw, level] of every draw (the
    sensitivity sweep's single runs appended) and one row of parameters per draw, in the same order."""
    array, rows = _drawn(frames.get("draws"), unit, margin, metric)
    extra, extra_rows = _drawn(frames.get("sensitivity"), unit, margin, metric)
    means = np.concatenate([array.mean(axis=1), extra.mean(axis=1)]) if extra.shape[0] else array.mean(axis=1)
    params = pd.concat([r[r["replication"] == 0] for r in (rows, extra_rows) if len(r)] or [pd.DataFrame()])
    return array, means, params.reset_index(drop=True)


def _verdict(spec: VerdictSpec, frames: dict[str, pd.DataFrame], unit: Unit, margin: float,
             recommended: str, nominal: pd.DataFrame | None = None) -> dict[str, Any]:  # fmt: skip
    k = LEVEL_NAMES.index(recommended)
    nominal = frames["nominal"] if nominal is None else nominal
    profits = stats.profit_array(_select(nominal, unit, margin).sort_values("replication"), spec.metric)
    out = stats.nominal_verdict(profits, k, spec.materiality, spec.alpha)
    array, means, _ = _all_draws(frames, unit, margin, spec.metric)
    if array.shape[0]:
        out |= stats.draw_verdict(array, k, spec.materiality)
        out |= stats.draw_summary(means, k, spec.materiality)  # every draw, the sensitivity sweep's included
    else:
        out |= {"draws": 0, "p_recommended_best": np.nan, "expected_regret": np.nan, "p_within_margin": np.nan}
    return out


def cells_table(spec: VerdictSpec, frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    records = []
    for mapping in spec.mappings:
        for cell in spec.cells:
            unit = spec.unit(mapping.rows[cell.row])
            head = {"mapping": mapping.name, "cell": cell.name, "row": cell.row, "column": cell.column,
                    "segment": unit.segment, "customers": unit.customers,
                    "revenue_per_customer": unit.revenue_per_customer, "margin": cell.margin,
                    "recommended": cell.recommended}  # fmt: skip
            records.append(head | _verdict(spec, frames, unit, cell.margin, cell.recommended))
    return pd.DataFrame.from_records(records)


def factorial_table(spec: VerdictSpec, frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    if spec.factorial is None:
        return pd.DataFrame()
    f = spec.factorial
    recommended = {(c.row, c.column): c.recommended for c in spec.cells}
    records = []
    for row, unit in f.units():
        unit = spec.unit(unit)
        for margin, column in zip(f.margins, f.columns, strict=True):
            level = recommended.get((row, column))
            if level is None:
                continue
            head = {"customers": unit.customers, "revenue_per_customer": unit.revenue_per_customer,
                    "segment": unit.segment, "margin": margin, "kotler_row": row, "kotler_column": column,
                    "recommended": level}  # fmt: skip
            records.append(head | _verdict(spec, frames, unit, margin, level))
    return pd.DataFrame.from_records(records)


def scores_table(spec: VerdictSpec, cells: pd.DataFrame) -> pd.DataFrame:
    """Per mapping: cells that agree (TOST at the files' values), cells where Kotler's level is the best there, and
    the expected numbers over the parameter draws."""
    records = []
    for mapping in spec.mappings:
        rows = cells[cells["mapping"] == mapping.name]
        records.append({
            "mapping": mapping.name,
            "primary": mapping.name == spec.primary,
            "agrees": int(rows["agrees"].sum()),
            "kotler_best": int((rows["best"] == rows["recommended"]).sum()),
            "expected_kotler_best": float(rows["p_recommended_best"].sum()),
            "expected_within_margin": float(rows["p_within_margin"].sum()),
            "draws": int(rows["draws"].min()),
            "text": mapping.text,
        })  # fmt: skip
    return pd.DataFrame.from_records(records)


def draws_and_sensitivity(spec: VerdictSpec, frames: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """For the primary mapping's cells, over every draw (the sensitivity sweep's included): per draw the gap
    (Kotler's level − best other, per customer-year of revenue) and regret; the rank correlation and the standardised
    regression coefficient of the gap on every drawn parameter, with the regression's R²; P(best) in each half of
    each elasticity; and what would change the cell's verdict (sim.experiments.verdict.robustness)."""
    mapping = spec.mapping(spec.primary)
    per_draw, sensitivity, halves, coefficients, fits, changes = [], [], [], [], [], []
    for cell in spec.cells:
        unit = spec.unit(mapping.rows[cell.row])
        _, means, params = _all_draws(frames, unit, cell.margin, spec.metric)
        if not means.shape[0]:
            continue
        k = LEVEL_NAMES.index(cell.recommended)
        gap = stats.gaps(means[:, None, :], k) / (unit.customers * unit.revenue_per_customer * spec.years)
        wins = np.argmax(means, axis=1) == k
        for d in range(means.shape[0]):
            per_draw.append({"cell": cell.name, "draw": d, "gap": float(gap[d]),
                             "regret": stats.relative_regret(means[d], k),
                             "best": LEVEL_NAMES[stats.best_index(means[d])]})  # fmt: skip
        names = _drawn_columns(spec, unit.segment, params)
        x = params[names].to_numpy(dtype=float)
        for j, name in enumerate(names):
            rho = stats.spearman(x[:, j], gap)
            if not np.isnan(rho):
                sensitivity.append({"cell": cell.name, "parameter": name, "rho": rho})
        fit = stats.src(x, gap)
        fits.append({"cell": cell.name, "r2": fit["r2"], "r2_adjusted": fit["r2_adjusted"], "draws": fit["n"],
                     "parameters": fit["k"]})  # fmt: skip
        coefficients += [{"cell": cell.name, "parameter": name, "src": fit["src"][j], "slope": fit["slope"][j]}
                         for j, name in enumerate(names) if np.isfinite(fit["src"][j])]  # fmt: skip
        changes.append({"cell": cell.name, "recommended": cell.recommended}
                       | robustness.what_would_change(x, names, gap, wins, fit))  # fmt: skip
        for name in ELASTICITIES:
            high = params[name].to_numpy(dtype=float) >= sum(spec.elasticity) / 2
            for half, mask in (("low", ~high), ("high", high)):
                p = float(wins[mask].mean()) if mask.any() else np.nan
                halves.append({"cell": cell.name, "parameter": name, "half": half, "p_recommended_best": p,
                               "draws": int(mask.sum())})  # fmt: skip
    return {"draws": pd.DataFrame(per_draw), "sensitivity": pd.DataFrame(sensitivity),
            "robustness": pd.DataFrame(halves), "src": pd.DataFrame(coefficients), "fit": pd.DataFrame(fits),
            "changes": pd.DataFrame(changes)}  # fmt: skip


def _drawn_columns(spec: VerdictSpec, segment: str, rows: pd.DataFrame) -> list[str]:
    """The drawn parameters (numbers) that vary between the draws of a firm."""
    names = [name for name, value in drawn_values(spec, segment, 0).items() if not isinstance(value, (str, bool))]
    return [name for name in names if name in rows and rows[name].nunique() > 1]


def reduction_table(spec: VerdictSpec, nominal: pd.DataFrame) -> pd.DataFrame:
    """Per primary cell and level: the reduction's terms from the nominal runs (replications averaged), the simulated
    profit per starting customer, the reduction with the cell's own terms (equal by construction) and with the
    reference row's terms; ``best_sim`` and ``best_reference`` show where the row's own mechanisms decide."""
    mapping = spec.mapping(spec.primary)
    reference = spec.unit(mapping.rows[REFERENCE_ROW])
    records = []
    for cell in spec.cells:
        unit = spec.unit(mapping.rows[cell.row])
        own = _select(nominal, unit, cell.margin).mean(numeric_only=True)
        ref = _select(nominal, reference, cell.margin).mean(numeric_only=True)
        v = unit.revenue_per_customer
        for level in LEVEL_NAMES:
            terms = stats.reduction_terms(own, level, unit.customers, v)
            ref_terms = stats.reduction_terms(ref, level, reference.customers, reference.revenue_per_customer)
            ref_terms["K"] = 0.0  # the reference row's customers take no concessions at another row's size
            records.append({"cell": cell.name, "segment": unit.segment, "level": level, **terms,
                            "profit_sim": float(own[f"{spec.metric}.{level}"]) / unit.customers,
                            "profit_reduction": stats.reduced_profit(terms, cell.margin, v),
                            "profit_reference": stats.reduced_profit(ref_terms, cell.margin, v)})  # fmt: skip
    frame = pd.DataFrame.from_records(records)
    for column, source in (("best_sim", "profit_sim"), ("best_reference", "profit_reference")):
        best = frame.loc[frame.groupby("cell", sort=False)[source].idxmax(), ["cell", "level"]]
        frame = frame.merge(best.rename(columns={"level": column}), on="cell")
    return frame


def analyse(spec: VerdictSpec, frames: dict[str, pd.DataFrame], timings: dict[str, float],
            evaluator: str = "") -> VerdictResult:  # fmt: skip
    cells = cells_table(spec, frames)
    sensitivity = draws_and_sensitivity(spec, frames)
    points = hypercube_points(spec)
    cube = hypercube.hypercube_table(spec, points, frames["hypercube"]) if "hypercube" in frames else pd.DataFrame()
    return VerdictResult(
        spec=spec,
        cells=cells,
        factorial=factorial_table(spec, frames),
        scores=scores_table(spec, cells),
        reduction=reduction_table(spec, frames["nominal"]),
        summary=robustness.summary_table(spec, cells, frames.get("robustness")),
        hypercube=cube,
        hypercube_summary=hypercube.hypercube_summary(cube),
        timings=timings,
        evaluator=evaluator,
        **sensitivity,
    )
