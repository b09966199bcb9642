"""Which stage blocked each case of a guarded run, and what the guard added, from the store alone."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

from ctxsafe.engine.rollout import turn_step
from ctxsafe.engine.store import RunStore
from ctxsafe.guards.policy import stage_of
from ctxsafe.schema import Case, TurnRecord


def blocked_by(case: Case, steps: dict[str, TurnRecord]) -> tuple[str, int | None]:
    """(`input` | `output` | `none` | `error`, the 1-based turn) for the first turn a guard blocked; `steps` are
    the case's records by step name."""
    for i in range(len(case.turns)):
        step = turn_step(i)
        rec = steps.get(step)
        if rec is None or rec.outcome != "ok":
            return "error", i + 1
        subs = {s.split("/", 1)[1]: r for s, r in steps.items() if s.startswith(step + "/")}
        stage = stage_of(rec, subs)
        if stage is not None:
            return stage, i + 1
    return "none", None


def attribution(store: RunStore, run_id: str, cases: Sequence[Case]) -> dict[str, Any]:
    """Blocking stage per case and counted by context, plus guard calls and guard latency per case."""
    turns = store.turns(run_id)
    by_case: dict[str, dict[str, TurnRecord]] = defaultdict(dict)
    for (case_id, step), rec in turns.items():  # grouped once: a case's lookups never scan the whole run
        by_case[case_id][step] = rec
    per_case = {c.id: blocked_by(c, by_case.get(c.id, {})) for c in cases}
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for c in cases:
        counts[c.context][per_case[c.id][0]] += 1
    guard_calls = [r for (_, s), r in turns.items() if "/guard-" in s]
    fresh = [r for r in guard_calls if not r.cached and r.attempts > 0]
    n = max(1, len(cases))
    return {"run_id": run_id, "by_context": {k: dict(v) for k, v in sorted(counts.items())},
            "cases": {cid: {"stage": st, "turn": t} for cid, (st, t) in per_case.items()},
            "guard_calls": len(guard_calls), "guard_calls_per_case": len(guard_calls) / n,
            "guard_latency_s": sum(r.latency_s for r in fresh),
            "guard_latency_s_per_case": sum(r.latency_s for r in fresh) / n,
            "guard_tokens": sum((r.usage.input_tokens or 0) + (r.usage.output_tokens or 0) for r in guard_calls)}
