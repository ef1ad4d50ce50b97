"""The validation report: REPORT.md, the tables and one figure per target, written atomically."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from sim.experiments.validation import Spec
from sim.files import staged_folder

LEGACY = ("REPORT.md", "results.csv", "measurements.csv", "*.png")  # an earlier relsim's report (no marker)


def write_report(
    out: str | Path, spec: Spec, base_path: str | None, table: pd.DataFrame, measurements: pd.DataFrame, seconds: float
) -> Path:
    """REPORT.md, results.csv and one figure per target, written to a scratch folder and moved into place."""
    from matplotlib.figure import Figure

    out = Path(out)
    with staged_folder(out, "validate", legacy=LEGACY) as scratch:
        table.to_csv(scratch / "results.csv", index=False)
        for row in table.itertuples():
            target = next(t for t in spec.targets if t.name == row.target)
            values = measurements.loc[measurements["experiment"] == target.experiment, target.measure].dropna()
            figure = Figure(figsize=(4.2, 2.6))
            axes = figure.subplots()
            axes.scatter(values, np.zeros(len(values)) + 0.1, s=12, color="0.6", label="replications")
            axes.errorbar(
                [row.simulated],
                [0],
                xerr=[[row.simulated - row.ci_low], [row.ci_high - row.simulated]],
                fmt="o",
                color="C0" if row.passed else "C3",
                capsize=4,
                label="simulated mean, 95% CI",
            )
            if target.value is not None:
                axes.axvspan(
                    target.value - target.tolerance,
                    target.value + target.tolerance,
                    color="C2",
                    alpha=0.2,
                    label="target ± tolerance",
                )
                axes.axvline(target.value, color="C2")
            else:
                for bound in (target.low, target.high):
                    if bound is not None:
                        axes.axvline(bound, color="C2", linestyle="--", label="target bound")
            axes.set_yticks([])
            axes.set_ylim(-0.5, 0.6)
            axes.set_title(f"{row.target}: {'pass' if row.passed else 'FAIL'}", fontsize=9)
            axes.set_xlabel(target.measure, fontsize=8)
            axes.legend(fontsize=6, loc="upper right")
            figure.tight_layout()
            figure.savefig(scratch / f"{row.target}.png", dpi=110)
        passed = int(table["passed"].sum())
        lines = [
            "# Validation report",
            "",
            "Regenerate with `relsim validate` (spec `experiments/validation.toml`, hash "
            f"`{spec.digest}`; base config: `{base_path or 'model defaults'}`; {spec.replications} replications "
            f"per experiment, seeds from SeedSequence({spec.seed}); {seconds:.0f} s).",
            "",
            f"**{passed} of {len(table)} targets pass.** Targets marked *calibrated* were fitted by `relsim "
            "calibrate`; the others are out-of-sample checks. Simulated values are means over replications with "
            "a t-based 95 % confidence interval; point targets pass when the mean lies within the tolerance, "
            "range and directional targets when the whole interval lies inside the range.",
            "",
            "| target | what | source | simulated (95 % CI) | target | calibrated | result |",
            "|---|---|---|---|---|---|---|",
        ]
        for row in table.itertuples():
            lines.append(
                f"| [{row.target}]({row.target}.png) | {row.description} | {row.source} | "
                f"{row.simulated:.3g} ({row.ci_low:.3g} to {row.ci_high:.3g}) | {row.wanted} | "
                f"{'yes' if row.calibrated else 'no'} | {'pass' if row.passed else '**fail**'} |"
            )
        (scratch / "REPORT.md").write_text("\n".join(lines) + "\n")
        measurements.to_csv(scratch / "measurements.csv", index=False)
    return out / "REPORT.md"

