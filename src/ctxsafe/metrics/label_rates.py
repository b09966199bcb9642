"""A benchmark's own published rates from its own judge's labels: each rate counts a set of labels
over every case of a side (failures included), overall and per group.

Why: SIUO's safe and effective rates, XSTest's full / partial refusal, MM-SafetyBench's attack
success rate and the others are all "k cases with a label in this set, out of n", but over each
benchmark's own label space; one arithmetic serves them all, and the suite names the sets.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from ctxsafe.metrics.stats import wilson

Outcome = int | str
"""A judge's label, or the reason a case has none (error, filtered, unjudged, parse_fail, ...)."""


def _rate(k: int, n: int) -> dict[str, Any]:
    lo, hi = wilson(k, n)
    return {"k": k, "n": n, "value": k / n if n else None, "ci95": [lo, hi]}


def rates(outcomes: Sequence[Outcome], labels: Sequence[str], named: Mapping[str, frozenset[int]]) -> dict[str, Any]:
    """Each named rate over all outcomes (n is every case: a failure counts in n, never in k), the
    count of each label by name, and the failures by reason."""
    counts = Counter(outcomes)
    n = len(outcomes)
    out: dict[str, Any] = {"n": n, "labels": {name: counts[i] for i, name in enumerate(labels)}}
    for rate, members in named.items():
        out[rate] = _rate(sum(counts[i] for i in members), n)
    out["failures"] = {str(k): v for k, v in sorted(counts.items(), key=str) if isinstance(k, str)}
    return out


def grouped(items: Sequence[tuple[Mapping[str, str | None], Outcome]], labels: Sequence[str],
            named: Mapping[str, frozenset[int]], groups: Sequence[str]) -> dict[str, Any]:
    """`rates` over all items, plus `by_<group>` for each group key (each item names its groups)."""
    out = rates([o for _, o in items], labels, named)
    for key in groups:
        buckets: dict[str, list[Outcome]] = {}
        for keys, outcome in items:
            buckets.setdefault(keys.get(key) or "(none)", []).append(outcome)
        out[f"by_{key}"] = {g: rates(v, labels, named) for g, v in sorted(buckets.items())}
    return out
