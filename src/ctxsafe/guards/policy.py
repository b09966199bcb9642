"""Guard + model as a policy: an input guard on the request, an output guard on the reply, or both.

Each guard call is a recorded, cached, resumable sub-step of its turn (`t2/guard-in`, `t2/answer`,
`t2/guard-out`, with `-N` when a guard takes several calls). A blocked turn keeps a fixed refusal as
its reply, pointing at the guard call that blocked it, so which stage blocked each case is read from
the store alone (`stage_of`). A guard error, an unreadable verdict or an input the guard cannot take
stops the turn with that error by default (`on_error=stop`); `block` (counted as a block by the stage
that erred) or `pass` must be asked for.
"""

from __future__ import annotations

import hashlib
from typing import Any, Literal

from ctxsafe.engine.call import Caller
from ctxsafe.engine.policy import Reply, StepContext, StepStopped
from ctxsafe.guards.base import Guard
from ctxsafe.guards.judge import LABELS, VERDICT_JUDGE, encode
from ctxsafe.guards.registry import GuardSpec, Stage
from ctxsafe.guards.verdict import Given, GuardVerdict, Target
from ctxsafe.guards.view import ImageTexts, select
from ctxsafe.providers.base import Provider
from ctxsafe.schema import Judgement, Message, TurnRecord

REFUSAL = "Sorry, I can't help with that request."
OnError = Literal["stop", "block", "pass"]


class Guarded:
    """The model under test behind a guard. `name` (`guard-input:llama-guard-4`) labels the run."""

    def __init__(self, spec: GuardSpec, guard: Guard, provider: Provider, texts: ImageTexts | None = None,
                 on_error: OnError = "stop") -> None:
        self.spec = spec
        self.guard = guard
        self.provider = provider
        self.texts = texts
        self.on_error = on_error
        self.stage: Stage = spec.stage
        self.name = f"guard-{spec.stage}:{spec.adapter}"
        self._caller: Caller | None = None

    def describe(self) -> dict[str, Any]:
        guard = {**self.spec.describe(), **self.guard.describe(), "provider": self.provider.identity,
                 "params": self.spec.params().as_dict()}
        return {"name": self.name, "guard": guard,
                "on_error": self.on_error, "refusal": REFUSAL,
                "roles": {"guard-in": "guard", "guard-out": "guard", "answer": "model"}}

    def _guard_caller(self, ctx: StepContext) -> Caller:
        if self._caller is None:
            model = ctx.callers["model"]
            self._caller = Caller(self.provider, self.spec.params(), model.store, model.images, model.retry)
        return self._caller

    async def _check(self, ctx: StepContext, name: str, conversation: list[Message],
                     target: Target) -> tuple[GuardVerdict, TurnRecord]:
        """The guard's verdict, and the record of its last call (the one a block points at)."""
        prepared = self.guard.prepare(select(conversation, self.spec.view, target, self.texts))
        store = ctx.callers["model"].store
        if not prepared.requests:  # no call: the sub-step is recorded as an error so the store shows why
            reason = f"guard cannot take input: {prepared.given.cannot}"
            stub = TurnRecord(run_id=ctx.run_id, case_id=ctx.case.id, step=f"{ctx.prefix}/{name}", index=ctx.index,
                              request_hash=f"cannot:{hashlib.sha256(reason.encode()).hexdigest()}", response=None,
                              outcome="error", error=reason)
            store.record_turn(stub, None)
            verdict = GuardVerdict(verdict="error", error=reason)
            store.record_judgement(self._record(ctx, stub.step, verdict, prepared.given))
            return verdict, stub
        outputs: list[str] = []
        rec: TurnRecord | None = None
        for i, request in enumerate(prepared.requests):
            sub = name if len(prepared.requests) == 1 else f"{name}-{i + 1}"
            rec = await ctx.call(sub, list(request), role="guard")
            if rec.outcome != "ok":
                raise StepStopped(rec)
            outputs.append(rec.response or "")
        assert rec is not None
        verdict = self.guard.parse(outputs)
        store.record_judgement(self._record(ctx, f"{ctx.prefix}/{name}", verdict, prepared.given))
        return verdict, rec

    def _record(self, ctx: StepContext, step: str, verdict: GuardVerdict, given: Given) -> Judgement:
        """The normalised verdict and what the guard was given, kept on its sub-step (`show`, the HTML report)."""
        return Judgement(run_id=ctx.run_id, case_id=ctx.case.id, step=step, judge_id=VERDICT_JUDGE,
                         prompt_version=f"{self.guard.version}|{self.spec.view.describe()}",
                         label=LABELS.get(verdict.verdict), score=verdict.score, explanation=encode(verdict, given),
                         raw=verdict.raw, parse_status="failed" if verdict.verdict == "error" else "ok",
                         error=verdict.error, input_mode=f"guard:{self.spec.view.describe()}")

    def _decide(self, verdict: GuardVerdict, rec: TurnRecord) -> bool:
        """Whether to block; an error verdict stops the turn unless `on_error` says otherwise."""
        if verdict.verdict != "error":
            return bool(verdict.fired)
        if self.on_error == "stop":
            raise StepStopped(rec.model_copy(update={"outcome": "error", "response": None,
                                                     "error": f"guard verdict: {verdict.error}"}))
        return self.on_error == "block"

    @staticmethod
    def _blocked(rec: TurnRecord) -> Reply:
        """The refusal a block keeps, pointing at the guard sub-step that blocked (even one that made no call)."""
        return Reply(rec.model_copy(update={"outcome": "ok", "error": None}), REFUSAL)

    async def respond(self, ctx: StepContext) -> Reply:
        callers = {**ctx.callers, "guard": self._guard_caller(ctx)}
        gctx = StepContext(ctx.case, ctx.step, ctx.index, ctx.messages, callers, ctx.run_id, ctx.done, ctx.new,
                           ctx.prefix)
        if self.stage in ("input", "both"):
            verdict, rec = await self._check(gctx, "guard-in", ctx.messages, "prompt")
            if self._decide(verdict, rec):
                return self._blocked(rec)
        answer = await gctx.call("answer", ctx.messages)
        if self.stage == "input" or answer.outcome != "ok":
            return Reply(answer)
        reviewed = [*ctx.messages, Message.text("assistant", answer.response or "")]
        verdict, rec = await self._check(gctx, "guard-out", reviewed, "response")
        return self._blocked(rec) if self._decide(verdict, rec) else Reply(answer)

    async def aclose(self) -> None:
        await self.provider.aclose()


def stage_of(turn: TurnRecord, substeps: dict[str, TurnRecord]) -> str | None:
    """Which stage blocked a guarded turn: `input`, `output`, or None (answered), from the hash the turn's
    kept reply points at. `substeps` maps sub-step names (`guard-in`, `answer`, ...) to their records."""
    for name, rec in substeps.items():
        if rec.request_hash == turn.request_hash:
            if name.startswith("guard-in"):
                return "input"
            if name.startswith("guard-out"):
                return "output"
    return None
