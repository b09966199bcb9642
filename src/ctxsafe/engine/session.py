"""One evaluation run from start to finish: lock, record the cases, generate, judge.

The run id is derived from everything that determines the model's outputs (not the judge),
so re-running the same command resumes the same run and a new judge re-scores it.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ctxsafe.engine.call import Caller
from ctxsafe.engine.progress import NullProgress, ProgressSink
from ctxsafe.engine.runner import PhaseSummary, generate, judge_run
from ctxsafe.engine.store import RunStore
from ctxsafe.errors import DataError
from ctxsafe.judges.base import Judge
from ctxsafe.schema import Case


def make_run_id(suite: str, setting: str, model: str, identity: dict[str, Any]) -> str:
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:10]
    slug = re.sub(r"[^A-Za-z0-9.]+", "-", model).strip("-")[:40]
    return f"{suite}-{setting}-{slug}-{digest}"


def check_unique(cases: Sequence[Case]) -> None:
    seen: set[str] = set()
    for c in cases:
        if c.id in seen:
            raise DataError(f"duplicate case id {c.id!r}", record=str(c.meta.get("record", c.id)))
        seen.add(c.id)


@dataclass(frozen=True)
class RunResult:
    run_id: str
    generation: PhaseSummary
    judging: list[PhaseSummary]


async def execute(store: RunStore, run_id: str, config: dict[str, Any], cases: Sequence[Case], caller: Caller,
                  judges: Sequence[Judge], progress: ProgressSink | None = None) -> RunResult:
    """Run (or resume) generation and judging under the run's lock; every step is committed as it ends."""
    check_unique(cases)
    progress = progress or NullProgress()
    with store.lock(run_id):
        store.open_run(run_id, config)
        known = store.case_ids(run_id)
        if known and known != {c.id for c in cases}:
            raise DataError(f"run {run_id} was started with a different set of cases; the data changed since. "
                            "Use a new --store or --run-id")
        if not known:  # a resumed run already holds exactly these cases
            store.save_cases(run_id, cases)
        store.set_status(run_id, "running")
        gen = await generate(store, run_id, cases, caller, progress, label=f"{caller.provider.name}")
        judged = [await judge_run(store, run_id, cases, j, progress) for j in judges]
        store.set_status(run_id, "finished" if gen.errors == 0 else "finished-with-errors")
    return RunResult(run_id, gen, judged)
