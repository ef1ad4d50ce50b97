"""With every issue-13 mechanism off (the defaults), the model reproduces the results of the code before them bit
for bit.

The fingerprints in ``fixtures/mechanisms_off.json`` were computed with the unchanged model (commit b014c5c) by
``python tests/test_mechanisms_off.py``: a SHA-256 of every monthly record and, for the traced case, of every table
of the individual trace. Regenerate them only when a change is *meant* to alter results with the mechanisms off.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

FIXTURE = Path(__file__).parent / "fixtures" / "mechanisms_off.json"
SIZE = {"n_customers": 3000, "years": 3}
CASES: dict[str, dict[str, Any]] = {
    "basic": {"level": "basic"},
    "reactive_ivr": {"level": "reactive", "ivr_routing_share": 0.5},
    "accountable": {"level": "accountable"},
    "proactive": {"level": "proactive"},
    "partnership": {"level": "partnership"},
    "tiered_entry": {"level": "reactive", "tier_level": "partnership", "tier_share": 0.2, "competitor_entry_year": 1},
}
TRACED = "proactive"


def _digest(frame: pd.DataFrame) -> str:
    hasher = hashlib.sha256()
    for name in frame.columns:
        column = frame[name]
        values = column.cat.codes.to_numpy() if isinstance(column.dtype, pd.CategoricalDtype) else column.to_numpy()
        hasher.update(name.encode())
        hasher.update(np.ascontiguousarray(values).tobytes())
    return hasher.hexdigest()


def fingerprint(name: str) -> dict[str, str]:
    from sim.core.model import RelationshipModel

    model = RelationshipModel(**SIZE, **CASES[name], seed=7, trace=name == TRACED).run()
    prints = {"monthly": _digest(model.monthly().reset_index()[_MONTHLY])}
    if model.trace is not None:
        trace = model.trace
        prints.update(
            panel=_digest(trace.panel()[_PANEL]),
            transactions=_digest(trace.transactions()[["customer_id", "period", "value"]]),
            problems=_digest(trace.problem_log()[["customer_id", "period", "major", "outcome"]]),
            departures=_digest(trace.departures()),
        )
    return prints


# The monthly record's columns that existed before the mechanisms of issues 12 and 13 (new columns are allowed,
# such as issue 12's concessions and new activities' costs; old ones must not change).
_MONTHLY = [
    "month", "active", "initial_cohort_active", "year_cohort_start", "year_cohort_active", "joined",
    "joined_by_referral", "left", "left_dissatisfied", "revenue", "gross_margin", "cost_question", "cost_complaint",
    "cost_welcome_call", "cost_outreach", "cost_account_management", "cost_agent", "cost_ivr", "relationship_cost",
    "acquisition_cost", "profit", "discounted_profit", "contacts_agent", "contacts_ivr", "problems", "complaints",
    "problems_detected", "recovered", "silent_dissatisfaction_found", "loyalist", "hostage", "mercenary", "defector",
    "exploration", "formation", "stability", "decline", "promoters", "detractors", "mean_satisfaction",
    "mean_commitment", "quality", "heard_good", "heard_bad", "happy_tellers", "unhappy_tellers", "good_mentions",
    "bad_mentions", "attraction",
]  # fmt: skip

# The trace columns that existed before the mechanisms (new columns are allowed; old ones must not change).
_PANEL = [
    "customer_id",
    "period",
    "active",
    "level",
    "tenure",
    "satisfaction",
    "commitment",
    "loyalty",
    "quadrant",
    "contacts",
    "cost",
    "value",
    "churned",
]


@pytest.mark.parametrize("name", list(CASES))
def test_defaults_reproduce_the_model_before_the_mechanisms(name: str) -> None:
    expected = json.loads(FIXTURE.read_text())[name]
    assert fingerprint(name) == expected


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    FIXTURE.write_text(json.dumps({name: fingerprint(name) for name in CASES}, indent=2) + "\n")
    print(f"wrote {FIXTURE}")
