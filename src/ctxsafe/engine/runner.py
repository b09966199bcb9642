"""Scheduling: a bounded pool of workers plays pending cases, judging each dialogue as soon as its replies
exist, then judges whatever is still unjudged (steps answered in an earlier session, retried judge errors).

Both phases read what is already in the store first, so re-running the same command resumes
exactly where a killed run stopped, and a new judge re-scores without calling the model.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from ctxsafe.engine.call import Caller
from ctxsafe.engine.case_spool import CaseSpool
from ctxsafe.engine.policy import FINAL_OUTCOMES, Policy
from ctxsafe.engine.progress import NullProgress, ProgressSink
from ctxsafe.engine.rollout import case_steps, rollout, step_messages, turn_step
from ctxsafe.engine.store import CHUNK, RunStore
from ctxsafe.engine.tasks import concurrently
from ctxsafe.judges.base import Judge, JudgeInput
from ctxsafe.schema import Case, Judgement, TurnRecord

T = TypeVar("T")
JUDGE_BATCH = 64
JUDGE_FLUSH_S = 0.5


async def run_pool(items: Iterable[T], worker: Callable[[T], Awaitable[None]], concurrency: int) -> None:
    """Run `worker` over `items` with at most `concurrency` in flight; the first exception cancels the rest.

    `items` may be a lazy iterator: the workers pull the next item only when they are free, so at most
    `concurrency` items (and whatever chunk the iterator reads ahead) exist at once."""
    source = iter(items)

    async def loop() -> None:
        for item in source:  # the iterator never awaits, so workers take turns on it safely
            await worker(item)

    n = max(1, min(concurrency, len(items))) if isinstance(items, Sequence) else max(1, concurrency)
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


def case_chunks(cases: Iterable[Case]) -> Iterator[list[Case]]:
    """The cases a chunk at a time (a `CaseSpool` reads them from disk as it goes)."""
    source = iter(cases)
    while chunk := list(itertools.islice(source, CHUNK)):
        yield chunk


CaseHook = Callable[[Case, dict[tuple[str, str], TurnRecord], list[TurnRecord]], Awaitable[None]]
"""Called by `generate` once a case's dialogue is played: the case, its turns (stored and new), its new records."""


async def generate(store: RunStore, run_id: str, cases: CaseSpool, caller: Caller,
                   progress: ProgressSink | None = None, label: str = "generate", policy: Policy | None = None,
                   callers: Mapping[str, Caller] | None = None, after_case: CaseHook | None = None) -> PhaseSummary:
    """Play every case's pending steps with `policy` (default: the bare model); each finished step (and
    each inner call of a pipeline) is committed before the next starts. `after_case` (the early judges) runs
    in the same worker, so model and judge calls share one pool of `caller.concurrency` workers.

    A resumed run is scanned a chunk at a time by step names and outcomes alone: only the cases left to
    play are read back whole, with their chunk's turns, so a finished run's re-run parses no case."""
    progress = progress or NullProgress()
    total = cases.step_total()
    resumed = store.turn_count(run_id) > 0

    def scan() -> Iterator[tuple[list[str], int]]:
        """Per chunk: the ids of the cases with a step still to play, and the steps already final."""
        for rows in cases.step_rows():
            final = store.steps_with(run_id, [i for i, _ in rows], FINAL_OUTCOMES)
            yield ([i for i, steps in rows if any((i, s) not in final for s in steps)],
                   sum((i, s) in final for i, steps in rows for s in steps))

    already = sum(n for _, n in scan()) if resumed else 0
    progress.start(label, total, already)
    errors = 0
    new_steps = 0

    def pending() -> Iterator[tuple[Case, dict[tuple[str, str], TurnRecord]]]:
        if not resumed:  # a new run: nothing to read back
            yield from ((c, {}) for c in cases)
            return
        for ids, _ in scan():
            if ids:
                done = store.turns_for(run_id, ids)
                yield from ((c, done) for c in cases.cases_of(ids))

    async def work(item: tuple[Case, dict[tuple[str, str], TurnRecord]]) -> None:
        nonlocal errors, new_steps
        case, done = item
        new = await rollout(case, caller, run_id, done, policy, callers)
        for rec in new:
            new_steps += 1
            bad = rec.outcome == "error"
            errors += int(bad)
            progress.advance(error=bad)
        if after_case is not None:
            turns = {(case.id, s): done[(case.id, s)] for s in case_steps(case) if (case.id, s) in done}
            turns.update({(case.id, rec.step): rec for rec in new})  # `done` is the whole chunk's: not mutated
            await after_case(case, turns, new)

    await run_pool(pending(), work, caller.concurrency)
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


def judge_input(run_id: str, case: Case, step: str, turns: dict[tuple[str, str], TurnRecord]) -> JudgeInput:
    """What the judge of `step` reads: the messages the model saw there, and its reply."""
    replies = replies_of(case, turns)
    seen = step_messages(case, step, replies[: int(step[1:]) - 1] if step.startswith("t") else replies)
    return JudgeInput(run_id, case, step, seen, turns[(case.id, step)].response or "")


class JudgementWriter:
    """Judgements are committed in batches (every JUDGE_BATCH, at least every JUDGE_FLUSH_S, and at the end,
    even on error). A kill loses at most an unflushed batch, which costs no model call: an LLM judge's answer
    is already in the request cache, so re-judging it is a cache hit."""

    def __init__(self, store: RunStore) -> None:
        self.store = store
        self.pending: list[Judgement] = []
        self.next_flush = time.monotonic() + JUDGE_FLUSH_S

    def add(self, j: Judgement) -> None:
        self.pending.append(j)
        if len(self.pending) >= JUDGE_BATCH or time.monotonic() >= self.next_flush:
            self.flush()

    def flush(self) -> None:
        self.next_flush = time.monotonic() + JUDGE_FLUSH_S
        if self.pending:
            self.store.record_judgements(self.pending)
            self.pending.clear()


def is_bad(j: Judgement) -> bool:
    return j.outcome != "ok" or j.parse_status != "ok"


@dataclass
class EarlyJudging:
    """One judge applied while the run generates (`judge_new`): counts, plus the steps whose judgement failed
    (few), which the final `judge_run` must not retry in the same session; successes are found in the store."""

    judge: Judge
    judged: int = 0
    errors: int = 0
    failed: set[tuple[str, str]] = field(default_factory=set)

    async def judge_new(self, run_id: str, case: Case, turns: dict[tuple[str, str], TurnRecord],
                        new: list[TurnRecord], writer: JudgementWriter) -> None:
        """Judge the steps of `case` answered in this session that the judge applies to, all at once."""
        async def one(step: str) -> None:
            j = await self.judge.judge(judge_input(run_id, case, step, turns))
            writer.add(j)
            self.judged += 1
            if is_bad(j):
                self.errors += 1
                if j.outcome != "ok":
                    self.failed.add((case.id, step))

        await concurrently([one(rec.step) for rec in new
                            if rec.outcome == "ok" and self.judge.applies(case, rec.step)])


async def judge_run(store: RunStore, run_id: str, cases: Collection[Case], judge: Judge,
                    progress: ProgressSink | None = None, early: EarlyJudging | None = None) -> PhaseSummary:
    """Judge every answered step the judge applies to, skipping those it already judged (or, `early`, judged
    while the run generated: those count as judged in this session).

    The run is read a chunk of cases at a time, twice (count, then judge, if anything is left), so neither
    its turns nor its judge inputs are ever all in memory."""
    progress = progress or NullProgress()
    failed_early = early.failed if early is not None else set()

    def steps() -> Iterator[tuple[Case, str, dict[tuple[str, str], TurnRecord], bool]]:
        """(case, step, its chunk's turns, already judged) for every answered step the judge applies to."""
        for chunk in case_chunks(cases):
            ids = [c.id for c in chunk]
            turns = store.turns_for(run_id, ids)
            existing = store.judgements_for(run_id, judge.judge_id, judge.prompt_version, ids)
            for case in chunk:
                for step in case_steps(case):
                    rec = turns.get((case.id, step))
                    if not judge.applies(case, step) or rec is None or rec.outcome != "ok":
                        continue
                    prior = existing.get((case.id, step))
                    yield case, step, turns, ((prior is not None and prior.outcome == "ok")
                                              or (case.id, step) in failed_early)

    def items() -> Iterator[JudgeInput]:
        for case, step, turns, done in steps():
            if not done:
                yield judge_input(run_id, case, step, turns)

    already = todo = 0
    for *_, done in steps():
        already += done
        todo += not done
    progress.start(f"judge {judge.judge_id}", already + todo, already)
    errors = 0
    writer = JudgementWriter(store)

    async def work(item: JudgeInput) -> None:
        nonlocal errors
        j = await judge.judge(item)
        writer.add(j)
        bad = is_bad(j)
        errors += bad
        progress.advance(error=bad)

    try:
        if todo:  # else nothing is left (a run judged as it generated): no second pass over the run
            await run_pool(items(), work, judge.concurrency)
    finally:
        writer.flush()
    progress.finish()
    now = early.judged if early is not None else 0  # judged early in this session: new, not already done
    return PhaseSummary(already + todo, already - now, todo + now, errors + (early.errors if early else 0), 0, 0)
