"""Pair-level selection and ordering of cases, the same for every suite.

`--limit N` means one thing everywhere: the first N safe/unsafe pairs of each split (an MSSBench
task, an MTMCS type, a native file), both twins kept, in the order the data lists them. Loaders may
stop reading early as an optimisation, but this function decides what a limit keeps.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Iterator, Sequence

from ctxsafe.errors import ConfigError
from ctxsafe.schema import Case


def first_pairs(cases: Iterable[Case], limit: int | None, per_split: bool = True) -> list[Case]:
    """The cases of the first `limit` pairs (by first appearance) within each split, or over all cases
    when not `per_split` (what `show --limit` prints); all cases if `limit` is None."""
    return list(keep_first_pairs(cases, limit, per_split))


def keep_first_pairs(cases: Iterable[Case], limit: int | None, per_split: bool = True) -> Iterator[Case]:
    """`first_pairs` as a stream: a run's cases pass through one at a time (only the kept pair ids are held)."""
    if limit is None:
        yield from cases
        return
    if limit < 1:
        raise ConfigError("--limit must be at least 1")
    kept: dict[str, set[str]] = defaultdict(set)
    for case in cases:
        pairs = kept[case.split if per_split else ""]
        if case.pair_id not in pairs and len(pairs) < limit:
            pairs.add(case.pair_id)
        if case.pair_id in pairs:
            yield case


def pair_order(cases: Sequence[Case]) -> list[Case]:
    """Cases grouped by pair (in first-seen order), safe twin first: the order a reader expects."""
    first: dict[str, int] = {}
    for i, c in enumerate(cases):
        first.setdefault(c.pair_id, i)
    return sorted(cases, key=lambda c: (first[c.pair_id], c.context != "safe"))


def shown_pairs(cases: Iterable[Case], limit: int | None, case_ids: Collection[str] = (),
                context: str | None = None) -> tuple[list[Case], set[str]]:
    """What `show` prints, picked as a run's cases stream past: `pair_order` of the cases named (all if none),
    of one side if `context`, of the first `limit` pairs (by where a pair first appears in the whole run).
    Holds only the kept cases and each pair's first position, not the run. Returns the cases and which of
    `case_ids` exist."""
    if limit is not None and limit < 1:
        raise ConfigError("--limit must be at least 1")
    first: dict[str, int] = {}
    found: set[str] = set()
    kept: dict[str, list[Case]] = {}
    for i, c in enumerate(cases):
        first.setdefault(c.pair_id, i)
        if case_ids:
            if c.id not in case_ids:
                continue
            found.add(c.id)
        if context and c.context != context:
            continue
        if c.pair_id not in kept and limit is not None and len(kept) >= limit:
            latest = max(kept, key=first.__getitem__)
            if first[c.pair_id] > first[latest]:
                continue  # a pair first seen after all kept ones: never among the first `limit`
            del kept[latest]  # an earlier pair (first seen unnamed or on the other side) takes its place
        kept.setdefault(c.pair_id, []).append(c)
    picked = [c for twins in kept.values() for c in twins]
    return sorted(picked, key=lambda c: (first[c.pair_id], c.context != "safe")), found
