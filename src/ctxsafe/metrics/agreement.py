"""Agreement statistics between a judge and gold labels, or between several judges.

Why here: every figure is a function of a confusion matrix, so one cluster bootstrap over
per-cluster confusion matrices gives intervals for all of them at once, resampling the units that
share information (an image/scene, a dialogue) rather than pretending every response is independent.

Conventions: rows are gold labels, columns predictions; the last column may be "unparsed" (the
judge gave no usable verdict). An unparsed verdict counts as a disagreement in accuracy and kappa
and is left out of the MAE (which needs a number), and the count is always reported beside it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Sequence

import numpy as np
from numpy.typing import NDArray

Matrix = NDArray[np.float64]

BOOTSTRAP_DRAWS = 2000
BOOTSTRAP_SEED = 20261202


def confusion(gold: Sequence[int], pred: Sequence[int | None], n_labels: int) -> Matrix:
    """K x (K+1) counts for labels 0..K-1; column K holds predictions that are None (unparsed)."""
    if len(gold) != len(pred):
        raise ValueError(f"gold and pred differ in length: {len(gold)} != {len(pred)}")
    cm = np.zeros((n_labels, n_labels + 1))
    for g, p in zip(gold, pred, strict=True):
        if not 0 <= g < n_labels or (p is not None and not 0 <= p < n_labels):
            raise ValueError(f"label outside 0..{n_labels - 1}: gold={g!r} pred={p!r}")
        cm[g, n_labels if p is None else p] += 1
    return cm


def accuracy(cm: Matrix) -> float:
    n = cm.sum()
    return float(np.trace(cm[:, : cm.shape[0]]) / n) if n else math.nan


def kappa(cm: Matrix, weights: str | None = None) -> float:
    """Cohen's kappa (unweighted, or quadratic-weighted) from a K x (K+1) confusion matrix.

    Unparsed predictions (column K) sit at the maximum distance from every gold label, so they can
    only lower agreement. NaN when chance agreement is perfect (both sides use one shared label).
    """
    k = cm.shape[0]
    n = cm.sum()
    if n == 0:
        return math.nan
    idx = np.arange(k + 1)
    if weights is None:
        w = (idx[:k, None] != idx[None, :]).astype(float)
    elif weights == "quadratic":
        dist = np.minimum(np.abs(idx[:k, None] - idx[None, :]), k - 1).astype(float)
        dist[:, k] = k - 1
        w = (dist / (k - 1)) ** 2
    else:
        raise ValueError(f"unknown weights {weights!r}")
    p = cm / n
    expected = np.outer(p.sum(axis=1), p.sum(axis=0))
    denom = float((w * expected).sum())
    if denom == 0:
        return math.nan
    return 1.0 - float((w * p).sum()) / denom


def mae(cm: Matrix) -> float:
    """Mean absolute error over parsed predictions (ordinal labels, e.g. scores 1-5 as 0-4)."""
    k = cm.shape[0]
    parsed = cm[:, :k]
    n = parsed.sum()
    if n == 0:
        return math.nan
    idx = np.arange(k)
    return float((np.abs(idx[:, None] - idx[None, :]) * parsed).sum() / n)


def within_one(cm: Matrix) -> float:
    """Share of items whose parsed prediction is at most one step from gold (unparsed count as misses)."""
    k = cm.shape[0]
    n = cm.sum()
    idx = np.arange(k)
    return float(((np.abs(idx[:, None] - idx[None, :]) <= 1) * cm[:, :k]).sum() / n) if n else math.nan


def precision_recall(cm: Matrix) -> tuple[list[float | None], list[float | None]]:
    """Per-class precision and recall; None where undefined (no prediction / no gold item of the class)."""
    k = cm.shape[0]
    col = cm[:, :k].sum(axis=0)
    row = cm.sum(axis=1)
    prec = [float(cm[i, i] / col[i]) if col[i] else None for i in range(k)]
    rec = [float(cm[i, i] / row[i]) if row[i] else None for i in range(k)]
    return prec, rec


def cluster_confusions(gold: Sequence[int], pred: Sequence[int | None], clusters: Sequence[Hashable],
                       n_labels: int) -> NDArray[np.float64]:
    """One confusion matrix per cluster (C x K x K+1), in order of first appearance."""
    order: dict[Hashable, int] = {}
    for c in clusters:
        order.setdefault(c, len(order))
    out = np.zeros((len(order), n_labels, n_labels + 1))
    for g, p, c in zip(gold, pred, clusters, strict=True):
        out[order[c], g, n_labels if p is None else p] += 1
    return out


def bootstrap_ci(per_cluster: NDArray[np.float64], stat: Callable[[Matrix], float],
                 draws: int = BOOTSTRAP_DRAWS, seed: int = BOOTSTRAP_SEED, level: float = 0.95,
                 bounds: tuple[float, float] = (-1.0, 1.0)) -> tuple[float, float]:
    """Percentile cluster bootstrap: resample whole clusters with replacement, recompute the statistic.

    Draws whose statistic is undefined (NaN) are dropped; fewer than 2 clusters gives (nan, nan),
    because an interval from one cluster would claim a precision the data cannot give.
    """
    c = per_cluster.shape[0]
    if c < 2:
        return (math.nan, math.nan)
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(c, np.full(c, 1.0 / c), size=draws)
    flat = per_cluster.reshape(c, -1)
    mats = (counts @ flat).reshape(draws, *per_cluster.shape[1:])
    values = np.array([stat(m) for m in mats])
    values = values[~np.isnan(values)]
    if values.size == 0:
        return (math.nan, math.nan)
    alpha = (1 - level) / 2
    lo, hi = np.quantile(values, [alpha, 1 - alpha])
    return (max(bounds[0], float(lo)), min(bounds[1], float(hi)))


def fleiss_kappa(ratings: Sequence[Sequence[int]], n_labels: int) -> float:
    """Fleiss' kappa for items each rated by the same number of raters (labels 0..n_labels-1)."""
    if not ratings:
        return math.nan
    raters = len(ratings[0])
    if raters < 2 or any(len(r) != raters for r in ratings):
        raise ValueError("Fleiss' kappa needs the same number (>= 2) of ratings for every item")
    table = np.zeros((len(ratings), n_labels))
    for i, row in enumerate(ratings):
        for lab in row:
            table[i, lab] += 1
    n_items = table.shape[0]
    p_j = table.sum(axis=0) / (n_items * raters)
    p_i = ((table * (table - 1)).sum(axis=1)) / (raters * (raters - 1))
    p_bar = p_i.mean()
    p_e = float((p_j**2).sum())
    if p_e == 1.0:
        return math.nan
    return float((p_bar - p_e) / (1 - p_e))
