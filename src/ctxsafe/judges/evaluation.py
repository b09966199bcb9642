"""Judge-versus-gold figures with cluster-bootstrap 95% intervals, as plain JSON-ready dicts.

Why one place: `judge-eval` reports, docs and the report footers must quote the same numbers in
the same way. Intervals: percentile bootstrap over clusters (items that share information, e.g.
responses to one scene, turns of one dialogue), 2000 draws, fixed seed, clipped to the range.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np

from ctxsafe.metrics import agreement as ag

SMALL_N = 30
"""Below this many items a figure is printed but marked as too few to read."""


def _num(x: float) -> float | None:
    return None if math.isnan(x) else round(x, 4)


def _ci(per: np.ndarray[Any, Any], stat: Any, bounds: tuple[float, float]) -> list[float | None]:
    lo, hi = ag.bootstrap_ci(per, stat, bounds=bounds)
    return [_num(lo), _num(hi)]


def score_view(gold: Sequence[int], pred: Sequence[int | None], clusters: Sequence[Hashable],
               names: Sequence[str], *, ordinal: bool = False) -> dict[str, Any]:
    """Accuracy, Cohen's kappa, per-class precision/recall and the confusion matrix (+ QWK/MAE if ordinal)."""
    k = len(names)
    cm = ag.confusion(gold, pred, k)
    per = ag.cluster_confusions(gold, pred, clusters, k)
    prec, rec = ag.precision_recall(cm)
    out: dict[str, Any] = {
        "n": len(gold), "clusters": int(per.shape[0]), "unparsed": int(cm[:, k].sum()),
        "small": len(gold) < SMALL_N,
        "accuracy": {"value": _num(ag.accuracy(cm)), "ci95": _ci(per, ag.accuracy, (0.0, 1.0))},
        "kappa": {"value": _num(ag.kappa(cm)), "ci95": _ci(per, ag.kappa, (-1.0, 1.0))},
        "labels": list(names),
        "confusion": cm.astype(int).tolist(),
        "precision": [_num(p) if p is not None else None for p in prec],
        "recall": [_num(r) if r is not None else None for r in rec],
        "support": cm.sum(axis=1).astype(int).tolist(),
    }
    if ordinal:
        def qwk(m: ag.Matrix) -> float:
            return ag.kappa(m, "quadratic")
        out["quadratic_kappa"] = {"value": _num(qwk(cm)), "ci95": _ci(per, qwk, (-1.0, 1.0))}
        out["mae"] = {"value": _num(ag.mae(cm)), "ci95": _ci(per, ag.mae, (0.0, float(k - 1)))}
        out["within_one"] = {"value": _num(ag.within_one(cm)), "ci95": _ci(per, ag.within_one, (0.0, 1.0))}
    return out


def _rate_gold(m: ag.Matrix) -> float:
    n = m.sum()
    return float(m[1, :].sum() / n) if n else math.nan


def _rate_judge(m: ag.Matrix) -> float:
    n = m.sum()
    return float(m[:, 1].sum() / n) if n else math.nan


def _bias(m: ag.Matrix) -> float:
    return _rate_judge(m) - _rate_gold(m)


def binary_view(gold_ok: Sequence[bool], judge_ok: Sequence[bool], sides: Sequence[str],
                clusters: Sequence[Hashable], positive: str) -> dict[str, Any]:
    """The yes/no the suite's metric uses (e.g. MSSBench 'correct'), its agreement and, per side,
    the rate humans give, the rate the judge gives, and the bias (judge minus human) with CIs."""
    g = [int(x) for x in gold_ok]
    p = [int(x) for x in judge_ok]
    cm = ag.confusion(g, p, 2)
    per = ag.cluster_confusions(g, p, clusters, 2)
    out: dict[str, Any] = {
        "positive": positive, "n": len(g),
        "agreement": {"value": _num(ag.accuracy(cm)), "ci95": _ci(per, ag.accuracy, (0.0, 1.0))},
        "kappa": {"value": _num(ag.kappa(cm)), "ci95": _ci(per, ag.kappa, (-1.0, 1.0))},
        "sides": {},
    }
    for side in sorted(set(sides)):
        idx = [i for i, s in enumerate(sides) if s == side]
        gs, ps, cs = [g[i] for i in idx], [p[i] for i in idx], [clusters[i] for i in idx]
        m = ag.confusion(gs, ps, 2)
        pm = ag.cluster_confusions(gs, ps, cs, 2)
        out["sides"][side] = {
            "n": len(idx), "small": len(idx) < SMALL_N,
            "human_rate": {"value": _num(_rate_gold(m)), "ci95": _ci(pm, _rate_gold, (0.0, 1.0))},
            "judge_rate": {"value": _num(_rate_judge(m)), "ci95": _ci(pm, _rate_judge, (0.0, 1.0))},
            "bias": {"value": _num(_bias(m)), "ci95": _ci(pm, _bias, (-1.0, 1.0))},
        }
    return out


def mean_bias_view(gold: Sequence[int], pred: Sequence[int | None], sides: Sequence[str],
                   clusters: Sequence[Hashable]) -> dict[str, Any]:
    """For mean-score metrics (MTMCS): per side, the human mean, the judge mean and the bias, over
    items the judge scored (unparsed ones are counted, not averaged)."""
    out: dict[str, Any] = {}
    for side in sorted(set(sides)):
        idx = [i for i, s in enumerate(sides) if s == side and pred[i] is not None]
        gs = np.array([gold[i] for i in idx], dtype=float)
        ps = np.array([pred[i] for i in idx], dtype=float)
        cl = [clusters[i] for i in idx]
        order: dict[Hashable, int] = {}
        for c in cl:
            order.setdefault(c, len(order))
        sums = np.zeros((len(order), 1, 3))
        for gv, pv, c in zip(gs, ps, cl, strict=True):
            sums[order[c], 0] += (gv, pv, 1.0)

        def diff(m: ag.Matrix) -> float:
            return float((m[0, 1] - m[0, 0]) / m[0, 2]) if m[0, 2] else math.nan

        n_side = sum(1 for s in sides if s == side)
        out[side] = {"n": n_side, "scored": len(idx), "small": len(idx) < SMALL_N,
                     "human_mean": _num(float(gs.mean())) if len(idx) else None,
                     "judge_mean": _num(float(ps.mean())) if len(idx) else None,
                     "bias": {"value": _num(diff(sums.sum(axis=0))), "ci95": _ci(sums, diff, (-4.0, 4.0))}}
    return out
