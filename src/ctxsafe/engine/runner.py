"""Scheduling: a bounded pool of workers plays pending cases, then judges pending responses.

Both phases read what is already in the store first, so re-running the same command resumes
exactly where a killed run stopped, and a new judge re-scores without calling the model.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from ctxsafe.engine.call import Caller
from ctxsafe.engine.policy import FINAL_OUTCOMES, Policy
from ctxsafe.engine.progress import NullProgress, ProgressSink
from ctxsafe.engine.rollout import case_steps, rollout, step_messages, turn_step
from ctxsafe.engine.store import RunStore
from ctxsafe.judges.base import Judge, JudgeInput
from ctxsafe.schema import Case, Judgement, TurnRecord

T = TypeVar("T")
JUDGE_BATCH = 64
JUDGE_FLUSH_S = 0.5


async def run_pool(items: Sequence[T], worker: Callable[[T], Awaitable[None]], concurrency: int) -> None:
    """Run `worker` over `items` with at most `concurrency` in flight; the first exception cancels the rest."""
    queue: asyncio.Queue[T] = asyncio.Queue()
    for it in items:
        queue.put_nowait(it)

    async def loop() -> None:
        while True:
            try:
                item = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            await worker(item)

    n = max(1, min(concurrency, len(items)))
    try:
        async with asyncio.TaskGroup() as tg:
            for _ in range(n):
                tg.create_task(loop())
    except BaseExceptionGroup as group:
        # Surface the first error itself (a clear ctxsafe error, not an exception group traceback).
        first = group.exceptions[0]
        while isinstance(first, BaseExceptionGroup):
            first = first.exceptions[0]
        raise first from None


@dataclass(frozen=True)
class PhaseSummary:
    total_steps: int
    already_done: int
    new_steps: int
    errors: int
    calls_made: int
    cache_hits: int


def _final(done: dict[tuple[str, str], TurnRecord], case: Case, step: str) -> bool:
    rec = done.get((case.id, step))
    return rec is not None and rec.outcome in FINAL_OUTCOMES


async def generate(store: RunStore, run_id: str, cases: Sequence[Case], caller: Caller,
                   progress: ProgressSink | None = None, label: str = "generate", policy: Policy | None = None,
                   callers: Mapping[str, Caller] | None = None) -> PhaseSummary:
    """Play every case's pending steps with `policy` (default: the bare model); each finished step (and
    each inner call of a pipeline) is committed before the next starts."""
    progress = progress or NullProgress()
    done = store.turns(run_id)
    total = sum(len(case_steps(c)) for c in cases)
    already = sum(1 for c in cases for s in case_steps(c) if _final(done, c, s))
    pending = [c for c in cases if not all(_final(done, c, s) for s in case_steps(c))]
    progress.start(label, total, already)
    errors = 0
    new_steps = 0

    async def work(case: Case) -> None:
        nonlocal errors, new_steps
        for rec in await rollout(case, caller, run_id, done, policy, callers):
            new_steps += 1
            bad = rec.outcome == "error"
            errors += int(bad)
            progress.advance(error=bad)

    await run_pool(pending, work, caller.concurrency)
    progress.finish()
    every = {id(c): c for c in (callers or {}).values()} | {id(caller): caller}
    return PhaseSummary(total, already, new_steps, errors, sum(c.calls_made for c in every.values()),
                        sum(c.cache_hits for c in every.values()))


def replies_of(case: Case, turns: dict[tuple[str, str], TurnRecord]) -> list[str]:
    """The replies to the user turns (fixed ones where replayed), up to the first turn that has no answer."""
    out: list[str] = []
    for i in range(len(case.turns)):
        fixed = case.fixed_reply(i)
        if fixed is not None:
            out.append(fixed)
            continue
        rec = turns.get((case.id, turn_step(i)))
        if rec is None or rec.outcome != "ok":
            break
        out.append(rec.response or "")
    return out


async def judge_run(store: RunStore, run_id: str, cases: Sequence[Case], judge: Judge,
                    progress: ProgressSink | None = None) -> PhaseSummary:
    """Judge every answered step the judge applies to, skipping those it already judged."""
    progress = progress or NullProgress()
    turns = store.turns(run_id)
    existing = store.judgements(run_id, judge.judge_id, judge.prompt_version)
    items: list[JudgeInput] = []
    already = 0
    for case in cases:
        replies = replies_of(case, turns)
        for step in case_steps(case):
            rec = turns.get((case.id, step))
            if not judge.applies(case, step) or rec is None or rec.outcome != "ok":
                continue
            prior = existing.get((case.id, step))
            if prior is not None and prior.outcome == "ok":
                already += 1
                continue
            seen = step_messages(case, step, replies[: int(step[1:]) - 1] if step.startswith("t") else replies)
            items.append(JudgeInput(run_id, case, step, seen, rec.response or ""))
    progress.start(f"judge {judge.judge_id}", already + len(items), already)
    errors = 0
    # Judgements are committed in batches (every JUDGE_BATCH, at least every JUDGE_FLUSH_S, and at
    # the end, even on error). A kill loses at most an unflushed batch, which costs no model call:
    # an LLM judge's answer is already in the request cache, so re-judging it is a cache hit.
    pending: list[Judgement] = []
    next_flush = time.monotonic() + JUDGE_FLUSH_S

    def flush() -> None:
        nonlocal next_flush
        next_flush = time.monotonic() + JUDGE_FLUSH_S
        if pending:
            store.record_judgements(pending)
            pending.clear()

    async def work(item: JudgeInput) -> None:
        nonlocal errors
        j = await judge.judge(item)
        pending.append(j)
        if len(pending) >= JUDGE_BATCH or time.monotonic() >= next_flush:
            flush()
        bad = j.outcome != "ok" or j.parse_status != "ok"
        errors += int(bad)
        progress.advance(error=bad)

    try:
        await run_pool(items, work, judge.concurrency)
    finally:
        flush()
    progress.finish()
    return PhaseSummary(already + len(items), already, len(items), errors, 0, 0)
