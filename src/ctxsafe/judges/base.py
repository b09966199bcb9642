"""The judge protocol: a judge reads what the model saw and said, and returns a stored Judgement."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ctxsafe.schema import Case, Judgement, Message


@dataclass(frozen=True)
class JudgeInput:
    """One response to judge, with exactly the messages the model was given at that step."""

    run_id: str
    case: Case
    step: str
    seen: list[Message]
    response: str


class Judge(Protocol):
    judge_id: str
    prompt_version: str
    input_mode: str
    concurrency: int

    def applies(self, case: Case, step: str) -> bool:
        """Whether this judge scores `step` of `case` (e.g. only final turns, only unsafe twins)."""
        ...

    async def judge(self, item: JudgeInput) -> Judgement:
        ...
