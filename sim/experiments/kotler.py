"""Kotler's selection matrix as data: the cells of a matrix spec (experiments/matrix.toml, ``[cells.<name>]``).

The one home of the cells, read by the matrix experiment (sim.experiments.matrix) and drawn over the phase
diagram (sim.experiments.phase), which reads them here without loading the matrix experiment.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sim.core.config import FIELDS
from sim.engine import checks
from sim.files import read_toml

CELL_KEYS = (
    "row",
    "column",
    "customers",
    "revenue_per_customer",
    "margin",
    "sample_customers",
    "recommended",
    "also_acceptable",
)
REQUIRED = ("row", "column", "customers", "revenue_per_customer", "margin", "recommended")


@dataclass(frozen=True)
class Cell:
    """One cell of the matrix: a firm with ``customers`` customers worth ``revenue_per_customer`` a year each."""

    name: str
    row: str
    column: str
    customers: int
    revenue_per_customer: float
    margin: float
    recommended: str
    sample_customers: int
    also_acceptable: tuple[str, ...] = ()

    @property
    def scale(self) -> float:
        """Factor from the simulated sample to the real firm (1 when every customer is simulated)."""
        return self.customers / self.sample_customers


def parse_cell(name: str, table: Mapping[str, Any]) -> Cell:
    """One ``[cells.<name>]`` table; errors name the key (``cells.few_high.margin``)."""
    prefix = f"cells.{name}."
    checks.no_unknown(prefix, table, CELL_KEYS)
    for key in REQUIRED:
        if key not in table:
            raise checks.fail(prefix + key, "missing")
    customers = checks.integer(prefix + "customers", table["customers"], 1, 10**12)
    sample = table.get("sample_customers", customers)
    sample_cap = int(FIELDS["n_customers"].metadata["high"])
    if "sample_customers" not in table and customers > sample_cap:
        raise checks.fail(prefix + "customers", f"above {sample_cap:,}: set sample_customers to simulate a sample")
    sample = checks.integer(prefix + "sample_customers", sample, 1, min(customers, sample_cap))
    also = table.get("also_acceptable", [])
    if not isinstance(also, list):
        raise checks.fail(prefix + "also_acceptable", f"must be a list of level names; got {also!r}")
    return Cell(
        name=name,
        row=checks.text(prefix + "row", table["row"]),
        column=checks.text(prefix + "column", table["column"]),
        customers=customers,
        revenue_per_customer=checks.number(
            prefix + "revenue_per_customer", table["revenue_per_customer"], 0.0, 1e12, above_low=True
        ),
        margin=checks.number(prefix + "margin", table["margin"], 0.0, 1.0),
        recommended=checks.level(prefix + "recommended", table["recommended"]),
        sample_customers=sample,
        also_acceptable=tuple(checks.level(f"{prefix}also_acceptable[{i}]", level) for i, level in enumerate(also)),
    )


def parse_cells(table: Any) -> tuple[Cell, ...]:
    """The ``[cells]`` table: at least one cell, each row × column once."""
    table = checks.table("cells", table)
    if not table:
        raise checks.fail("cells", "at least one cell is needed")
    cells = tuple(parse_cell(name, checks.table(f"cells.{name}", value)) for name, value in table.items())
    seen: dict[tuple[str, str], str] = {}
    for cell in cells:
        if (cell.row, cell.column) in seen:
            raise checks.fail(
                f"cells.{cell.name}.column",
                f"row {cell.row!r} × column {cell.column!r} is already cell {seen[cell.row, cell.column]!r}",
            )
        seen[cell.row, cell.column] = cell.name
    return cells


def read_cells(path: str | Path) -> tuple[Cell, ...]:
    """The cells of a matrix spec file (its other sections are the matrix experiment's and are not read here)."""
    path = Path(path)
    data = read_toml(path, "--spec")[0]
    return parse_cells(data.get("cells", {}))
