"""Intervals that mean what they say: coverage on simulated clustered data, range, and small groups."""

from __future__ import annotations

import math

import numpy as np

from ctxsafe.metrics.stats import cluster_mean_ci, clustered_wilson, mean_ci, wilson


def _clustered_draw(rng: np.random.Generator, n_clusters: int, per: int, p: float, spread: float
                    ) -> tuple[list[float], list[int]]:
    """0/1 outcomes whose success rate varies by cluster (an image several queries share)."""
    rates = np.clip(rng.normal(p, spread, n_clusters), 0.0, 1.0)
    values, clusters = [], []
    for c, r in enumerate(rates):
        for _ in range(per):
            values.append(float(rng.random() < r))
            clusters.append(c)
    return values, clusters


def test_cluster_robust_interval_covers_about_95_percent_where_the_naive_one_does_not() -> None:
    rng = np.random.default_rng(11)
    p, draws = 0.6, 600
    # The true mean of the clipped cluster rates, by a large Monte Carlo draw.
    truth = float(np.mean(np.clip(rng.normal(p, 0.3, 2_000_000), 0.0, 1.0)))
    hit_cluster = hit_naive = 0
    for _ in range(draws):
        values, clusters = _clustered_draw(rng, 40, 5, p, 0.3)
        _, lo, hi, _ = cluster_mean_ci(values, clusters)
        hit_cluster += lo <= truth <= hi
        _, nlo, nhi = mean_ci(values)  # pretends the 200 outcomes are independent
        hit_naive += nlo <= truth <= nhi
    assert 0.92 <= hit_cluster / draws <= 0.98
    assert hit_naive / draws < 0.88


def test_clustered_wilson_covers_and_stays_in_range() -> None:
    rng = np.random.default_rng(5)
    p, draws, hits = 0.85, 600, 0
    truth = float(np.mean(np.clip(rng.normal(p, 0.2, 2_000_000), 0.0, 1.0)))
    for _ in range(draws):
        values, clusters = _clustered_draw(rng, 30, 4, p, 0.2)
        lo, hi = clustered_wilson([int(v) for v in values], clusters)
        assert 0.0 <= lo <= hi <= 1.0
        hits += lo <= truth <= hi
    assert 0.92 <= hits / draws <= 0.99


def test_intervals_are_clipped_and_small_groups_have_none() -> None:
    mean, lo, hi, c = cluster_mean_ci([1.0, 1.0, 1.0, 0.5], ["a", "b", "c", "d"])
    assert 0.0 <= lo <= mean <= hi <= 1.0 and c == 4
    _, lo1, hi1, c1 = cluster_mean_ci([1.0, 0.0, 1.0], ["a", "a", "a"])
    assert c1 == 1 and math.isnan(lo1) and math.isnan(hi1)
    assert clustered_wilson([1, 1, 1], ["a", "b", "c"]) == wilson(3, 3)
    # a cluster whose outcomes all move together counts as one unit, not as ten
    together = clustered_wilson([1] * 10 + [0] * 10, ["a"] * 10 + ["b"] * 10)
    independent = clustered_wilson([1] * 10 + [0] * 10, [str(i) for i in range(20)])
    assert together[1] - together[0] > independent[1] - independent[0]


def _reference(values: list[float], clusters: list[int], hits: list[int]
               ) -> tuple[tuple[float, float, float, int], tuple[float, float]]:
    """The numpy computation the intervals used before they moved to plain Python (bincount sums each cluster
    in input order), so the published numbers must not have changed by a bit."""
    from scipy.stats import t as student

    from ctxsafe.metrics.stats import wilson_p

    _, first, inverse = np.unique(np.asarray(clusters), return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    counts = np.bincount(inverse)[order]
    n, c = len(values), len(counts)

    def between(v: np.ndarray, centre: float) -> float:
        resid = np.bincount(inverse, weights=v)[order] - centre * counts
        return c / (c - 1) * sum((resid * resid).tolist()) / (n * n)

    v = np.asarray(values, dtype=np.float64)
    mean = sum(v.tolist()) / n
    if c < 2:
        ci = (mean, math.nan, math.nan, c)
    else:
        half = float(student.ppf(0.975, c - 1)) * math.sqrt(between(v, mean))
        ci = (mean, max(-1e6, mean - half), min(1e6, mean + half), c)
    h = np.asarray(hits, dtype=np.float64)
    p = int(h.sum()) / n
    deff = max(1.0, between(h, p) / (p * (1 - p) / n)) if c >= 2 and 0 < p < 1 else 1.0
    return ci, wilson_p(p, n / deff)


def test_the_plain_python_intervals_equal_the_numpy_ones_they_replaced() -> None:
    """Means, cluster sums and design effects to the last bit; the t quantile to 1e-9 (test_student_t.py)."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    units = st.lists(st.tuples(st.floats(-1e6, 1e6), st.integers(0, 1), st.integers(0, 30)), min_size=1, max_size=200)

    @settings(max_examples=300, deadline=None)
    @given(units)
    def check(rows: list[tuple[float, int, int]]) -> None:
        values, hits, clusters = (list(col) for col in zip(*rows, strict=True))
        want_ci, want_wilson = _reference(values, clusters, hits)
        got = cluster_mean_ci(values, clusters, bounds=(-1e6, 1e6))
        assert (got[0], got[3]) == (want_ci[0], want_ci[3])
        assert np.allclose(got[1:3], want_ci[1:3], rtol=1e-9, atol=1e-9, equal_nan=True)
        assert clustered_wilson(hits, clusters) == want_wilson

    check()
