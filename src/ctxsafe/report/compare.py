"""Comparing runs of one suite on the same cases: a leaderboard, paired differences against the first run
(cluster-bootstrap intervals, McNemar's exact test), and the cases where two runs disagree.

A case counts as correct only when its verdict is `right`: errors, filters and parse failures stay in
the denominator as not correct, as in every suite's own metrics.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ctxsafe.errors import ConfigError
from ctxsafe.metrics.paired_tests import Difference, McNemar, bootstrap_difference, clusters, mcnemar
from ctxsafe.report.browser_data import RunRows, case_images


@dataclass(frozen=True)
class Disagreement:
    case_id: str
    pair_id: str
    context: str
    category: str | None
    a: str
    b: str


@dataclass(frozen=True)
class PairedComparison:
    """Run B against run A (the first run named) on the cases both hold."""

    a: str
    b: str
    cases: int
    difference: Difference
    """Accuracy of B minus accuracy of A over the shared cases."""
    safe: Difference
    unsafe: Difference
    mcnemar: McNemar
    """`only_a`: A right, B not; `only_b`: B right, A not."""
    disagreements: list[Disagreement]


def _diff(rows_a: Sequence[bool], rows_b: Sequence[bool], cl: Sequence[int], seed: int) -> Difference:
    if not rows_a:
        return bootstrap_difference([], [], [])
    # renumber clusters densely for this subset
    dense: dict[int, int] = {}
    idx = [dense.setdefault(c, len(dense)) for c in cl]
    return bootstrap_difference([float(x) for x in rows_b], [float(x) for x in rows_a], idx, seed=seed)


def compare_pair(a: RunRows, b: RunRows, seed: int = 0) -> PairedComparison:
    """B against A over the cases they share (same case id), clustered by pair id and image."""
    b_cases = {c.id for c in b.cases}
    shared = [c for c in a.cases if c.id in b_cases]
    if not shared:
        raise ConfigError(f"runs {a.view.run_id} and {b.view.run_id} share no cases; compare runs of the same "
                          "suite and data")
    oa = [a.view.outcomes.get(c.id, "missing") for c in shared]
    ob = [b.view.outcomes.get(c.id, "missing") for c in shared]
    ra = [o == "right" for o in oa]
    rb = [o == "right" for o in ob]
    first_image = [next((p.sha256 for p in case_images(c)), None) for c in shared]
    cl = clusters([c.pair_id for c in shared], first_image)
    sides = {}
    for ctx in ("safe", "unsafe"):
        keep = [i for i, c in enumerate(shared) if c.context == ctx]
        sides[ctx] = _diff([ra[i] for i in keep], [rb[i] for i in keep], [cl[i] for i in keep], seed)
    disagree = [Disagreement(c.id, c.pair_id, c.context, c.category, x, y)
                for c, x, y, p, q in zip(shared, oa, ob, ra, rb, strict=True) if p != q]
    return PairedComparison(a.view.run_id, b.view.run_id, len(shared), _diff(ra, rb, cl, seed), sides["safe"],
                            sides["unsafe"], mcnemar(ra, rb), disagree)


def compare_runs(runs: Sequence[RunRows], seed: int = 0) -> list[PairedComparison]:
    """Each later run against the first; every run must be of one suite."""
    suites = {r.view.suite.name for r in runs}
    if len(suites) > 1:
        raise ConfigError(f"compare needs runs of one suite, got {', '.join(sorted(suites))}")
    return [compare_pair(runs[0], other, seed) for other in runs[1:]]
