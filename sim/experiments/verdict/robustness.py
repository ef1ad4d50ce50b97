"""The robustness table (agreement under each row mapping, cost elasticity, segment profile and the priors) and, per
cell, what would change the verdict (from the regression over the parameter draws).

Both work on plain frames and arrays, so each can be checked on constructed numbers (tests/test_verdict.py).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from sim.core.levels import LEVEL_NAMES
from sim.experiments.verdict import analysis as stats
from sim.experiments.verdict.plan import primary_units, robustness_settings
from sim.experiments.verdict.spec import VerdictSpec

MAJORITY = 0.5  # a cell agrees "under the priors" when most draws keep Kotler's level within the margin


def flips(baseline: Mapping[str, bool], agrees: Mapping[str, bool]) -> str:
    """Cells whose verdict differs from the baseline: "+cell" now agrees, "−cell" no longer does."""
    changed = [f"{'+' if agrees[c] else '−'}{c}" for c in baseline if c in agrees and agrees[c] != baseline[c]]
    return ", ".join(changed) or "none"


def row(group: str, setting: str, baseline: Mapping[str, bool], agrees: Mapping[str, bool],
        expected: float = math.nan) -> dict[str, Any]:  # fmt: skip
    return {"varies": group, "setting": setting, "agrees": int(sum(agrees.values())), "cells": len(agrees),
            "flips": flips(baseline, agrees), "expected": expected}  # fmt: skip


def setting_agreement(spec: VerdictSpec, frame: pd.DataFrame, setting: str) -> dict[str, bool]:
    """Per primary cell: does Kotler's level agree (best, or equivalent by the TOST) in the robustness runs of one
    setting (the same replications and test as at the files' values)?"""
    mapping = spec.mapping(spec.primary)
    out = {}
    for cell in spec.cells:
        unit = spec.unit(mapping.rows[cell.row])
        rows = frame[(frame["unit"] == unit.name) & (frame["setting"] == setting)
                     & np.isclose(frame["margin"], cell.margin)].sort_values("replication")  # fmt: skip
        profits = stats.profit_array(rows, spec.metric)
        k = LEVEL_NAMES.index(cell.recommended)
        out[cell.name] = bool(stats.nominal_verdict(profits, k, spec.materiality, spec.alpha)["agrees"])
    return out


def summary_table(spec: VerdictSpec, cells: pd.DataFrame, runs: pd.DataFrame | None) -> pd.DataFrame:
    """Rows: every row mapping, every cost elasticity and the generic segment (primary mapping, files' values
    otherwise), and the priors (files' values vs the draws); columns: cells that agree and the cells that flip
    against the primary mapping at the files' values."""
    primary = cells[cells["mapping"] == spec.primary]
    baseline = dict(zip(primary["cell"], primary["agrees"].astype(bool), strict=True))
    records = [row("row mapping", m.name + (" (primary)" if m.name == spec.primary else ""), baseline,
                   dict(zip(cells.loc[cells["mapping"] == m.name, "cell"],
                            cells.loc[cells["mapping"] == m.name, "agrees"].astype(bool), strict=True)))
               for m in spec.mappings]  # fmt: skip
    if runs is not None and len(primary_units(spec)):
        for name in robustness_settings(spec):
            group = "segment profile" if name.startswith("segment") else "cost elasticity"
            label = f"every row in {name.split()[-1]}" if group == "segment profile" else f"both = {name.split()[-1]}"
            records.append(row(group, label, baseline, setting_agreement(spec, runs, name)))
    records.append(row("priors", "files' values (defaults)", baseline, baseline))
    if primary["p_within_margin"].notna().all():
        drawn = dict(zip(primary["cell"], primary["p_within_margin"] >= MAJORITY, strict=True))
        records.append(row("priors", f"prior draws (P(regret ≤ margin) ≥ {MAJORITY:g})", baseline, drawn,
                           float(primary["p_within_margin"].sum())))  # fmt: skip
    return pd.DataFrame.from_records(records)


def what_would_change(x: np.ndarray, names: Sequence[str], gap: np.ndarray, wins: np.ndarray,
                      fit: Mapping[str, Any]) -> dict[str, Any]:  # fmt: skip
    """From the draws of one cell (parameters ``x`` [draw, parameter], Kotler's gap over the best other level and
    whether his level won): the most influential parameter (largest |SRC|; largest |Spearman ρ| when the regression
    cannot be fitted), P(Kotler best) among the draws in its lowest and highest third, and where the linear fit puts
    the sign change of the gap along it; and the parameter whose flip point lies nearest the draws' mean in
    standard deviations (the smallest change, linearly, at which the verdict changes), if inside the drawn range.
    Each linear flip point comes with its empirical check: P(Kotler best) among the draws beyond it."""
    out: dict[str, Any] = {"p_best": float(np.mean(wins)) if len(wins) else math.nan, "r2": fit.get("r2", math.nan)}
    if not len(names) or len(gap) < 3:
        return out | {"parameter": ""}
    src = np.asarray(fit["src"], dtype=float)
    if np.isfinite(src).any():
        top = int(np.nanargmax(np.abs(src)))
        weight, measure = float(src[top]), "src"
    else:
        rhos = np.array([stats.spearman(x[:, j], gap) for j in range(x.shape[1])])
        if not np.isfinite(rhos).any():
            return out | {"parameter": ""}
        top = int(np.nanargmax(np.abs(rhos)))
        weight, measure = float(rhos[top]), "rho"
    low, high = stats.thirds(x[:, top], wins)
    column = x[:, top]
    at = stats.flip_point(column, gap, float(fit["slope"][top]))
    p_beyond, n_beyond = stats.beyond(column, gap, float(fit["slope"][top]), at, wins)
    out |= {"parameter": names[top], "measure": measure, "weight": weight, "p_low_third": low,
            "p_high_third": high, "drawn_low": float(column.min()), "drawn_high": float(column.max()),
            "flip_at": at, "p_beyond": p_beyond, "draws_beyond": n_beyond}  # fmt: skip
    nearest, distance = "", math.inf
    for j, name in enumerate(names):
        at = stats.flip_point(x[:, j], gap, float(fit["slope"][j]))
        sd = float(x[:, j].std(ddof=1))
        inside = math.isfinite(at) and sd > 0 and x[:, j].min() <= at <= x[:, j].max()
        if inside and abs(at - x[:, j].mean()) / sd < distance:
            nearest, distance, nearest_at = name, abs(at - x[:, j].mean()) / sd, at
    if nearest:
        j = list(names).index(nearest)
        p_beyond, n_beyond = stats.beyond(x[:, j], gap, float(fit["slope"][j]), nearest_at, wins)
        out |= {"nearest_parameter": nearest, "nearest_flip_at": nearest_at, "nearest_sd": distance,
                "nearest_p_beyond": p_beyond, "nearest_draws_beyond": n_beyond}  # fmt: skip
    return out
