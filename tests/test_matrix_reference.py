"""The committed matrix results are reproduced bit for bit (issue 10): a reduced design of experiments/matrix.toml
(the committed years, sample sizes, seeds and market, fewer replications or cells) gives exactly the rows of
results/matrix/runs.csv.gz that it covers, as the file writes them (``%.8g``).

Rows depend only on (cell, policy, scenario, replication): the seed of replication r is the same whatever the
number of replications or cells, so a reduced design hits committed rows. Two reductions keep this fast: every
cell and scenario at replication 0, and the few row (the cheapest) at replications 0 and 1.
"""

from __future__ import annotations

import gzip
from dataclasses import replace
from pathlib import Path

import pytest

from sim.experiments import matrix

ROOT = Path(__file__).resolve().parents[1]
SPEC_PATH = ROOT / "experiments" / "matrix.toml"
COMMITTED = ROOT / "results" / "matrix" / "runs.csv.gz"


def committed_lines(replications: int, cells: set[str]) -> tuple[str, list[str]]:
    """The header and the committed rows of the first ``replications`` replications of ``cells``, in file order."""
    with gzip.open(COMMITTED, "rt") as stream:
        header, *rows = stream.read().splitlines()
    columns = header.split(",")
    cell, replication = columns.index("cell"), columns.index("replication")
    kept = [row for row in rows if int(row.split(",")[replication]) < replications and row.split(",")[cell] in cells]
    return header, kept


def simulated_lines(spec: matrix.MatrixSpec) -> tuple[str, list[str]]:
    """The reduced design's rows as results/matrix/runs.csv.gz writes them."""
    runs = matrix.run_matrix(spec, workers=1).runs
    header, *rows = runs.to_csv(index=False, float_format="%.8g").splitlines()
    return header, rows


@pytest.fixture(scope="module")
def committed_spec() -> matrix.MatrixSpec:
    return matrix.load_spec(SPEC_PATH)


def test_the_committed_results_come_from_the_committed_spec(committed_spec):
    header, rows = committed_lines(committed_spec.replications, {c.name for c in committed_spec.cells})
    assert header.startswith("scenario,cell,policy,level,tier_level,replication,seed,")
    scenarios = {row.split(",")[0] for row in rows}
    assert scenarios == set(matrix.SCENARIOS)
    policies = sum(len(matrix.policies(s)) for s in matrix.SCENARIOS)
    assert len(rows) == policies * len(committed_spec.cells) * committed_spec.replications


def test_every_cell_and_scenario_of_the_first_replication_is_reproduced(committed_spec):
    spec = committed_spec.reduced(replications=1)
    expected = committed_lines(1, {c.name for c in spec.cells})
    assert len(expected[1]) == sum(len(matrix.policies(s)) for s in matrix.SCENARIOS) * len(spec.cells)
    assert simulated_lines(spec) == expected


def test_later_replications_are_reproduced(committed_spec):
    few = tuple(c for c in committed_spec.cells if c.row == "few")
    spec = replace(committed_spec, cells=few).reduced(replications=2)
    expected = committed_lines(2, {c.name for c in few})
    assert {row.split(",")[5] for row in expected[1]} == {"0", "1"}
    assert simulated_lines(spec) == expected
