"""A guard as a classifier over a finished run: the Judge protocol, so its verdicts are stored as
judgements, its calls cached by the Caller, and a re-run resumes where it stopped.

At user turn k the guard sees what the model saw (its own earlier replies included), through the
guard's view; with target `response` it also sees the model's reply to turn k.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from ctxsafe.engine.call import Caller
from ctxsafe.guards.base import Guard
from ctxsafe.guards.check import run_guard
from ctxsafe.guards.verdict import Given, GuardVerdict, Target
from ctxsafe.guards.view import ImageTexts, View, select
from ctxsafe.judges.base import JudgeInput
from ctxsafe.schema import Case, Judgement, Message, Usage

LABELS = {"safe": 0, "unsafe": 1, "controversial": 2}


def guard_judge_id(guard: Guard, caller: Caller) -> str:
    return f"guard:{guard.name}@{caller.provider.name}"


VERDICT_JUDGE = "guard-verdict"
"""The judge id under which a guarded run stores each guard verdict, on the guard's sub-step (`t3/guard-in`).
No colon: it belongs to no suite's judge family and calls no model of its own (its calls are the sub-steps)."""


def describe(explanation: str | None, on_error: str = "stop") -> str:
    """One readable line for a stored guard verdict: the verdict, whether it blocked, categories, score,
    rationale, and what the guard was given (turns, images, captions, what it dropped or could not take)."""
    decoded = decode(explanation)
    if decoded is None:
        return "unreadable guard record"
    v, g = decoded
    if v.verdict != "error":
        effect = "blocked" if v.fired else "passed"
    else:
        effect = {"block": "blocked", "pass": "passed"}.get(on_error, "stopped the turn")
    parts = [f"{v.verdict} ({effect})"]
    if v.categories or v.codes:
        parts.append("categories " + ", ".join(v.categories) + (f" [{', '.join(v.codes)}]" if v.codes else ""))
    if v.score is not None:
        parts.append(f"score {v.score:g}")
    if v.refusal is not None:
        parts.append(f"refusal {v.refusal}")
    if v.rationale:
        parts.append(f"rationale: {v.rationale}")
    if v.error:
        parts.append(f"error: {v.error}")
    seen = f"given: view {g.view}, {g.target}, messages {list(g.messages)}" + (" flattened" if g.flattened else "")
    seen += f", images {len(g.images)}" + (f", captions {len(g.captions)}" if g.captions else "") + (
        f", ocr {len(g.ocr)}" if g.ocr else "")
    if not g.images and not g.captions and not g.ocr:
        seen += " (none)"
    parts.append(seen)
    parts.extend(f"dropped: {d}" for d in g.dropped)
    parts.extend(f"note: {n}" for n in g.notes)
    if g.cannot:
        parts.append(f"cannot take: {g.cannot}")
    parts.append(f"raw: {v.raw}")
    return "; ".join(parts)


def encode(verdict: GuardVerdict, given: Given) -> str:
    """The stored form of a verdict and its input record (in a judgement's explanation)."""
    return json.dumps({"verdict": verdict.model_dump(mode="json"), "given": given.model_dump(mode="json")},
                      ensure_ascii=False, sort_keys=True)


def decode(explanation: str | None) -> tuple[GuardVerdict, Given] | None:
    if not explanation:
        return None
    try:
        obj = json.loads(explanation)
        return GuardVerdict.model_validate(obj["verdict"]), Given.model_validate(obj["given"])
    except (ValueError, KeyError, TypeError):
        return None


class GuardJudge:
    """Applies to every user turn of every case; a probe (intent question) is not a guarded turn."""

    def __init__(self, guard: Guard, caller: Caller, view: View, target: Target = "prompt",
                 texts: ImageTexts | None = None) -> None:
        self.guard = guard
        self.caller = caller
        self.view = view
        self.target = target
        self.texts = texts
        self.judge_id = guard_judge_id(guard, caller)
        # Stored verdicts are keyed by judge id and this version: it covers everything that shapes them (the
        # guard's options such as an LLM guard's policy, the endpoint, the decoding), not only the names.
        setup = json.dumps({"guard": guard.describe(), "provider": caller.provider.identity,
                            "params": caller.params.as_dict(), "texts": None if texts is None else dict(texts.texts)},
                           sort_keys=True, default=str)
        digest = hashlib.sha256(setup.encode()).hexdigest()[:10]
        self.prompt_version = f"{guard.version}|{view.describe()}|{target}|{digest}"
        self.input_mode = f"guard:{view.describe()}:{target}"
        self.concurrency = caller.concurrency

    def applies(self, case: Case, step: str) -> bool:
        return step.startswith("t") and step[1:].isdigit()

    async def check(self, conversation: list[Message],
                    served: dict[str, Any] | None = None) -> tuple[GuardVerdict, Given, bool, Usage | None]:
        """The verdict on one conversation (ending at the turn under review) through the Caller, its input
        record, whether a call failed (to be retried on resume, unlike an unreadable answer), and the tokens
        of its calls (None when a call reported none; 0 when no call was made). `served`, if given, receives
        which model served the last call (Judgement fields)."""
        prepared = self.guard.prepare(select(conversation, self.view, self.target, self.texts))
        failed = False
        served = {} if served is None else served
        tokens: list[Usage | None] = []

        async def call(_: int, messages: list[Message]) -> tuple[str | None, str | None]:
            res = await self.caller.complete(messages)
            self.caller.remember(res)
            served.update(res.served())
            nonlocal failed
            if res.outcome != "ok" or res.completion is None:
                failed = True
                return None, res.error or f"the guard's provider answered with {res.outcome}"
            tokens.append(res.completion.usage)
            return res.completion.text or "", None

        verdict = await run_guard(self.guard, prepared, call)
        return verdict, prepared.given, failed, sum_usage(tokens)

    async def judge(self, item: JudgeInput) -> Judgement:
        conversation = list(item.seen)
        if self.target == "response":
            conversation.append(Message.text("assistant", item.response))
        served: dict[str, Any] = {}
        verdict, given, call_failed, usage = await self.check(conversation, served)
        return Judgement(
            run_id=item.run_id, case_id=item.case.id, step=item.step, judge_id=self.judge_id,
            prompt_version=self.prompt_version, label=LABELS.get(verdict.verdict), score=verdict.score,
            explanation=encode(verdict, given), raw=verdict.raw,
            parse_status="failed" if verdict.verdict == "error" else "ok",
            outcome="error" if call_failed else "ok", error=verdict.error, input_mode=self.input_mode, usage=usage,
            **served)


def sum_usage(calls: list[Usage | None]) -> Usage | None:
    """The tokens of several calls; None (not recorded) when any of them reported none."""
    if any(u is None or (u.input_tokens is None and u.output_tokens is None) for u in calls):
        return None
    return Usage(input_tokens=sum(u.input_tokens or 0 for u in calls if u is not None),
                 output_tokens=sum(u.output_tokens or 0 for u in calls if u is not None))
