"""The validation report: REPORT.md, the tables and one figure per target, written atomically.

The report keeps the two kinds of target apart: calibration targets were fitted by ``relsim calibrate``, so
their passing shows the fit; out-of-sample targets were not used in fitting and are the model's test.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sim.experiments.validation import CALIBRATION, OUT_OF_SAMPLE, VERIFICATION, Spec, Target, counts
from sim.files import staged_folder

LEGACY = ("REPORT.md", "results.csv", "measurements.csv", "*.png")  # an earlier relsim's report (no marker)
HOLDOUT_FILES = ("HOLDOUT.md", "holdout.csv")

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def interval_text(low: float, high: float) -> str:
    """A confidence interval for people; n/a when it could not be computed (fewer than two replications)."""
    if math.isnan(low) or math.isnan(high):
        return "n/a"
    return f"{low:.3g} to {high:.3g}"


def write_report(
    out: str | Path, spec: Spec, base_path: str | None, table: pd.DataFrame, measurements: pd.DataFrame, seconds: float
) -> Path:
    """REPORT.md, results.csv and one figure per target, written to a scratch folder and moved into place."""
    out = Path(out)
    with staged_folder(out, "validate", legacy=LEGACY) as scratch:
        table.to_csv(scratch / "results.csv", index=False)
        for row in table.itertuples():
            target = next(t for t in spec.targets if t.name == row.target)
            values = measurements.loc[measurements["experiment"] == target.experiment, target.measure].dropna()
            figure = target_figure(target, row, values)
            figure.savefig(scratch / f"{row.target}.png", dpi=110)
        (scratch / "REPORT.md").write_text("\n".join(report_lines(spec, base_path, table, seconds)) + "\n")
        measurements.to_csv(scratch / "measurements.csv", index=False)
    return out / "REPORT.md"


def target_figure(target: Target, row: Any, values: pd.Series) -> Figure:
    """The replications, their mean with its 95 % CI, and the target's value ± tolerance or its range."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(4.2, 2.6))
    axes = figure.subplots()
    axes.scatter(values, np.zeros(len(values)) + 0.1, s=12, color="0.6", label="replications")
    has_interval = not (math.isnan(row.ci_low) or math.isnan(row.ci_high))
    error = [[row.simulated - row.ci_low], [row.ci_high - row.simulated]] if has_interval else None
    label = "simulated mean, 95% CI" if has_interval else "simulated mean (no CI)"
    axes.errorbar([row.simulated], [0], xerr=error, fmt="o", color="C0" if row.passed else "C3", capsize=4, label=label)
    if target.value is not None:
        low, high = target.value - target.tolerance, target.value + target.tolerance
        axes.axvspan(low, high, color="C2", alpha=0.2, label="target ± tolerance")
        axes.axvline(target.value, color="C2")
    else:
        bounds = [bound for bound in (target.low, target.high) if bound is not None]
        for number, bound in enumerate(bounds):
            axes.axvline(bound, color="C2", linestyle="--", label="target bound" if number == 0 else None)
    axes.set_yticks([])
    axes.set_ylim(-0.5, 0.6)
    kind = target.kind
    axes.set_title(f"{row.target} ({kind}): {'pass' if row.passed else 'FAIL'}", fontsize=9)
    axes.set_xlabel(target.measure, fontsize=8)
    axes.legend(fontsize=6, loc="upper right")
    figure.tight_layout()
    return figure


def report_lines(spec: Spec, base_path: str | None, table: pd.DataFrame, seconds: float) -> list[str]:
    """REPORT.md: how it was made, the counts by kind of target, then one table per kind (out of sample first)."""
    tally = counts(table)
    test_passed, test_total = tally[OUT_OF_SAMPLE]
    fit_passed, fit_total = tally[CALIBRATION]
    check_passed, check_total = tally[VERIFICATION]
    lines = [
        "# Validation report",
        "",
        "Regenerate with `relsim validate` (spec `experiments/validation.toml`, hash "
        f"`{spec.digest}`; base config: `{base_path or 'model defaults'}`; {spec.replications} replications "
        f"per experiment, seeds from the engine's seed rule with root {spec.seed}; {seconds:.0f} s).",
        "",
        f"**{len(table)} targets: {fit_total} calibration targets (fitted by `relsim calibrate`; {fit_passed} of "
        f"{fit_total} pass), {check_total} verification targets (input echoes, identities and signs fixed by the "
        f"rules: tests of the code, not of the model; {check_passed} of {check_total} pass) and {test_total} "
        f"out-of-sample targets (not used in fitting; {test_passed} of {test_total} pass).** A calibration target "
        "that passes shows that the fit worked, not that the model is valid; only the out-of-sample targets test "
        "it, with the hold-out targets of issue 13 (`relsim holdout`, results/holdout/HOLDOUT.md).",
        "",
        "Simulated values are means over replications with a t-based 95 % confidence interval; point targets pass "
        "when the mean lies within the tolerance, range and directional targets when the whole interval lies "
        "inside the range. `relsim validate` exits with status 1 when any target fails.",
    ]
    titles = (
        (OUT_OF_SAMPLE, "Out-of-sample targets"),
        (VERIFICATION, "Verification targets (tests of the code)"),
        (CALIBRATION, "Calibration targets (fitted)"),
    )
    for kind, title in titles:
        rows = table.loc[table["kind"] == kind]
        lines += ["", f"## {title}: {tally[kind][0]} of {tally[kind][1]} pass", ""]
        if rows.empty:
            lines.append("None.")
            continue
        lines += ["| target | what | source | simulated (95 % CI) | target | result |", "|---|---|---|---|---|---|"]
        for row in rows.itertuples():
            lines.append(
                f"| [{row.target}]({row.target}.png) | {row.description} | {row.source} | "
                f"{row.simulated:.3g} ({interval_text(row.ci_low, row.ci_high)}) | {row.wanted} | "
                f"{'pass' if row.passed else '**fail**'} |"
            )
    return lines


def write_holdout_report(out: str | Path, table: pd.DataFrame, replications: int, base_path: str | None) -> Path:
    """The hold-out report (experiments/holdout.toml): HOLDOUT.md and holdout.csv, written atomically. A folder of
    its own, so that the calibration report and the hold-out report are never mixed up."""
    out = Path(out)
    counted = table[table["counts"]]
    decided = counted[counted["verdict"] != "not applicable"]
    passed = int((decided["verdict"] == "pass").sum())
    lines = [
        "# Hold-out targets (experiments/holdout.toml)",
        "",
        "Fixed on 2026-11-29, before any fit; never used in fitting. A failing target is a finding, not a reason to "
        "tune a mechanism.",
        "",
        f"Base config: {base_path or 'model defaults'}; {replications} replications per scenario.",
        "",
        f"**{passed} of {len(counted)} counted hold-out targets pass** ({len(counted) - len(decided)} not "
        f"applicable, {len(decided) - passed} fail); {len(table) - len(counted)} more are reported but not counted "
        "(they overlap calibration or are close to an identity).",
        "",
        "| target | counted | source | published | acceptance | measured | CI | verdict | not applied |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in table.itertuples():
        measured = "n/a" if math.isnan(row.mean) else f"{row.mean:.3g}"
        lines.append(
            f"| {row.target} | {'yes' if row.counts else 'no'} | {row.source} | {row.published} | {row.wanted} | "
            f"{measured} | {interval_text(row.ci_low, row.ci_high)} | {row.verdict} | {row.not_applied or '-'} |"
        )
    with staged_folder(out, "holdout", legacy=HOLDOUT_FILES) as scratch:
        table.to_csv(scratch / "holdout.csv", index=False)
        (scratch / "HOLDOUT.md").write_text("\n".join(lines) + "\n")
    return out / "HOLDOUT.md"
