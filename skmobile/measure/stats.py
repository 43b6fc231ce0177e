"""Order statistics of timing samples: percentiles, the spread, and when a median is stable."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Sequence


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) with linear interpolation between closest ranks."""
    if not values:
        raise ValueError("percentile of no values")
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


@dataclass(frozen=True)
class Spread:
    """p10 / p50 / p90 of ``n`` samples, in the samples' unit."""

    n: int
    p10: float
    p50: float
    p90: float

    @classmethod
    def of(cls, values: Sequence[float]) -> "Spread":
        return cls(len(values), percentile(values, 10), percentile(values, 50), percentile(values, 90))

    def scaled(self, factor: float) -> "Spread":
        return Spread(self.n, self.p10 * factor, self.p50 * factor, self.p90 * factor)

    def as_json(self, digits: int = 4) -> dict:
        return {k: (round(v, digits) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def median_halfwidth(values: Sequence[float], z: float = 1.96) -> float:
    """Half the width of the distribution-free ~95% confidence interval of the median, relative to it.

    The interval runs between the order statistics of rank n/2 -+ z*sqrt(n)/2 (the binomial
    approximation); with fewer than 6 samples it is unbounded (``inf``).
    """
    n = len(values)
    if n < 6:
        return math.inf
    xs = sorted(values)
    half = z * math.sqrt(n) / 2
    lo = max(0, math.floor(n / 2 - half))
    hi = min(n - 1, math.ceil(n / 2 + half))
    mid = percentile(xs, 50)
    return (xs[hi] - xs[lo]) / 2 / mid if mid > 0 else math.inf


def median(values: Sequence[float]) -> float:
    """The 50th percentile (the mean of the two middle values for an even count)."""
    return percentile(values, 50)
