"""Confidence intervals and weighted means used by every suite's metrics.

Plain Python, no numpy or scipy: a run's results and a report need neither import (issue 12)."""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence

from ctxsafe.metrics.student_t import t_quantile

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
    half = t_quantile(n - 1, 0.5 + level / 2) * math.sqrt(var / n)
    return (mean, mean - half, mean + half)


def weighted_mean(values: Sequence[float], weights: Sequence[float]) -> float:
    total = sum(weights)
    if total == 0:
        return math.nan
    return sum(v * w for v, w in zip(values, weights, strict=True)) / total


SMALL_CLUSTERS = 10
"""Fewer independent clusters than this: the interval is shown but marked too few to read."""


def _cluster_totals(values: Sequence[float], clusters: Sequence[Hashable]) -> tuple[list[float], list[int]]:
    """Each cluster's sum and size, clusters in order of first appearance, each sum added up in input order.
    Plain Python: a run's results need no numpy import (~0.1 s, several percent of a fast run), and a
    100,000-case report computes them in about the time numpy arrays took (docs/performance.md)."""
    sums: dict[Hashable, float] = {}
    counts: dict[Hashable, int] = {}
    for v, c in zip(values, clusters, strict=True):
        sums[c] = sums.get(c, 0.0) + v
        counts[c] = counts.get(c, 0) + 1
    return list(sums.values()), list(counts.values())


def _between_cluster_variance(sums: list[float], counts: list[int], centre: float, n: int) -> float:
    """CR1 sandwich variance of a ratio mean: the spread of the clusters' residual totals."""
    c = len(sums)
    resid = [s - centre * k for s, k in zip(sums, counts, strict=True)]
    return c / (c - 1) * sum([r * r for r in resid]) / (n * n)


def cluster_mean_ci(values: Sequence[float], clusters: Sequence[Hashable], level: float = 0.95,
                    bounds: tuple[float, float] = (0.0, 1.0)) -> tuple[float, float, float, int]:
    """Mean over units with a cluster-robust t-interval (clusters = the things units share: an image
    with several queries or paraphrases). (mean, lo, hi, number of clusters), clipped to `bounds`;
    NaN bounds with fewer than two clusters. Units in one cluster are not independent evidence, so
    the spread is measured between clusters (CR1 sandwich variance of a ratio mean, C-1 degrees of freedom)."""
    values = [float(v) for v in values]
    n = len(values)
    if n == 0:
        return (math.nan, math.nan, math.nan, 0)
    sums, counts = _cluster_totals(values, clusters)
    c = len(sums)
    mean = sum(values) / n
    if c < 2:
        return (mean, math.nan, math.nan, c)
    half = t_quantile(c - 1, 0.5 + level / 2) * math.sqrt(_between_cluster_variance(sums, counts, mean, n))
    return (mean, max(bounds[0], mean - half), min(bounds[1], mean + half), c)


def clustered_wilson(successes: Sequence[int], clusters: Sequence[Hashable], z: float = Z95) -> tuple[float, float]:
    """Wilson interval for a proportion of 0/1 outcomes that come in clusters: the sample size is
    deflated by the design effect measured between clusters (never inflated), so the interval stays
    in [0, 1] like Wilson's and widens when outcomes within a cluster move together."""
    n = len(successes)
    if n == 0:
        return (math.nan, math.nan)
    p = sum(successes) / n
    sums, counts = _cluster_totals(successes, clusters)
    deff = 1.0
    if len(sums) >= 2 and 0 < p < 1:
        deff = max(1.0, _between_cluster_variance(sums, counts, p, n) / (p * (1 - p) / n))
    return wilson_p(p, n / deff, z)


def wilson_p(p: float, n: float, z: float = Z95) -> tuple[float, float]:
    """Wilson interval from a proportion and a (possibly effective, non-integer) sample size."""
    if n <= 0:
        return (math.nan, math.nan)
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return (max(0.0, centre - half), min(1.0, centre + half))


def newcombe(k1: int, n1: int, k2: int, n2: int, z: float = Z95) -> tuple[float, float]:
    """Newcombe's hybrid score interval (his method 10) for p1 - p2 from two independent samples: built from
    each side's Wilson interval, so it stays inside [-1, 1] and behaves at 0 and 100%."""
    if not n1 or not n2:
        raise ValueError("both samples need at least one case")
    p1, p2 = k1 / n1, k2 / n2
    l1, u1 = wilson(k1, n1, z)
    l2, u2 = wilson(k2, n2, z)
    d = p1 - p2
    return d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
