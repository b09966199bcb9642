"""Agreement statistics checked against sklearn and statsmodels on known and random tables."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score, confusion_matrix, precision_score, recall_score
from statsmodels.stats.inter_rater import aggregate_raters
from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss

from ctxsafe.metrics import agreement as ag


def _random_pair(seed: int, k: int, n: int = 200) -> tuple[list[int], list[int]]:
    rng = np.random.default_rng(seed)
    gold = rng.integers(0, k, n).tolist()
    noise = rng.integers(0, k, n).tolist()
    keep = rng.random(n) < 0.7
    return gold, [g if ok else x for g, x, ok in zip(gold, noise, keep, strict=True)]


@pytest.mark.parametrize("seed", range(5))
def test_kappa_accuracy_and_per_class_match_sklearn(seed: int) -> None:
    gold, pred = _random_pair(seed, 4)
    cm = ag.confusion(gold, pred, 4)
    assert cm[:, :4].tolist() == confusion_matrix(gold, pred, labels=[0, 1, 2, 3]).tolist()
    assert ag.kappa(cm) == pytest.approx(cohen_kappa_score(gold, pred, labels=[0, 1, 2, 3]))
    assert ag.accuracy(cm) == pytest.approx(np.mean(np.array(gold) == np.array(pred)))
    prec, rec = ag.precision_recall(cm)
    assert prec == pytest.approx(list(precision_score(gold, pred, labels=[0, 1, 2, 3], average=None)))
    assert rec == pytest.approx(list(recall_score(gold, pred, labels=[0, 1, 2, 3], average=None)))


@pytest.mark.parametrize("seed", range(5))
def test_quadratic_kappa_and_mae_match_sklearn(seed: int) -> None:
    gold, pred = _random_pair(seed, 5)
    cm = ag.confusion(gold, pred, 5)
    assert ag.kappa(cm, "quadratic") == pytest.approx(cohen_kappa_score(gold, pred, weights="quadratic"))
    assert ag.mae(cm) == pytest.approx(np.mean(np.abs(np.array(gold) - np.array(pred))))


def test_unparsed_counts_as_a_disagreement_like_an_extra_label() -> None:
    gold = [0, 1, 2, 3, 0, 1, 2, 3, 1, 2]
    pred: list[int | None] = [0, 1, None, 3, 0, None, 2, 3, 1, 1]
    cm = ag.confusion(gold, pred, 4)
    as_label = [-1 if p is None else p for p in pred]
    assert cm[:, 4].sum() == 2
    assert ag.kappa(cm) == pytest.approx(cohen_kappa_score(gold, as_label, labels=[-1, 0, 1, 2, 3]))
    assert ag.accuracy(cm) == pytest.approx(0.7)
    assert ag.mae(cm) == pytest.approx(1 / 8)  # over the 8 parsed items


def test_known_table_and_degenerate_cases() -> None:
    # Two raters, 50 items: 20 yes/yes, 5 yes/no, 10 no/yes, 15 no/no -> kappa 0.4 (a textbook table).
    gold = [1] * 25 + [0] * 25
    pred = [1] * 20 + [0] * 5 + [1] * 10 + [0] * 15
    assert ag.kappa(ag.confusion(gold, pred, 2)) == pytest.approx(0.4)
    assert math.isnan(ag.kappa(ag.confusion([1, 1], [1, 1], 2)))
    with pytest.raises(ValueError, match="outside"):
        ag.confusion([4], [0], 4)


@pytest.mark.parametrize("seed", range(3))
def test_fleiss_kappa_matches_statsmodels(seed: int) -> None:
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 3, 60)
    ratings = [[int(t) if rng.random() < 0.75 else int(rng.integers(0, 3)) for _ in range(4)] for t in truth]
    table, _ = aggregate_raters(np.array(ratings), n_cat=3)
    assert ag.fleiss_kappa(ratings, 3) == pytest.approx(sm_fleiss(table))


def test_cluster_bootstrap_interval_contains_the_estimate_and_stays_in_range() -> None:
    gold, pred = _random_pair(7, 4, 300)
    clusters = [i // 3 for i in range(300)]
    per = ag.cluster_confusions(gold, pred, clusters, 4)
    assert per.shape == (100, 4, 5)
    assert per.sum(axis=0).tolist() == ag.confusion(gold, pred, 4).tolist()
    lo, hi = ag.bootstrap_ci(per, ag.accuracy, bounds=(0.0, 1.0))
    est = ag.accuracy(ag.confusion(gold, pred, 4))
    assert 0.0 <= lo < est < hi <= 1.0
    assert math.isnan(ag.bootstrap_ci(per[:1], ag.accuracy)[0])  # one cluster: no interval


def test_cluster_bootstrap_is_wider_when_clusters_share_information() -> None:
    # The same 300 verdicts, where each cluster of 10 is all right or all wrong: resampling clusters must
    # give a wider interval than pretending the 300 are independent.
    rng = np.random.default_rng(3)
    right = np.repeat(rng.random(30) < 0.8, 10)
    gold = [0] * 300
    pred = [0 if r else 1 for r in right]
    clustered = ag.cluster_confusions(gold, pred, [i // 10 for i in range(300)], 2)
    independent = ag.cluster_confusions(gold, pred, list(range(300)), 2)
    lo_c, hi_c = ag.bootstrap_ci(clustered, ag.accuracy, bounds=(0.0, 1.0))
    lo_i, hi_i = ag.bootstrap_ci(independent, ag.accuracy, bounds=(0.0, 1.0))
    assert hi_c - lo_c > 2 * (hi_i - lo_i)
