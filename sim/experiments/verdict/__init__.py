"""The probabilistic verdict on Kotler's matrix (issue 12, items 4-5): spec, plan, analysis, report."""

from sim.experiments.verdict.spec import VerdictSpec, load_spec, parse_spec

__all__ = ["VerdictSpec", "load_spec", "parse_spec"]
