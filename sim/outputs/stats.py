"""Statistics shared by every experiment: the mean with its t confidence interval over replications.

One implementation, so that the matrix, validation, calibration and the sweeps report intervals the same way.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def t_interval(values: np.ndarray, confidence: float = 0.95, axis: int = -1) -> tuple[Any, Any, Any]:
    """Mean and two-sided t confidence interval over ``axis`` (replications); NaN bounds with one value."""
    from scipy import stats  # imported here: `relsim --help` should not pay for scipy.stats

    values = np.asarray(values, float)
    n = values.shape[axis]
    mean = values.mean(axis)
    if n < 2:
        nan = np.full_like(mean, np.nan)
        return mean, nan, nan
    half = stats.t.ppf(0.5 + confidence / 2.0, n - 1) * values.std(axis, ddof=1) / math.sqrt(n)
    return mean, mean - half, mean + half


def mean_interval(values: Any, confidence: float = 0.95) -> tuple[float, float, float]:
    """Mean and t interval of a 1-d sample, NaNs dropped (NaN bounds with fewer than two values)."""
    array = np.asarray(values, float)
    array = array[~np.isnan(array)]
    if len(array) == 0:
        return math.nan, math.nan, math.nan
    mean, low, high = t_interval(array, confidence)
    return float(mean), float(low), float(high)
