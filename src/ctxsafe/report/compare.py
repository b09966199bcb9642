"""Comparing runs of one suite: a leaderboard, differences against the first run, and the cases where
two runs disagree.

Runs on the same cases are compared case by case (cluster-bootstrap intervals, McNemar's exact test);
one-side runs (unsafe-only, benign-only) on different cases, by their rates (Newcombe's interval, no
McNemar). Either way only cases *scored* in both runs enter: an error, a content filter, a missing or
unparseable judgement is not a wrong answer, so those cases are counted and shown as excluded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from ctxsafe.errors import ConfigError
from ctxsafe.metrics.accuracy import cluster_of
from ctxsafe.metrics.paired_tests import Difference, McNemar, bootstrap_difference, clusters, mcnemar
from ctxsafe.metrics.stats import newcombe
from ctxsafe.report.browser_data import RunRows, case_images
from ctxsafe.report.summary import SCORED


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
    """Run B against run A (the first run named)."""

    a: str
    b: str
    cases: int
    """Cases that entered the comparison: scored in both runs (`paired`), or in either (`independent`)."""
    difference: Difference
    """Share of cases handled right by B minus A."""
    safe: Difference
    unsafe: Difference
    mcnemar: McNemar | None
    """`only_a`: A right, B not; `only_b`: B right, A not. None when the runs hold different cases."""
    disagreements: list[Disagreement]
    excluded: int = 0
    """Cases left out because a run has no verdict for them (error, filter, unjudged, parse failure)."""
    method: Literal["paired", "independent"] = "paired"


def _diff(rows_a: Sequence[bool], rows_b: Sequence[bool], cl: Sequence[int], seed: int) -> Difference:
    if not rows_a:
        return bootstrap_difference([], [], [])
    # renumber clusters densely for this subset
    dense: dict[int, int] = {}
    idx = [dense.setdefault(c, len(dense)) for c in cl]
    return bootstrap_difference([float(x) for x in rows_b], [float(x) for x in rows_a], idx, seed=seed)


def compare_pair(a: RunRows, b: RunRows, seed: int = 0) -> PairedComparison:
    """B against A over the cases they share (same case id) and both scored, clustered by pair id, image and
    the suite's cluster (an MSSBench record's chat queries and paraphrases, an MTMCS row);
    runs with no case in common but one side each are compared by their rates instead."""
    b_cases = {c.id for c in b.cases}
    shared = [c for c in a.cases if c.id in b_cases]
    if not shared:
        if one_sided(a) and one_sided(b):
            return compare_independent(a, b)
        raise ConfigError(f"runs {a.view.run_id} and {b.view.run_id} share no cases; compare runs of the same "
                          "suite and data")
    oa = [a.view.outcomes.get(c.id, "missing") for c in shared]
    ob = [b.view.outcomes.get(c.id, "missing") for c in shared]
    disagree = [Disagreement(c.id, c.pair_id, c.context, c.category, x, y)
                for c, x, y in zip(shared, oa, ob, strict=True) if (x == "right") != (y == "right")]
    keep = [i for i, (x, y) in enumerate(zip(oa, ob, strict=True)) if x in SCORED and y in SCORED]
    scored = [shared[i] for i in keep]
    ra = [oa[i] == "right" for i in keep]
    rb = [ob[i] == "right" for i in keep]
    first_image = [next((p.sha256 for p in case_images(c)), None) for c in scored]
    cl = clusters([c.pair_id for c in scored], first_image, [cluster_of(c) for c in scored])
    sides = {}
    for ctx in ("safe", "unsafe"):
        idx = [i for i, c in enumerate(scored) if c.context == ctx]
        sides[ctx] = _diff([ra[i] for i in idx], [rb[i] for i in idx], [cl[i] for i in idx], seed)
    return PairedComparison(a.view.run_id, b.view.run_id, len(scored), _diff(ra, rb, cl, seed), sides["safe"],
                            sides["unsafe"], mcnemar(ra, rb), disagree, excluded=len(shared) - len(scored))


def one_sided(rr: RunRows) -> bool:
    """A run whose cases have no twins (an unsafe-only or benign-only benchmark or file)."""
    return "paired" not in rr.view.doc.get("shapes", (rr.view.doc.get("shape"),))


def _counts(rr: RunRows, context: str | None = None) -> tuple[int, int, int]:
    """(right, scored, not scored) over the run's cases (of one context when given)."""
    outcomes = [rr.view.outcomes.get(c.id, "missing") for c in rr.cases if context in (None, c.context)]
    scored = [o for o in outcomes if o in SCORED]
    return sum(1 for o in scored if o == "right"), len(scored), len(outcomes) - len(scored)


def _independent(a: tuple[int, int, int], b: tuple[int, int, int]) -> Difference:
    (ka, na, _), (kb, nb, _) = a, b
    if not na or not nb:
        return bootstrap_difference([], [], [])
    lo, hi = newcombe(kb, nb, ka, na)
    return Difference(kb / nb - ka / na, (lo, hi), na + nb, 0, 0)


def compare_independent(a: RunRows, b: RunRows) -> PairedComparison:
    """B's share of scored cases handled right minus A's, on different cases: Newcombe's interval from the
    two Wilson intervals; no McNemar and no disagreements, since no case is in both runs."""
    ca, cb = _counts(a), _counts(b)
    sides = {ctx: _independent(_counts(a, ctx), _counts(b, ctx)) for ctx in ("safe", "unsafe")}
    return PairedComparison(a.view.run_id, b.view.run_id, ca[1] + cb[1], _independent(ca, cb), sides["safe"],
                            sides["unsafe"], None, [], excluded=ca[2] + cb[2], method="independent")


def compare_runs(runs: Sequence[RunRows], seed: int = 0) -> list[PairedComparison]:
    """Each later run against the first; every run must be of one suite."""
    suites = {r.view.suite.name for r in runs}
    if len(suites) > 1:
        raise ConfigError(f"compare needs runs of one suite, got {', '.join(sorted(suites))}")
    return [compare_pair(runs[0], other, seed) for other in runs[1:]]
