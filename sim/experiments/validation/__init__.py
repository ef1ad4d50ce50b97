"""Stylized facts as data: reproduce them, calibrate to them, report on them (issue 4; Rand & Rust 2011).

The targets live in ``experiments/validation.toml`` (:mod:`.targets` reads them). Each names an experiment
(:mod:`.measures`: a function that runs the model in a documented scenario and returns named measurements), the
measurement it compares, the published value, its source and a tolerance. ``relsim validate`` runs every
experiment over several seeds on the engine's evaluator (:mod:`.replications`) and writes a report
(:mod:`sim.viz.validation`); ``relsim calibrate`` fits the free behavioural parameters to the targets marked
``calibrate = true`` by simulated method of moments (:mod:`.calibration`). Kotler's matrix is never a target.
"""

from __future__ import annotations

import json

import pandas as pd

from sim.core.config import Config
from sim.core.inputs import load
from sim.experiments.validation.calibration import (
    Calibration,
    calibrate,
    check_out,
    default_path,
    write_calibrated,
    written_by_calibrate,
)
from sim.experiments.validation.measures import EXPERIMENTS
from sim.experiments.validation.replications import (
    compare,
    counts,
    failures,
    measure,
    replication_tasks,
    run_replication,
)
from sim.experiments.validation.targets import (
    CALIBRATION,
    KINDS,
    MIN_REPLICATIONS,
    OUT_OF_SAMPLE,
    VERIFICATION,
    Spec,
    Target,
    load_spec,
)


def base_config(path: str | None) -> Config:
    return load(path) if path else Config()


def summary_json(table: pd.DataFrame) -> str:
    """The comparison as JSON records; NaN (an interval that could not be computed) becomes null."""
    records = table.astype(object).where(table.notna(), None).to_dict(orient="records")
    return json.dumps(records, indent=2, default=float)


__all__ = [
    "CALIBRATION",
    "EXPERIMENTS",
    "KINDS",
    "MIN_REPLICATIONS",
    "OUT_OF_SAMPLE",
    "VERIFICATION",
    "Calibration",
    "Spec",
    "Target",
    "base_config",
    "calibrate",
    "check_out",
    "compare",
    "counts",
    "default_path",
    "failures",
    "load_spec",
    "measure",
    "replication_tasks",
    "run_replication",
    "summary_json",
    "write_calibrated",
    "written_by_calibrate",
]
