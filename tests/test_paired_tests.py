"""McNemar's exact test against textbook tables and statsmodels; the clustered bootstrap by coverage."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ctxsafe.metrics.paired_tests import bootstrap_difference, clusters, mcnemar, mcnemar_exact

statsmodels_table = pytest.importorskip("statsmodels.stats.contingency_tables")


def test_mcnemar_exact_small_table_by_hand() -> None:
    # 1 vs 9 discordant: 2 * P(X <= 1 | n=10, p=1/2) = 2 * 11 / 1024
    assert mcnemar_exact(1, 9) == pytest.approx(22 / 1024, rel=1e-12)
    assert mcnemar_exact(9, 1) == pytest.approx(22 / 1024, rel=1e-12)
    assert mcnemar_exact(5, 5) == 1.0
    assert mcnemar_exact(0, 0) == 1.0


@pytest.mark.parametrize("table", [
    [[794, 150], [86, 570]],   # Agresti, approval of the prime minister in two surveys
    [[59, 6], [16, 80]],       # a small biomedical table with few discordant pairs
    [[10, 0], [7, 3]],
])
def test_mcnemar_matches_statsmodels(table: list[list[int]]) -> None:
    (both, only_a), (only_b, neither) = table
    a = [True] * both + [True] * only_a + [False] * only_b + [False] * neither
    b = [True] * both + [False] * only_a + [True] * only_b + [False] * neither
    got = mcnemar(a, b)
    assert (got.both, got.only_a, got.only_b, got.neither) == (both, only_a, only_b, neither)
    want = statsmodels_table.mcnemar(np.array(table), exact=True).pvalue
    assert got.p_value == pytest.approx(want, rel=1e-9)


def test_mcnemar_rejects_unpaired_lengths() -> None:
    with pytest.raises(ValueError, match="equal lengths"):
        mcnemar([True], [True, False])


def test_clusters_join_pairs_through_shared_images() -> None:
    pairs = ["p1", "p1", "p2", "p2", "p3", "p3"]
    images = ["i1", "i2", "i2", "i3", "i4", None]
    got = clusters(pairs, images)
    assert got[0] == got[1] == got[2] == got[3]
    assert got[4] == got[5] != got[0]
    assert clusters(["a", "b", "c"]) == [0, 1, 2]


def test_bootstrap_matches_normal_interval_for_independent_cases() -> None:
    rng = np.random.default_rng(7)
    a = rng.random(4000) < 0.7
    b = rng.random(4000) < 0.6
    got = bootstrap_difference(a, b, list(range(4000)), resamples=4000, seed=1)
    d = a.astype(float) - b.astype(float)
    half = 1.959964 * d.std(ddof=1) / math.sqrt(d.size)
    assert got.value == pytest.approx(d.mean())
    assert got.ci95[0] == pytest.approx(d.mean() - half, abs=0.1 * half)
    assert got.ci95[1] == pytest.approx(d.mean() + half, abs=0.1 * half)


def _simulated_pairs(rng: np.random.Generator, pairs: int, delta: float) -> tuple[np.ndarray, np.ndarray]:
    """Twins share a difficulty, so their correctness is correlated; A beats B by `delta` on average."""
    q = np.repeat(rng.uniform(0.3, 0.8, size=pairs), 2)
    a = rng.random(2 * pairs) < q + delta
    b = rng.random(2 * pairs) < q
    return a, b


def test_clustered_bootstrap_covers_the_true_difference_about_95_percent() -> None:
    rng = np.random.default_rng(2024)
    pairs, delta, reps = 120, 0.1, 300
    cl = clusters([f"p{i // 2}" for i in range(2 * pairs)])
    hits = 0
    for r in range(reps):
        a, b = _simulated_pairs(rng, pairs, delta)
        lo, hi = bootstrap_difference(a, b, cl, resamples=500, seed=r).ci95
        hits += lo <= delta <= hi
    assert 0.91 <= hits / reps <= 0.98


def test_clustering_widens_the_interval_when_twins_move_together() -> None:
    """Duplicated twins carry no extra information: the clustered interval must not shrink, the naive one does."""
    rng = np.random.default_rng(3)
    a1 = rng.random(500) < 0.7
    b1 = rng.random(500) < 0.5
    a, b = np.repeat(a1, 2), np.repeat(b1, 2)
    single = bootstrap_difference(a1, b1, list(range(500)), seed=0)
    clustered = bootstrap_difference(a, b, clusters([f"p{i // 2}" for i in range(1000)]), seed=0)
    naive = bootstrap_difference(a, b, list(range(1000)), seed=0)
    width = lambda d: d.ci95[1] - d.ci95[0]  # noqa: E731
    assert width(clustered) == pytest.approx(width(single), rel=0.15)
    assert width(naive) < 0.8 * width(clustered)


def test_bootstrap_edge_cases() -> None:
    empty = bootstrap_difference([], [], [])
    assert math.isnan(empty.value) and empty.n == 0
    one = bootstrap_difference([1.0, 0.0], [0.0, 0.0], [0, 0])
    assert one.value == 0.5 and math.isnan(one.ci95[0]) and one.clusters == 1
    with pytest.raises(ValueError, match="cluster index"):
        bootstrap_difference([1.0], [0.0], [0, 1])
