"""The judge protocol: a judge reads what the model saw and said, and returns a stored Judgement."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from ctxsafe.schema import Case, Judgement, Message, Outcome, Usage

if TYPE_CHECKING:
    from ctxsafe.engine.call import CallResult


@dataclass(frozen=True)
class JudgeInput:
    """One response to judge, with exactly the messages the model was given at that step."""

    run_id: str
    case: Case
    step: str
    seen: list[Message]
    response: str


class JudgeIdentity(Protocol):
    """What a stored Judgement says of the judge that made it (read-only: a judge may compute them lazily)."""

    @property
    def judge_id(self) -> str: ...

    @property
    def prompt_version(self) -> str: ...

    @property
    def input_mode(self) -> str: ...


class Judge(JudgeIdentity, Protocol):
    concurrency: int

    def applies(self, case: Case, step: str) -> bool:
        """Whether this judge scores `step` of `case` (e.g. only final turns, only unsafe twins)."""
        ...

    async def judge(self, item: JudgeInput) -> Judgement:
        ...


@dataclass(frozen=True)
class Reading:
    """What a judge read in one response. Neither a label nor a score is a failed parse (`error` says why),
    never a default verdict."""

    label: int | None = None
    score: float | None = None
    explanation: str | None = None
    error: str | None = None


def judgement(judge: JudgeIdentity, item: JudgeInput, reading: Reading, *, raw: str | None = None,
              outcome: Outcome = "ok", usage: Usage | None = None, call: CallResult | None = None) -> Judgement:
    """The stored Judgement of `judge` on `item`: one place that decides the parse status and which model served
    the call (`call`, for a judge that made one)."""
    parsed = reading.label is not None or reading.score is not None
    return Judgement(run_id=item.run_id, case_id=item.case.id, step=item.step, judge_id=judge.judge_id,
                     prompt_version=judge.prompt_version, label=reading.label, score=reading.score,
                     explanation=reading.explanation, raw=raw, parse_status="ok" if parsed else "failed",
                     outcome=outcome, error=reading.error, input_mode=judge.input_mode, usage=usage,
                     **(call.served() if call is not None else {}))
