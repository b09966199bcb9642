"""The paired effect of a change (an ablation) between two runs of the same cases.

Each case contributes its correctness under the change minus its correctness in the reference run
(1, 0 or -1; a failure is not correct in either run, as everywhere). Differences are averaged within
a pair first, so twins are one unit, and the mean over units gets a cluster-robust t-interval,
clustered as the reports are (an MSSBench record's queries and paraphrases share one image pair) and
clipped to [-1, 1]. Reported overall and for each side, so "the model stops noticing the risk without
the image" and "it stops over-refusing" are told apart.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from ctxsafe.metrics.accuracy import Scored
from ctxsafe.metrics.stats import SMALL_CLUSTERS, cluster_mean_ci


def _block(diffs: Mapping[str, list[float]], cluster: Mapping[str, str]) -> dict[str, Any]:
    units = [sum(v) / len(v) for v in diffs.values()]
    mean, lo, hi, clusters = cluster_mean_ci(units, [cluster[u] for u in diffs], bounds=(-1.0, 1.0))
    return {"units": len(units), "clusters": clusters, "small": clusters < SMALL_CLUSTERS, "effect": mean,
            "ci95": [lo, hi]}


def paired_effect(cases: Sequence[Scored], reference: Mapping[str, str], changed: Mapping[str, str]) -> dict[str, Any]:
    """Effect on correctness of `changed` vs `reference` (case id -> outcome), over the cases in both; the cases
    as scored from the store's columns (`accuracy.Scored`: their pair and cluster are what is read here)."""
    every: dict[str, list[float]] = defaultdict(list)
    sides: dict[str, dict[str, list[float]]] = {"safe": defaultdict(list), "unsafe": defaultdict(list)}
    cluster: dict[str, str] = {}
    missing = 0
    for c in cases:
        if c.id not in reference or c.id not in changed:
            missing += 1
            continue
        d = float(changed[c.id] == "correct") - float(reference[c.id] == "correct")
        every[c.pair_id].append(d)
        cluster.setdefault(c.pair_id, c.cluster)
        sides[c.context][c.pair_id].append(d)
    return {"overall": _block(every, cluster), "safe": _block(sides["safe"], cluster),
            "unsafe": _block(sides["unsafe"], cluster),
            "cases_not_in_both": missing}
