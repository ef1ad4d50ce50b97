"""One named random stream per mechanism, all derived from the run's seed.

Each stream's SeedSequence is keyed by the run seed and a stable hash of the stream's name. Two consequences:
adding a mechanism (a new stream) never shifts the draws of another, and two runs that differ only in the
relationship level still share the draws of every mechanism they have in common (common random numbers, which
make the differences between levels paired).
"""

from __future__ import annotations

import zlib

import numpy as np

STREAMS = ("traits", "events", "service", "churn", "acquisition", "outreach", "relational")


def stream(seed: int, name: str) -> np.random.Generator:
    """The generator for one named mechanism of the run with this seed."""
    key = zlib.crc32(name.encode())
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(key,))))


def streams(seed: int) -> dict[str, np.random.Generator]:
    return {name: stream(seed, name) for name in STREAMS}
