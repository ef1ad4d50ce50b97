"""relsim: an agent-based test of Kotler's matrix of customer relationship levels.

The public names below load on first use (PEP 562), so ``import sim.engine.sweep`` in a Dask worker or the
command line's start-up does not pull in Mesa, pandas or matplotlib before they are needed.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_PUBLIC = {
    "Config": "sim.core.config",
    "ConfigError": "sim.errors",
    "load": "sim.core.inputs",
    "Level": "sim.core.levels",
    "LEVELS": "sim.core.levels",
    "LEVEL_NAMES": "sim.core.levels",
    "RelationshipModel": "sim.core.model",
    "run": "sim.outputs.results",
    "sweep": "sim.engine.api",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'sim' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*__all__, "__version__"])
