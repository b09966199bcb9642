"""`ctxsafe show` picks its cases as the run streams past (`pairs.shown_pairs`): the same cases, in the same
order, as ordering the whole run by pair, filtering it and keeping the first pairs (what it did before)."""

from __future__ import annotations

import random

import pytest

from ctxsafe.errors import ConfigError
from ctxsafe.schema import Case
from ctxsafe.suites.pairs import first_pairs, pair_order, shown_pairs


def _whole_run(cases: list[Case], limit: int | None, case_ids: set[str], context: str | None) -> list[Case]:
    picked = pair_order(cases)
    if case_ids:
        picked = [c for c in picked if c.id in case_ids]
    if context:
        picked = [c for c in picked if c.context == context]
    return first_pairs(picked, limit, per_split=False) if limit else picked


def _run(rng: random.Random) -> list[Case]:
    """Twins, lone cases and repeated pair ids, in a shuffled stored order (a pair's safe twin may come last)."""
    cases = []
    for p in range(rng.randint(1, 12)):
        for k, side in enumerate(rng.choice([("safe", "unsafe"), ("unsafe", "safe"), ("safe",), ("unsafe",)])):
            cases.append(Case(id=f"c{p}-{k}", suite="native", pair_id=f"p{p}", context=side,  # type: ignore[arg-type]
                              turns=({"role": "user", "parts": [{"text": "hi"}]},)))  # type: ignore[arg-type]
    rng.shuffle(cases)
    return cases


@pytest.mark.parametrize("seed", range(200))
def test_same_cases_in_the_same_order_as_the_whole_run(seed: int) -> None:
    rng = random.Random(seed)
    cases = _run(rng)
    limit = rng.choice([None, 1, 2, 3, 5])
    named = set(rng.sample([c.id for c in cases], rng.randint(0, len(cases)))) if rng.random() < 0.3 else set()
    context = rng.choice([None, None, "safe", "unsafe"])
    shown, found = shown_pairs(iter(cases), limit, named, context)
    assert [c.id for c in shown] == [c.id for c in _whole_run(cases, limit, named, context)]
    assert found == named & {c.id for c in cases}


def test_a_limit_under_one_is_refused() -> None:
    with pytest.raises(ConfigError, match="--limit must be at least 1"):
        shown_pairs(iter(()), 0)
