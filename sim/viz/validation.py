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
from sim.experiments.validation.holdout import Holdout, headline
from sim.experiments.validation.holdout import tally as hold_tally
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
    out: str | Path,
    spec: Spec,
    base_path: str | None,
    table: pd.DataFrame,
    measurements: pd.DataFrame,
    seconds: float,
    holdout: Holdout | None = None,
) -> Path:
    """REPORT.md, results.csv and one figure per target of the targets file, and holdout.csv with the hold-out
    file's targets, written to a scratch folder and moved into place."""
    out = Path(out)
    with staged_folder(out, "validate", legacy=LEGACY) as scratch:
        table.to_csv(scratch / "results.csv", index=False)
        for row in table.itertuples():
            target = next(t for t in spec.targets if t.name == row.target)
            values = measurements.loc[measurements["experiment"] == target.experiment, target.measure].dropna()
            figure = target_figure(target, row, values)
            figure.savefig(scratch / f"{row.target}.png", dpi=110)
        (scratch / "REPORT.md").write_text("\n".join(report_lines(spec, base_path, table, seconds, holdout)) + "\n")
        if holdout is not None:
            holdout.table.to_csv(scratch / "holdout.csv", index=False)
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


def report_lines(
    spec: Spec, base_path: str | None, table: pd.DataFrame, seconds: float, holdout: Holdout | None = None
) -> list[str]:
    """REPORT.md: how it was made, one line per kind of target, then the hold-out, verification and calibration
    sections apart (``holdout``: the hold-out file's table, or None when it was not run)."""
    tally = counts(table)
    (test_passed, test_total), (fit_passed, fit_total) = tally[OUT_OF_SAMPLE], tally[CALIBRATION]
    check_passed, check_total = tally[VERIFICATION]
    lines = [
        "# Validation report",
        "",
        f"**{headline(holdout.table) if holdout else 'hold-out: not run (--holdout none)'}.**",
        "",
        "Regenerate with `relsim validate` (spec `experiments/validation.toml`, hash "
        f"`{spec.digest}`; base config: `{base_path or 'model defaults'}`; {spec.replications} replications "
        f"per experiment, seeds from the engine's seed rule with root {spec.seed}"
        + (f"; hold-out file `{holdout.path}`, {holdout.replications} replications per scenario" if holdout else "")
        + f"; {seconds:.0f} s).",
        "",
        "Three kinds of target, kept apart:",
        "",
        "- **Hold-out** (the test of the model): the targets of the hold-out file, fixed on 2026-11-29 before any fit "
        "and never used in fitting (docs/HOLDOUT.md), "
        + (f"{tally_text(holdout.table)}; " if holdout else "not run; ")
        + f"and {test_total} older out-of-sample targets of the targets file, not used in fitting either "
        f"({test_passed} of {test_total} pass).",
        f"- **Verification** (tests of the code, not of the model: input echoes, identities and signs fixed by the "
        f"rules): {check_passed} of {check_total} pass.",
        f"- **Calibration** (fitted by `relsim calibrate`; a pass shows that the fit worked, not that the model is "
        f"valid; identification: results/calibration/IDENTIFICATION.md): {fit_passed} of {fit_total} pass.",
        "",
        "Simulated values are means over replications with a t-based 95 % confidence interval (90 % for the "
        "hold-out file's equivalence rule). Point targets pass when the mean lies within the tolerance, range and "
        "directional targets when the whole interval lies inside the range. " + EXIT_NOTE,
        "",
        "## Hold-out targets",
    ]
    lines += holdout_lines(holdout)
    lines += ["", f"### Older out-of-sample targets (experiments/validation.toml): {test_passed} of {test_total} pass"]
    lines += target_rows(table.loc[table["kind"] == OUT_OF_SAMPLE])
    titles = ((VERIFICATION, "Verification targets (tests of the code)"), (CALIBRATION, "Calibration targets (fitted)"))
    for kind, title in titles:
        lines += ["", f"## {title}: {tally[kind][0]} of {tally[kind][1]} pass"]
        lines += target_rows(table.loc[table["kind"] == kind])
    return lines


EXIT_NOTE = (
    "`relsim validate` exits with status 1 when any target fails, of any kind (a hold-out target that does not "
    "apply is not a failure); the report is written either way."
)


def tally_text(table: pd.DataFrame) -> str:
    count = hold_tally(table)
    return (
        f"{count['pass']} of {count['counted']} counted targets pass, {count['fail']} fail and "
        f"{count['not applicable']} do not apply ({count['not counted']} more reported but not counted)"
    )


def target_rows(rows: pd.DataFrame) -> list[str]:
    """A targets-file section: each target with its source, published number, measured value and result."""
    if rows.empty:
        return ["", "None."]
    lines = ["", "| target | what | source | published (acceptance) | measured (95 % CI) | result |"]
    lines.append("|---|---|---|---|---|---|")
    for row in rows.itertuples():
        lines.append(
            f"| [{row.target}]({row.target}.png) | {row.description} | {row.source} | {row.wanted} | "
            f"{row.simulated:.3g} ({interval_text(row.ci_low, row.ci_high)}) | {'pass' if row.passed else '**fail**'} |"
        )
    return lines


def holdout_lines(holdout: Holdout | None) -> list[str]:
    """The hold-out file's section: counted targets first, then those reported but not counted."""
    if holdout is None:
        return ["", "Not run (`--holdout none`): this report tests nothing about the model."]
    table = holdout.table
    lines = [
        "",
        f"### Fixed before any fit ({holdout.path}): {tally_text(table)}",
        "",
        "| target | counted | source | published | acceptance | measured (CI) | result |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in table.sort_values("counts", ascending=False, kind="stable").itertuples():
        measured = "n/a" if math.isnan(row.mean) else f"{row.mean:.3g} ({interval_text(row.ci_low, row.ci_high)})"
        verdict = "**fail**" if row.verdict == "fail" else row.verdict
        lines.append(
            f"| {row.target} | {'yes' if row.counts else 'no'} | {row.source} | {row.published} | {row.wanted} | "
            f"{measured} | {verdict} |"
        )
    return lines


def write_holdout_report(out: str | Path, table: pd.DataFrame, replications: int, base_path: str | None) -> Path:
    """The hold-out report (experiments/holdout.toml): HOLDOUT.md and holdout.csv, written atomically. A folder of
    its own, so that the calibration report and the hold-out report are never mixed up."""
    out = Path(out)
    lines = [
        "# Hold-out targets (experiments/holdout.toml)",
        "",
        "Fixed on 2026-11-29, before any fit; never used in fitting. A failing target is a finding, not a reason to "
        "tune a mechanism.",
        "",
        f"Base config: {base_path or 'model defaults'}; {replications} replications per scenario.",
        "",
        f"**{headline(table)}**; {hold_tally(table)['not counted']} more are reported but not counted "
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
