"""Pair-level selection, ordering and fingerprinting of cases, the same for every suite.

`--limit N` means one thing everywhere: the first N safe/unsafe pairs of each split (an MSSBench
task, an MTMCS type, a native file), both twins kept, in the order the data lists them. Loaders may
stop reading early as an optimisation, but this function decides what a limit keeps.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence

from ctxsafe.errors import ConfigError
from ctxsafe.schema import Case


def first_pairs(cases: Sequence[Case], limit: int | None, per_split: bool = True) -> list[Case]:
    """The cases of the first `limit` pairs (by first appearance) within each split, or over all cases
    when not `per_split` (what `show --limit` prints); all cases if `limit` is None."""
    if limit is None:
        return list(cases)
    if limit < 1:
        raise ConfigError("--limit must be at least 1")
    kept: dict[str, set[str]] = defaultdict(set)
    out = []
    for case in cases:
        pairs = kept[case.split if per_split else ""]
        if case.pair_id not in pairs and len(pairs) < limit:
            pairs.add(case.pair_id)
        if case.pair_id in pairs:
            out.append(case)
    return out


def safe_first(cases: Sequence[Case]) -> list[Case]:
    """Play every safe twin before any unsafe one (stable otherwise).

    Twins that share their first turns (MTMCS Type A) send identical requests; the request cache
    answers the second twin only once the first twin's answer is recorded, so starting the safe
    twins first makes that the usual case instead of a race between two identical calls.
    """
    return sorted(cases, key=lambda c: c.context != "safe")


def pair_order(cases: Sequence[Case]) -> list[Case]:
    """Cases grouped by pair (in first-seen order), safe twin first: the order a reader expects."""
    first: dict[str, int] = {}
    for i, c in enumerate(cases):
        first.setdefault(c.pair_id, i)
    return sorted(cases, key=lambda c: (first[c.pair_id], c.context != "safe"))


def cases_digest(cases: Sequence[Case]) -> str:
    """A fingerprint of exactly what will be sent (texts, image hashes, gold), so changed data never
    resumes an old run while an unrelated edit elsewhere in the data file does not invalidate it."""
    digest = hashlib.sha256()
    for c in cases:
        digest.update(c.model_dump_json().encode())
    return digest.hexdigest()[:16]
