"""The call path every LLM judge shares: its messages go through the cached Caller, the reply is read strictly,
and a failed or filtered call is stored as that outcome, never read as a verdict."""

from __future__ import annotations

from ctxsafe.engine.call import Caller
from ctxsafe.judges.base import JudgeInput, Reading, judgement
from ctxsafe.schema import NOT_BILLED, Judgement, Message


class LLMJudge:
    """A judge that asks a model: subclasses give the messages, how to read a reply, and which steps they judge."""

    def __init__(self, caller: Caller, input_mode: str, judge_id: str, prompt_version: str) -> None:
        self.caller = caller
        self.input_mode = input_mode
        self.judge_id = judge_id
        self.prompt_version = prompt_version
        self.concurrency = caller.concurrency

    def messages(self, item: JudgeInput) -> list[Message]:
        raise NotImplementedError

    def read(self, raw: str, item: JudgeInput) -> Reading:
        """The verdict in a reply the call returned (outcome `ok`)."""
        raise NotImplementedError

    async def judge(self, item: JudgeInput) -> Judgement:
        res = await self.caller.complete(self.messages(item))
        self.caller.remember(res)
        raw = res.completion.text if res.completion is not None else None
        usage = res.completion.usage if res.completion is not None else NOT_BILLED
        reading = self.read(raw or "", item) if res.outcome == "ok" else Reading(error=res.error)
        return judgement(self, item, reading, raw=raw, outcome=res.outcome, usage=usage, call=res)
