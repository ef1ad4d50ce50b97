"""Priors of uncertain inputs: what the evidence says about a parameter as a probability distribution.

A prior is written in the data files (``levels.toml``, ``segments.toml``) beside a value's plausible ``range``, as
one inline table::

    prior = { distribution = "beta", a = 16, b = 13 }                  # on [0, 1]
    prior = { distribution = "lognormal", median = 0.6, sigma = 0.52 }  # sigma: sd of the log
    prior = { distribution = "uniform", low = 0.0, high = 0.15 }
    prior = { distribution = "triangular", low = 2, mode = 4, high = 8 }
    prior = { distribution = "uniform", low = 0.0, high = 0.10, above = "reactive" }

``above = "LEVEL"`` makes the draw an increment over the same parameter of an earlier level of the file (an ordinal
assumption such as "Accountable resolves at least as well as Reactive"). Draws are clipped to the input's accepted
range and rounded for whole-number inputs (:func:`clip`). The priors do not change any run: the defaults stay the
files' values; an uncertainty analysis draws from them (:func:`draw`). Without a prior, an uncertainty analysis
draws uniformly from the plausible range (docs/MODEL.md, section 6).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from sim.errors import ConfigError

# The parameters of each family, in the order the files give them.
DISTRIBUTIONS: dict[str, tuple[str, ...]] = {
    "beta": ("a", "b"),
    "lognormal": ("median", "sigma"),
    "uniform": ("low", "high"),
    "triangular": ("low", "mode", "high"),
}


@dataclass(frozen=True)
class Prior:
    """A distribution family with its parameters; ``above`` names the level whose draw this one is added to."""

    distribution: str
    parameters: tuple[tuple[str, float], ...]
    above: str | None = None

    def __getitem__(self, name: str) -> float:
        return dict(self.parameters)[name]

    def as_dict(self) -> dict[str, Any]:
        above = {"above": self.above} if self.above else {}
        return {"distribution": self.distribution, **dict(self.parameters), **above}

    def describe(self) -> str:
        """``beta(a=16, b=13)``, ``reactive + uniform(low=0, high=0.1)``."""
        text = f"{self.distribution}({', '.join(f'{k}={v:g}' for k, v in self.parameters)})"
        return f"{self.above} + {text}" if self.above else text


def read_prior(key: str, entry: Any) -> Prior:
    """A prior from its inline table; every error is one line naming ``key`` (e.g. ``levels.NAME.PARAM.prior``)."""
    if not isinstance(entry, dict):
        raise ConfigError(key, "must be a table { distribution = ..., ... } (see docs/MODEL.md, section 6)")
    family = entry.get("distribution")
    if family not in DISTRIBUTIONS:
        raise ConfigError(f"{key}.distribution", f"must be one of {', '.join(DISTRIBUTIONS)}; got {family!r}")
    names = DISTRIBUTIONS[family]
    for name in entry:
        if name not in ("distribution", "above", *names):
            raise ConfigError(f"{key}.{name}", f"unknown key; a {family} prior has {', '.join(names)} (and above)")
    values = {}
    for name in names:
        value = entry.get(name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ConfigError(f"{key}.{name}", f"must be a number; got {value!r}")
        values[name] = float(value)
    problem = _invalid(family, values)
    if problem:
        raise ConfigError(key, problem)
    above = entry.get("above")
    if above is not None and (not isinstance(above, str) or not above):
        raise ConfigError(f"{key}.above", f"must be the name of a level; got {above!r}")
    return Prior(family, tuple(values.items()), above)


def _invalid(family: str, v: dict[str, float]) -> str:
    if family == "beta" and not (v["a"] > 0 and v["b"] > 0):
        return "a beta prior needs a > 0 and b > 0"
    if family == "lognormal" and not (v["median"] > 0 and v["sigma"] > 0):
        return "a lognormal prior needs median > 0 and sigma > 0"
    if family == "uniform" and not v["low"] < v["high"]:
        return "a uniform prior needs low < high"
    if family == "triangular" and not (v["low"] <= v["mode"] <= v["high"] and v["low"] < v["high"]):
        return "a triangular prior needs low <= mode <= high and low < high"
    return ""


def _frozen(prior: Prior) -> Any:
    """The scipy.stats distribution (imported here: the data modules stay light to import)."""
    from scipy import stats

    p = dict(prior.parameters)
    if prior.distribution == "beta":
        return stats.beta(p["a"], p["b"])
    if prior.distribution == "lognormal":
        return stats.lognorm(s=p["sigma"], scale=p["median"])
    if prior.distribution == "uniform":
        return stats.uniform(loc=p["low"], scale=p["high"] - p["low"])
    width = p["high"] - p["low"]
    return stats.triang(c=(p["mode"] - p["low"]) / width, loc=p["low"], scale=width)


def quantile(prior: Prior, q: float) -> float:
    """The q-quantile of the prior itself (of the increment, for a prior ``above`` another level)."""
    return float(_frozen(prior).ppf(q))


def interval(prior: Prior, mass: float = 0.9) -> tuple[float, float]:
    """The central interval holding ``mass`` of the prior (the "90 % interval" of docs/EVIDENCE.md)."""
    tail = (1.0 - mass) / 2.0
    return quantile(prior, tail), quantile(prior, 1.0 - tail)


def draw(prior: Prior, rng: np.random.Generator, size: int | None = None) -> Any:
    """Draws from the prior (the increment alone for a prior ``above`` another level)."""
    p = dict(prior.parameters)
    if prior.distribution == "beta":
        return rng.beta(p["a"], p["b"], size)
    if prior.distribution == "lognormal":
        return p["median"] * np.exp(p["sigma"] * rng.standard_normal(size))
    if prior.distribution == "uniform":
        return rng.uniform(p["low"], p["high"], size)
    return rng.triangular(p["low"], p["mode"], p["high"], size)


def clip(spec: dataclasses.Field, value: float) -> float | int:
    """A drawn value made acceptable to its input: clipped to the accepted range, rounded for whole numbers."""
    low, high = spec.metadata["low"], spec.metadata["high"]
    value = min(max(float(value), low), high)
    return round(value) if spec.type in ("int", int) else value
