"""One evaluation run from start to finish: lock, record the cases, generate, judge.

The run id is derived from everything that determines the model's outputs (not the judge),
so re-running the same command resumes the same run and a new judge re-scores it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ctxsafe.engine.call import Caller
from ctxsafe.engine.case_spool import CaseSpool
from ctxsafe.engine.policy import Policy, is_bare
from ctxsafe.engine.progress import NullProgress, ProgressSink
from ctxsafe.engine.runner import EarlyJudging, JudgementWriter, PhaseSummary, generate, judge_run
from ctxsafe.engine.store import RunStore
from ctxsafe.engine.tasks import concurrently
from ctxsafe.errors import DataError
from ctxsafe.judges.base import Judge
from ctxsafe.schema import Case, TurnRecord


def make_run_id(suite: str, setting: str, model: str, identity: dict[str, Any]) -> str:
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:10]
    slug = re.sub(r"[^A-Za-z0-9.]+", "-", model).strip("-")[:40]
    return f"{suite}-{setting}-{slug}-{digest}"


def check_same_cases(store: RunStore, run_id: str, cases: CaseSpool) -> None:
    """Refuse to resume a run whose cases changed since it started (e.g. an image replaced on disk under
    the same name, kept by an explicit --run-id): old answers must never be reused for new input.

    Both sides are read a chunk at a time; only a case whose stored JSON differs is parsed (an equal case
    written by an older ctxsafe may serialise differently)."""
    different_set = (f"run {run_id} was started with a different set of cases; the data changed since. "
                     "Use a new --store or --run-id")
    if store.case_count(run_id) != len(cases):
        raise DataError(different_set)
    changed_images: set[str] = set()
    changed_cases: list[str] = []
    for rows in store.case_rows(run_id):  # one pass: equal counts and every stored id present = the same set
        now = cases.bodies([i for i, _ in rows])
        if len(now) != len(rows):
            raise DataError(different_set)
        for case_id, body in rows:
            if now[case_id] == body:
                continue
            old, c = Case.model_validate_json(body), Case.model_validate_json(now[case_id])
            if old == c:
                continue
            changed_cases.append(c.id)
            old_images = {p.source: p.sha256 for p in old.context_images}
            changed_images |= {p.source for p in c.context_images if old_images.get(p.source) != p.sha256}
    if changed_cases:
        what = (f"images changed on disk: {', '.join(sorted(changed_images)[:5])}" if changed_images
                else f"cases changed: {', '.join(changed_cases[:5])}")
        raise DataError(f"run {run_id} was started with different input ({len(changed_cases)} cases; {what}). "
                        "Its answers belong to the old input: use a new --run-id or --store")


def run_label(caller: Caller, policy: Policy | None) -> str:
    """`provider:model`, or `provider:model+defense` for a defended run."""
    name = caller.provider.name
    return name if policy is None or is_bare(policy) else f"{name}+{policy.name}"


def display_name(config: dict[str, Any]) -> str:
    """How reports name a run's model: `provider:model`, with `+defense` for a defended run."""
    name = str(config.get("model_name"))
    defense = config.get("defense", "bare")
    return name if defense == "bare" else f"{name}+{defense}"


def with_policy(identity: dict[str, Any], policy: Policy | None, verifier: Caller | None) -> dict[str, Any]:
    """The run identity with its policy (and the verifier model, when the policy uses one).

    A bare run's identity has no policy key, so runs made before policies existed keep their ids.
    """
    if policy is None or is_bare(policy):
        return identity
    desc = policy.describe()
    if verifier is not None and "verifier" in desc.get("roles", {}).values():
        desc = {**desc, "verifier": {"model": verifier.provider.identity, "params": verifier.params.as_dict()}}
    return {**identity, "policy": desc}


def role_callers(model: Caller, verifier: Caller | None) -> dict[str, Caller]:
    """Who makes each role's calls: the model under test, unless a separate verifier model is given."""
    callers = {"model": model, "defense": model, "verifier": model}
    if verifier is not None:
        callers["verifier"] = verifier
    return callers


@dataclass(frozen=True)
class RunResult:
    run_id: str
    generation: PhaseSummary
    judging: list[PhaseSummary]


async def execute(store: RunStore, run_id: str, config: dict[str, Any], cases: CaseSpool, caller: Caller,
                  judges: Sequence[Judge], progress: ProgressSink | None = None, policy: Policy | None = None,
                  callers: Mapping[str, Caller] | None = None) -> RunResult:
    """Run (or resume) generation and judging under the run's lock; every step is committed as it ends.

    The cases stream from the spool (in play order) a chunk at a time, in every phase."""
    progress = progress or NullProgress()
    with store.lock(run_id):
        known = store.case_count(run_id) > 0
        if known:
            check_same_cases(store, run_id, cases)
        # the run and its cases in one transaction
        store.open_run(run_id, config, bodies=() if known else (r for rows in cases.rows() for r in rows))
        store.set_status(run_id, "running")
        try:
            # each dialogue is judged as soon as its replies exist, in the generating worker (no barrier
            # between the phases); judge_run then judges only what that left (issue 12: MTMCS throughput)
            early = [EarlyJudging(j) for j in judges]
            writer = JudgementWriter(store)

            async def judge_now(case: Case, turns: dict[tuple[str, str], TurnRecord], new: list[TurnRecord]) -> None:
                await concurrently([e.judge_new(run_id, case, turns, new, writer) for e in early])

            try:
                gen = await generate(store, run_id, cases, caller, progress, label=run_label(caller, policy),
                                     policy=policy, callers=callers, after_case=judge_now if early else None)
            finally:
                writer.flush()
            judged = [await judge_run(store, run_id, cases, e.judge, progress, e) for e in early]
        except BaseException as exc:
            # The true status for `ctxsafe runs`: stopped by the user, or by an error (provider refusal, store).
            stopped = isinstance(exc, KeyboardInterrupt | asyncio.CancelledError)
            with contextlib.suppress(Exception):
                store.set_status(run_id, "interrupted" if stopped else "failed")
            raise
        bad = gen.errors + sum(j.errors for j in judged)
        store.set_status(run_id, "finished" if bad == 0 else "finished-with-errors")
    return RunResult(run_id, gen, judged)
