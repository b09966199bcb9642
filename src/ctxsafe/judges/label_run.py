"""A labelled file as a run in the store, so any judge scores it through the ordinary engine.

Why: an LLM judge measured on labels must be cached, resumable and recorded exactly like one that
scores a benchmark run, and several judges on the same labels must be comparable with
`ctxsafe agreement`. Each record becomes a Case whose "model replies" are the labelled responses,
recorded as turns; the judges then run on it with `judge_run`. The run id covers the records'
content, so an edited label file is a new run (its judge calls stay cached by exact request).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence

from ctxsafe.engine.runner import judge_run
from ctxsafe.engine.store import RunStore
from ctxsafe.judges.base import Judge
from ctxsafe.judges.labelled import AnyLabel, DialogueLabel, LabelKind, MssLabel, YesNoLabel
from ctxsafe.schema import Case, Judgement, Message, TurnRecord

SUITE = "judge-labels"


def label_run_id(kind: LabelKind, items: Sequence[AnyLabel]) -> str:
    """Content-addressed: the same records (in any order) always give the same run."""
    rows = sorted(json.dumps(it.model_dump(mode="json"), sort_keys=True, ensure_ascii=False) for it in items)
    digest = hashlib.sha256("\n".join(rows).encode()).hexdigest()[:12]
    return f"labels-{kind}-{digest}"


def to_case(item: AnyLabel) -> tuple[Case, list[str]]:
    """The case a judge sees for one record, and the replies recorded as its turns."""
    if isinstance(item, MssLabel):
        case = Case(id=item.id, suite=SUITE, setting="if", context=item.context, pair_id=item.cluster,
                    modality="text", turns=(Message.user(item.query),), task=item.task,
                    meta={"lang": item.lang})
        return case, [item.response]
    if isinstance(item, DialogueLabel):
        context = "safe" if item.kind == "helpfulness" else "unsafe"
        gold = {"type": "B" if item.kind == "safety_b" else "A"}
        case = Case(id=item.id, suite=SUITE, context=context, pair_id=item.cluster, modality="text",
                    turns=tuple(Message.user(t) for t in item.turns), gold=gold, meta={"lang": item.lang})
        return case, list(item.replies)
    assert isinstance(item, YesNoLabel)
    case = Case(id=item.id, suite=SUITE, setting="qc", context="safe", pair_id=item.cluster, modality="text",
                turns=(Message.user("(the question is not part of the labelled record)"),), task=item.task)
    return case, [item.response]


def open_label_run(store: RunStore, kind: LabelKind, items: Sequence[AnyLabel], source: str) -> tuple[str, list[Case]]:
    """Create (or reopen) the run holding these records; turns are written once."""
    run_id = label_run_id(kind, items)
    built = [to_case(it) for it in items]
    cases = [c for c, _ in built]
    with store.lock(run_id):
        store.open_run(run_id, {"suite": SUITE, "kind": kind, "source": source, "records": len(items),
                                "model_name": f"labels:{source}"})
        if not store.case_ids(run_id):
            store.save_cases(run_id, cases)
            for case, replies in built:
                for i, reply in enumerate(replies):
                    digest = hashlib.sha256(f"{run_id}\x00{case.id}\x00{i}".encode()).hexdigest()
                    store.record_turn(TurnRecord(run_id=run_id, case_id=case.id, step=f"t{i + 1}", index=i,
                                                 request_hash=digest, response=reply, outcome="ok"), None)
        store.set_status(run_id, "finished")
    return run_id, cases


async def judge_labels(store: RunStore, run_id: str, cases: Sequence[Case],
                       judge: Judge) -> dict[tuple[str, str], Judgement]:
    """Run (or resume) one judge over the label run and return its judgements by (case, step)."""
    with store.lock(run_id):
        await judge_run(store, run_id, cases, judge)
    return store.judgements(run_id, judge.judge_id, judge.prompt_version)
