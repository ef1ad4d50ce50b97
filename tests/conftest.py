"""Shared helpers: small, cached runs so that many tests can look at the same simulation."""

from __future__ import annotations

from functools import lru_cache

import pytest

from sim.outputs.results import RunResult, run


@lru_cache(maxsize=64)
def _cached(items: tuple[tuple[str, object], ...]) -> RunResult:
    return run(**dict(items))


def small_run(**params: object) -> RunResult:
    """A run with 2,000 customers over 5 years unless told otherwise (cached by its parameters)."""
    defaults = {"n_customers": 2_000, "years": 5, "seed": 11}
    return _cached(tuple(sorted({**defaults, **params}.items())))


@pytest.fixture
def runner():
    return small_run
