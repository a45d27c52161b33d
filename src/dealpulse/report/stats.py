"""The change tests moved to the domain (`dealpulse.metrics.change_tests`); kept here for old imports."""

from dealpulse.metrics.change_tests import (  # noqa: F401
    ALPHA, MIN_COUNT_TOTAL, MIN_RATE_N, MIN_SAMPLE_N, Verdict, adjust, compound_sums, medians, poisson_counts,
    two_proportions, wilson,
)
from dealpulse.metrics.change_tests import _st  # noqa: F401 - tests reach for scipy.stats through here

__all__ = ["Verdict", "wilson", "two_proportions", "poisson_counts", "compound_sums", "medians", "adjust", "ALPHA",
           "MIN_RATE_N", "MIN_COUNT_TOTAL", "MIN_SAMPLE_N"]
