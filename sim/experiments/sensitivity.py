"""Global sensitivity analysis of the choice of relationship level (issue 6), with SALib.

A sensitivity spec is a sweep spec (docs/SWEEPS.md) whose factors are ranges, plus a ``[sensitivity]`` table
naming the methods. For each method (Morris screening, Sobol indices) the sweep machinery runs the method's
design (resumable, on any evaluator) into ``OUT/runs-<method>/``; the analysis then reads the rows, averages
each design point over its replications and computes, for every response:

- ``advantage.<level>``: discounted profit of the level minus that of the baseline level (Basic);
- ``lead``: the winning level's profit minus the runner-up's (how decisive the choice is);
- ``winner``: which level wins, as its index 0 (basic) … 4 (partnership), an ordinal of relationship intensity.

The indices go to ``morris.csv`` and ``sobol.csv``, the figures to ``morris.png`` and ``sobol.png``, a short
``REPORT.md`` and a copy of the spec beside them. SALib and matplotlib are imported only when used.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim.core.config import ConfigError, from_mapping
from sim.engine.sweep import SweepSpec, design, parse_spec
from sim.files import read_toml

METHODS = ("morris", "sobol")
SECTION_KEYS = ("out", "methods", "morris_samples", "sobol_samples", "confidence", "resamples")


@dataclass(frozen=True)
class SensitivitySpec:
    """One sweep spec per method, and where and how to analyse them."""

    sweeps: Mapping[str, SweepSpec]
    out: str
    confidence: float = 0.95
    resamples: int = 1000
    source: str | None = None
    source_text: str | None = None


def parse_sensitivity(
    data: Mapping[str, Any], base_dir: Path | str = ".", source: str | None = None
) -> SensitivitySpec:
    """A validated :class:`SensitivitySpec`; errors name their key (``sensitivity.methods``, ``vary.x.low``)."""
    data = dict(data)
    section = data.pop("sensitivity", None)
    if not isinstance(section, Mapping):
        raise ConfigError("sensitivity", "missing table [sensitivity] (methods, samples, out)")
    unknown = sorted(set(section) - set(SECTION_KEYS))
    if unknown:
        raise ConfigError(f"sensitivity.{unknown[0]}", f"unknown key; allowed: {', '.join(SECTION_KEYS)}")
    methods = section.get("methods", list(METHODS))
    if not isinstance(methods, list) or not methods:
        raise ConfigError("sensitivity.methods", f"must be a non-empty list of {', '.join(METHODS)}; got {methods!r}")
    for i, method in enumerate(methods):
        if method not in METHODS:
            raise ConfigError(f"sensitivity.methods[{i}]", f"must be one of {', '.join(METHODS)}; got {method!r}")
    out = section.get("out")
    if not isinstance(out, str) or not out:
        raise ConfigError("sensitivity.out", f"must be a folder name; got {out!r}")
    confidence = section.get("confidence", 0.95)
    if isinstance(confidence, bool) or not isinstance(confidence, (int, float)) or not 0 < confidence < 1:
        raise ConfigError("sensitivity.confidence", f"must be a number between 0 and 1; got {confidence!r}")
    resamples = section.get("resamples", 1000)
    if isinstance(resamples, bool) or not isinstance(resamples, int) or not 10 <= resamples <= 100_000:
        raise ConfigError("sensitivity.resamples", f"must be an integer from 10 to 100,000; got {resamples!r}")
    sweep_table = dict(data.get("sweep", {})) if isinstance(data.get("sweep", {}), Mapping) else data.get("sweep")
    if not isinstance(sweep_table, dict):
        raise ConfigError("sweep", f"must be a table; got {sweep_table!r}")
    for key in ("design", "samples", "out"):
        if key in sweep_table:
            raise ConfigError(f"sweep.{key}", "set by [sensitivity] (methods, <method>_samples, out); remove it")
    compare = data.get("compare")
    if not isinstance(compare, Mapping) or "levels" not in compare:
        raise ConfigError("compare", "a sensitivity spec compares levels: add [compare] levels = [...]")
    sweeps = {}
    for method in methods:
        key = f"{method}_samples"
        if key not in section:
            raise ConfigError(f"sensitivity.{key}", f"missing: the number of samples of the {method} design")
        table = {**sweep_table, "design": method, "samples": section[key], "out": f"{out}/runs-{method}"}
        try:
            spec = parse_spec({**data, "sweep": table}, base_dir=base_dir, source=source)
        except ConfigError as error:
            if error.field == "sweep.samples":
                raise ConfigError(f"sensitivity.{key}", str(error).split(": ", 1)[1]) from None
            raise
        for factor in spec.factors:
            if factor.discrete:
                raise ConfigError(f"vary.{factor.name}", "sensitivity needs ranges {low, high}, not lists")
        sweeps[method] = replace(spec, name=f"{spec.name}-{method}")
    return SensitivitySpec(sweeps, out, float(confidence), resamples, source)


def load_sensitivity(path: str | Path) -> SensitivitySpec:
    path = Path(path)
    data, text = read_toml(path, "SPEC")
    spec = parse_sensitivity(data, base_dir=path.parent, source=str(path))
    sweeps = {method: replace(s, source_text=text) for method, s in spec.sweeps.items()}
    return replace(spec, sweeps=sweeps, source_text=text)


# ----------------------------------------------------------------------------------------------------------------
# Responses and indices
# ----------------------------------------------------------------------------------------------------------------
def responses(spec: SweepSpec, frame: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Per scenario ("" without scenarios): one row per design point (in design order), one column per response,
    each the mean over the point's replications (the winner: the level with the highest mean profit)."""
    levels, metric, baseline = list(spec.compare_levels), spec.compare_metric, spec.baseline
    columns = [f"{metric}.{level}" for level in levels]
    means = frame.groupby("point", sort=True)[columns].mean()
    points = len(design(spec)[1])
    if len(means) != points * max(1, len(spec.scenarios)):
        raise ValueError(f"incomplete sweep: {len(means)} design points with results, expected more")
    values = means.to_numpy(float)
    table = pd.DataFrame(index=means.index)
    base = values[:, levels.index(baseline)]
    for i, level in enumerate(levels):
        if level != baseline:
            table[f"advantage.{level}"] = values[:, i] - base
    ordered = np.sort(values, axis=1)
    table["lead"] = ordered[:, -1] - ordered[:, -2]
    winner = np.argmax(values, axis=1)  # first maximum: ties go to the lower level
    codes = from_mapping(spec.base).level_names  # the levels in effect, in order (a base config may add some)
    table["winner"] = [codes.index(levels[i]) for i in winner]
    names = [name for name, _ in spec.scenarios] or [""]
    return {name: table.iloc[s * points : (s + 1) * points].reset_index(drop=True) for s, name in enumerate(names)}


def morris_indices(
    problem: Mapping[str, Any],
    x: np.ndarray,
    table: pd.DataFrame,
    num_levels: int = 4,
    confidence: float = 0.95,
    resamples: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """Morris elementary-effect statistics of every response column: mu, mu* (mean |EE|), sigma, mu* CI."""
    from SALib.analyze import morris

    records = []
    for response in table.columns:
        y = table[response].to_numpy(float)
        result = morris.analyze(
            dict(problem), x, y, num_resamples=resamples, conf_level=confidence, num_levels=num_levels, seed=seed
        )
        for i, factor in enumerate(problem["names"]):
            records.append(
                {
                    "response": response,
                    "factor": factor,
                    "mu": float(result["mu"][i]),
                    "mu_star": float(result["mu_star"][i]),
                    "sigma": float(result["sigma"][i]),
                    "mu_star_conf": float(result["mu_star_conf"][i]),
                }
            )
    frame = pd.DataFrame(records)
    top = frame.groupby("response")["mu_star"].transform("max")
    frame["mu_star_relative"] = np.where(top > 0, frame["mu_star"] / top.where(top > 0, 1.0), 0.0)
    return frame


def sobol_indices(
    problem: Mapping[str, Any], table: pd.DataFrame, confidence: float = 0.95, resamples: int = 1000, seed: int = 0
) -> pd.DataFrame:
    """First-order (S1) and total (ST) Sobol indices of every response column, with bootstrap CIs.

    A response that never varies has no variance to apportion: its indices are NaN.
    """
    from SALib.analyze import sobol

    records = []
    for response in table.columns:
        y = table[response].to_numpy(float)
        if np.ptp(y) == 0:
            result = {key: np.full(len(problem["names"]), np.nan) for key in ("S1", "S1_conf", "ST", "ST_conf")}
        else:
            result = sobol.analyze(
                dict(problem), y, calc_second_order=False, num_resamples=resamples, conf_level=confidence, seed=seed
            )
        for i, factor in enumerate(problem["names"]):
            records.append(
                {
                    "response": response,
                    "factor": factor,
                    **{key: float(result[key][i]) for key in ("S1", "S1_conf", "ST", "ST_conf")},
                }
            )
    return pd.DataFrame(records)


def analyse(spec: SweepSpec, frame: pd.DataFrame, confidence: float = 0.95, resamples: int = 1000) -> pd.DataFrame:
    """The indices of a finished Morris or Sobol sweep, one row per (scenario, response, factor)."""
    x, _ = design(spec)
    problem = spec.problem()
    parts = []
    for scenario, table in responses(spec, frame).items():
        if spec.design == "morris":
            result = morris_indices(problem, x, table, spec.morris_levels, confidence, resamples, seed=spec.seed)
        elif spec.design == "sobol":
            result = sobol_indices(problem, table, confidence, resamples, seed=spec.seed)
        else:
            raise ConfigError("sweep.design", f"sensitivity needs morris or sobol; got {spec.design}")
        parts.append(result.assign(scenario=scenario) if spec.scenarios else result)
    return pd.concat(parts, ignore_index=True)


# ----------------------------------------------------------------------------------------------------------------
# Figures and report
# ----------------------------------------------------------------------------------------------------------------
def label(response: str) -> str:
    if " · " in response:  # "market · response"
        market, response = response.split(" · ", 1)
        return f"{market}: {label(response)}"
    if response.startswith("advantage."):
        return f"{response.split('.', 1)[1]} − basic"
    return {"lead": "lead of the winner", "winner": "winning level (0–4)"}.get(response, response)


def ranking(indices: pd.DataFrame, value: str, top: int = 3) -> dict[str, str]:
    """The ``top`` factors of each response (per market when the spec has scenarios), as text."""
    keys = ["scenario", "response"] if "scenario" in indices else ["response"]
    lines = {}
    for key, part in indices.groupby(keys, sort=False):
        label = (
            " · ".join(key) if isinstance(key, tuple) and len(key) > 1 else key[0] if isinstance(key, tuple) else key
        )
        part = part.sort_values(value, ascending=False).head(top)
        lines[label] = ", ".join(
            f"{row.factor.replace('log10_', 'log ')} {getattr(row, value):.2f}" for row in part.itertuples()
        )
    return lines
