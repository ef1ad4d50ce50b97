"""The identification report of the calibration: IDENTIFICATION.md, the profiles' figure and the tables behind it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import stats

from sim.experiments.validation.identification import CHI2_1_95, Result, profile_extent
from sim.files import staged_folder

FILES = ("IDENTIFICATION.md", "profiles.png", "profiles.csv", "jacobian.csv", "summary.csv")
RELIABLE = 0.25  # a derivative that changes by more than this share between the two steps is flagged

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def summary_table(result: Result) -> pd.DataFrame:
    """One row per parameter: fit, box, standard error, profile extent within the χ²(1) threshold, verdict."""
    minimum = min(result.objective, float(result.profiles["profile"].min()))
    rows = []
    for k, name in enumerate(result.names):
        frame = result.profiles[result.profiles["parameter"] == k]
        low, high, verdict = profile_extent(frame, minimum)
        conditional = profile_extent(frame.assign(profile=frame["conditional"]), minimum)
        width = result.bounds[k, 1] - result.bounds[k, 0]
        rows.append(
            {
                "parameter": name,
                "fitted": result.fitted[k],
                "box_low": result.bounds[k, 0],
                "box_high": result.bounds[k, 1],
                "standard_error": result.identification.standard_errors[k],
                "se_share_of_box": result.identification.standard_errors[k] / width,
                "profile_low": low,
                "profile_high": high,
                "profile_share_of_box": (high - low) / width,
                "profile": verdict,
                "conditional_share_of_box": (conditional[1] - conditional[0]) / width,
                "weakest_direction": result.identification.weakest[k],
            }
        )
    return pd.DataFrame(rows)


def write_identification(out: str | Path, result: Result, settings_path: str) -> Path:
    out = Path(out)
    summary = summary_table(result)
    jacobian = pd.DataFrame(result.jacobian, index=result.targets, columns=result.names)
    with staged_folder(out, "identify", legacy=FILES) as scratch:
        summary.to_csv(scratch / "summary.csv", index=False)
        jacobian.to_csv(scratch / "jacobian.csv", index_label="target")
        result.profiles.to_csv(scratch / "profiles.csv", index=False)
        profile_figure(result).savefig(scratch / "profiles.png", dpi=110)
        text = "\n".join(report_lines(result, summary, settings_path)) + "\n"
        (scratch / "IDENTIFICATION.md").write_text(text)
    return out / "IDENTIFICATION.md"


def profile_figure(result: Result) -> Figure:
    from matplotlib.figure import Figure

    count = len(result.names)
    columns = 4
    figure = Figure(figsize=(3.2 * columns, 2.6 * -(-count // columns)))
    axes = figure.subplots(-(-count // columns), columns, squeeze=False).ravel()
    minimum = min(result.objective, float(result.profiles["profile"].min()))
    for k, name in enumerate(result.names):
        frame = result.profiles[result.profiles["parameter"] == k]
        ax = axes[k]
        ax.plot(frame["value"], frame["conditional"], "--", color="0.55", label="conditional (others fixed)")
        ax.plot(frame["value"], frame["profile"], "o-", color="C0", markersize=3, label="others re-optimised")
        ax.axhline(minimum + CHI2_1_95, color="C3", linewidth=0.8, label=f"minimum + {CHI2_1_95}")
        ax.axvline(result.fitted[k], color="C2", linewidth=0.8, label="fit")
        ax.set_title(name, fontsize=9)
        ax.set_yscale("log")
        ax.tick_params(labelsize=7)
    for ax in axes[count:]:
        ax.set_visible(False)
    axes[0].set_ylabel("objective Q (tolerance units²)", fontsize=8)
    axes[0].legend(fontsize=6)
    figure.suptitle("Profiles of the calibration objective over each parameter's box", fontsize=10)
    figure.tight_layout()
    return figure


def report_lines(result: Result, summary: pd.DataFrame, settings_path: str) -> list[str]:
    s, ident = result.settings, result.identification
    moments, parameters = len(result.targets), len(result.names)
    over = moments - parameters
    p_value = float(stats.chi2.sf(result.objective / (1 + 1 / s.replications), over)) if over > 0 else float("nan")
    change = np.abs(result.check - result.jacobian) / np.maximum(np.abs(result.jacobian), 1e-12)
    large = np.abs(result.jacobian / result.tolerance[:, None]) * (result.bounds[:, 1] - result.bounds[:, 0]) > 0.5
    unreliable, sizeable = int(((change > RELIABLE) & large).sum()), int(large.sum())
    well = summary.loc[summary["profile"] == "bounded", "parameter"].tolist()
    poor = summary.loc[summary["profile"] != "bounded", "parameter"].tolist()
    lines = [
        "# Identification of the calibration",
        "",
        f"Regenerate with `relsim identify` (settings `{settings_path}`: spec `{s.spec}`, fitted config "
        f"`{s.config}`; {s.replications} replications per point, the fit's; {result.evaluations} simulated points; "
        f"{result.seconds:.0f} s).",
        "",
        f"**{parameters} parameters, {moments} moments (the TARP calibration targets): {over} over-identifying "
        f"restriction{'s' if over != 1 else ''}. The scaled Jacobian has rank {ident.rank} of {parameters} "
        f"(singular values below {s.rank_tolerance:g} of the largest count as zero) and condition number "
        f"{ident.condition:.3g}. Profiles bounded inside the box: {', '.join(well) or 'none'}; not bounded (flat or "
        f"open on a side): {', '.join(poor) or 'none'}.**",
        "",
        "## The objective at the fit",
        "",
        f"Q = Σ ((simulated − target) / tolerance)² = {result.objective:.3f} at the fitted config ({s.replications} "
        f"replications, the current code and spec){_recorded(result)}. {_lowest(result)}",
        "",
        f"With {over} over-identifying restriction{'s' if over != 1 else ''}, Q / (1 + 1/S) would be "
        f"a J statistic, χ²({over}) under a correct model, if the tolerances were the standard errors of the "
        f"published moments; they are not (TARP published no sample sizes; the tolerances are a judgement), so "
        f"the p-value {p_value:.2f} is a scale, not a test.",
        "",
        "## Local identification: the Jacobian at the fit",
        "",
        f"Central differences with a step of {s.step:g} of each parameter's box (checked against {s.check_step:g}; "
        f"{unreliable} of the {sizeable} sizeable derivatives, above half a tolerance per box width, change by more "
        f"than {RELIABLE:.0%} between the two steps: the simulated moments are rough), with the fit's seeds "
        "(common random numbers). Scaled: moments in tolerances, parameters in box widths.",
        "",
        "Singular values: " + ", ".join(f"{value:.3g}" for value in ident.singular_values) + "."
        + _check_text(result),
        "",
        "The direction of the smallest singular value (the combination the moments see least, in box widths): "
        + ", ".join(
            f"{name} {weight:+.2f}" for name, weight in zip(result.names, ident.weakest, strict=True)
            if abs(weight) >= 0.1
        ) + ".",
        "",
        f"Standard errors are SMM ones, √diag((1 + 1/S)(J'WJ)⁻¹) with W = diag(tolerance⁻²), S = {s.replications}: "
        "valid only if the tolerances were the published moments' standard errors (see above).",
    ]  # fmt: skip
    return lines + _parameter_lines(result, summary) + _moment_lines(result)


def _parameter_lines(result: Result, summary: pd.DataFrame) -> list[str]:
    s = result.settings
    lines = [
        "",
        "## Parameters",
        "",
        "| parameter | fit | box | SE | SE / box | profile within +3.84 | share of box | profile | conditional share |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in summary.itertuples():
        lines.append(
            f"| {row.parameter} | {row.fitted:.4g} | {row.box_low:g} to {row.box_high:g} | {row.standard_error:.3g} | "
            f"{row.se_share_of_box:.2f} | {row.profile_low:.3g} to {row.profile_high:.3g} | "
            f"{row.profile_share_of_box:.2f} | {row.profile} | {row.conditional_share_of_box:.2f} |"
        )
    lines += [
        "",
        "![profiles](profiles.png)",
        "",
        f"Profiles: each parameter over an even grid of {s.profile_points} points across its box (plus the fit). "
        "*Conditional*: the other parameters held at the fit. *Re-optimised*: the best of the conditional point and "
        f"{s.gauss_newton_steps} Gauss-Newton steps of the other parameters with the Jacobian at the fit, clipped "
        "to the box; not a full fit at each point (that would take one `relsim calibrate` per point), so it is an "
        "upper bound on the exact profile: a parameter whose approximate profile is flat is certainly not "
        "identified, one whose approximate profile is bounded may be less well identified than it looks. "
        "'bounded': the profile rises more than 3.84 above the minimum on both sides inside the box; 'one side': on "
        "one side only; 'flat': on neither.",
    ]
    return lines


def _moment_lines(result: Result) -> list[str]:
    s, moments, ident = result.settings, len(result.targets), result.identification
    return [
        "",
        "## Are the moments independent?",
        "",
        f"The {moments} moments are shares of eight distinct groups of customers in one experiment (minor and major "
        "problems, by complaint and resolution). Their correlation across single replications at the fit "
        f"({s.noise_replications} replications): largest absolute off-diagonal "
        f"{_largest_correlation(result.correlation):.2f}. A single replication's standard deviation, in tolerances: "
        + ", ".join(f"{name} {value:.2f}" for name, value in zip(result.targets, result.noise, strict=True))
        + ". Sampling independence is not functional independence: how many directions of the parameter space the "
        f"moments see is the Jacobian's rank ({ident.rank}) and its conditioning (above).",
        "",
        "Files: `summary.csv` (the table above), `jacobian.csv` (unscaled dm/dθ), `profiles.csv` (every profile "
        "point, with the other parameters' values at the re-optimised point, `at_k` in the order of the table).",
    ]


def _largest_correlation(matrix: pd.DataFrame) -> float:
    values = matrix.to_numpy(dtype=float)
    off = values[~np.eye(len(values), dtype=bool)]
    return float(np.nanmax(np.abs(off))) if off.size and not np.isnan(off).all() else float("nan")


def _recorded(result: Result) -> str:
    if result.recorded is None:
        return ""
    return (
        f"; the fitted config's header records {result.recorded:.3f}, from the code and spec of its fit (the model "
        "has changed since, so the fit need not be the current objective's minimum)"
    )


def _lowest(result: Result) -> str:
    lowest = result.lowest
    if lowest["profile"] >= result.objective:
        return "No profile point has a lower objective than the fit."
    where = ", ".join(f"{name} {lowest[f'at_{k}']:.4g}" for k, name in enumerate(result.names))
    return (
        f"The profiles found lower points: the lowest, Q = {lowest['profile']:.3f}, at {where}. The committed fit "
        "is therefore not the minimum of the current objective (some of the difference is simulation noise: two "
        "replications per point); `relsim calibrate` would refit it. This command fits nothing; the profiles' "
        "thresholds are measured from the lowest point found."
    )


def _check_text(result: Result) -> str:
    check = result.check_identification
    if check is None:
        return ""
    return (
        f" At the check step ({result.settings.check_step:g}): rank {check.rank}, condition number "
        f"{check.condition:.3g}, singular values " + ", ".join(f"{value:.3g}" for value in check.singular_values) + "."
    )
