"""Confidence intervals and weighted means used by every suite's metrics."""

from __future__ import annotations

import math
from collections.abc import Sequence

from scipy.special import stdtrit  # the t quantile; scipy.stats costs ~0.5 s more to import

Z95 = 1.959963984540054


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a proportion; behaves at 0 and n, unlike the normal interval."""
    if n == 0:
        return (math.nan, math.nan)
    p = k / n
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return (max(0.0, centre - half), min(1.0, centre + half))


def mean_ci(values: Sequence[float], level: float = 0.95) -> tuple[float, float, float]:
    """Mean and a t-interval over independent units (pairs), so twins are never counted as independent."""
    n = len(values)
    if n == 0:
        return (math.nan, math.nan, math.nan)
    mean = sum(values) / n
    if n == 1:
        return (mean, math.nan, math.nan)
    var = sum((v - mean) ** 2 for v in values) / (n - 1)
    half = float(stdtrit(n - 1, 0.5 + level / 2)) * math.sqrt(var / n)
    return (mean, mean - half, mean + half)


def weighted_mean(values: Sequence[float], weights: Sequence[float]) -> float:
    total = sum(weights)
    if total == 0:
        return math.nan
    return sum(v * w for v, w in zip(values, weights, strict=True)) / total
