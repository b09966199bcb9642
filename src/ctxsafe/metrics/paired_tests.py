"""Comparing two runs on the same cases: McNemar's exact test and a clustered bootstrap of the difference.

Two runs of one suite answer the same cases, so their correctness is paired; treating the runs as
independent samples would overstate the uncertainty, and treating cases as independent would
understate it, because safe/unsafe twins (and cases that share an image) succeed and fail together.
The bootstrap therefore resamples whole clusters: cases linked by a pair id or an image end up in
the same cluster.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

# numpy and scipy are imported where used: `ctxsafe --help` and every error message never need them.


@dataclass(frozen=True)
class McNemar:
    """The discordant counts and the exact two-sided p-value.

    `only_a`: cases run A got right and run B got wrong; `only_b`: the reverse. Concordant cases
    carry no information about which run is better and do not enter the test.
    """

    both: int
    only_a: int
    only_b: int
    neither: int
    p_value: float


def mcnemar_exact(only_a: int, only_b: int) -> float:
    """Two-sided exact McNemar p-value: a binomial test of `only_a` out of the discordant cases at 1/2."""
    n = only_a + only_b
    if n == 0:
        return 1.0
    from scipy.special import bdtr  # the binomial CDF; scipy.stats costs ~0.5 s more to import

    return min(1.0, 2.0 * float(bdtr(min(only_a, only_b), n, 0.5)))


def mcnemar(a: Sequence[bool], b: Sequence[bool]) -> McNemar:
    """McNemar's exact test on two runs' correctness over the same cases, in the same order."""
    if len(a) != len(b):
        raise ValueError(f"paired correctness needs equal lengths, got {len(a)} and {len(b)}")
    both = sum(1 for x, y in zip(a, b, strict=True) if x and y)
    only_a = sum(1 for x, y in zip(a, b, strict=True) if x and not y)
    only_b = sum(1 for x, y in zip(a, b, strict=True) if y and not x)
    return McNemar(both, only_a, only_b, len(a) - both - only_a - only_b, mcnemar_exact(only_a, only_b))


def clusters(*keys: Sequence[str | None]) -> list[int]:
    """Cluster index per case: cases sharing any key value (a pair id, an image hash) share a cluster.

    Union-find over the key values, so pairs linked through a shared image form one cluster.
    Each sequence holds one key per case; None links nothing.
    """
    n = len(keys[0]) if keys else 0
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for column in keys:
        if len(column) != n:
            raise ValueError("every cluster key needs one value per case")
        first: dict[str, int] = {}
        for i, value in enumerate(column):
            if value is None:
                continue
            j = first.setdefault(value, i)
            ri, rj = find(i), find(j)
            if ri != rj:
                parent[ri] = rj
    roots: dict[int, int] = {}
    return [roots.setdefault(find(i), len(roots)) for i in range(n)]


@dataclass(frozen=True)
class Difference:
    """Mean of `a - b` over paired units with a percentile-bootstrap interval over clusters."""

    value: float
    ci95: tuple[float, float]
    n: int
    clusters: int
    resamples: int


def bootstrap_difference(a: Sequence[float], b: Sequence[float], cluster: Sequence[int], resamples: int = 2000,
                         seed: int = 0, level: float = 0.95) -> Difference:
    """The paired difference of means (A minus B) and its cluster-bootstrap percentile interval.

    Each resample draws as many clusters as there are, with replacement, and recomputes the ratio
    of summed differences to summed case counts; seeded, so a report is reproducible.
    """
    import numpy as np

    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    cl = np.asarray(cluster, dtype=np.int64)
    if d.shape != cl.shape:
        raise ValueError("one cluster index per paired case is needed")
    n = int(d.size)
    if n == 0:
        return Difference(math.nan, (math.nan, math.nan), 0, 0, 0)
    k = int(cl.max()) + 1
    sums = np.bincount(cl, weights=d, minlength=k)
    counts = np.bincount(cl, minlength=k).astype(float)
    value = float(d.mean())
    if k < 2:
        return Difference(value, (math.nan, math.nan), n, k, 0)
    rng = np.random.default_rng(seed)
    stats = np.empty(resamples)
    block = max(1, min(resamples, 4_000_000 // k))  # bound memory at ~32 MB of indices per block
    for start in range(0, resamples, block):
        stop = min(resamples, start + block)
        draws = rng.integers(0, k, size=(stop - start, k))
        stats[start:stop] = sums[draws].sum(axis=1) / counts[draws].sum(axis=1)
    alpha = (1 - level) / 2
    lo, hi = np.quantile(stats, [alpha, 1 - alpha])
    return Difference(value, (float(lo), float(hi)), n, k, resamples)
