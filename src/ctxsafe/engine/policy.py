"""The model under test is a policy: the bare model, or a pipeline making several calls per user turn.

Every inner call of a pipeline is a *sub-step* of its turn (`t2/critique`), made through a Caller
(cached by exact request, retried, shared while in flight) and committed before the next one starts.
Pipelines are deterministic functions of the replies of their earlier sub-steps, so re-running one
after a kill finds its finished sub-steps in the store and repeats none of them. The turn's own
record (`t2`) holds the reply the dialogue keeps and the judge sees.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from ctxsafe.engine.call import Caller
from ctxsafe.providers.base import GenParams
from ctxsafe.schema import Case, ImagePart, Message, TextPart, TurnRecord, Usage

FINAL_OUTCOMES = ("ok", "content_filter")
ROLES = ("model", "defense", "verifier", "guard")
"""Who an inner call is attributed to: the model under test answering, the model (or another) acting
for a defense, or a separate verifier model. Judges are attributed from the judgements table."""


class StepStopped(Exception):
    """An inner call ended without an answer (an error or a content filter): the turn takes its outcome."""

    def __init__(self, record: TurnRecord) -> None:
        super().__init__(f"{record.step}: {record.outcome}")
        self.record = record


@dataclass(frozen=True)
class Reply:
    """What a policy keeps for its turn: the record it comes from, and the kept text when that is only a
    part of the record's response (e.g. the answer after a reasoning section)."""

    record: TurnRecord
    text: str | None = None


class StepContext:
    """What a policy may use to answer one step: the bare request, and calls recorded as sub-steps."""

    def __init__(self, case: Case, step: str, index: int, messages: list[Message], callers: Mapping[str, Caller],
                 run_id: str, done: Mapping[tuple[str, str], TurnRecord], new: list[TurnRecord],
                 prefix: str | None = None) -> None:
        self.case = case
        self.step = step
        self.index = index
        self.messages = messages
        self.callers = callers
        self.run_id = run_id
        self.done = done
        self.new = new
        self.prefix = prefix or step

    @property
    def user_text(self) -> str:
        """The text of the latest user message (the request this step answers)."""
        return next((m.text_content() for m in reversed(self.messages) if m.role == "user"), "")

    def images(self) -> tuple[ImagePart, ...]:
        """Every image in the request, in order."""
        return tuple(img for m in self.messages for img in m.images())

    def child(self, name: str, messages: list[Message]) -> StepContext:
        """A context for a nested policy whose calls become `<prefix>/<name>/...` sub-steps."""
        return StepContext(self.case, self.step, self.index, messages, self.callers, self.run_id, self.done,
                           self.new, f"{self.prefix}/{name}")

    async def call(self, name: str | None, messages: list[Message], role: str = "model",
                   params: GenParams | None = None) -> TurnRecord:
        """One inner call, recorded as `<prefix>/<name>` (or as `<prefix>` itself when `name` is None).

        A sub-step already final in the store is reused as is: this is how a pipeline resumes.
        """
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}")
        step = self.prefix if name is None else f"{self.prefix}/{name}"
        rec = self.done.get((self.case.id, step))
        if rec is None or rec.outcome not in FINAL_OUTCOMES:
            caller = self.callers.get(role) or self.callers["model"]
            rec = await caller.turn(self.run_id, self.case.id, step, self.index, messages, params=params)
            self.new.append(rec)
        return rec

    async def ask(self, name: str, messages: list[Message], role: str = "model",
                  params: GenParams | None = None) -> str:
        """An intermediate call whose answer the pipeline needs; without one the turn stops with its outcome."""
        rec = await self.call(name, messages, role, params)
        if rec.outcome != "ok":
            raise StepStopped(rec)
        return rec.response or ""

    async def answer(self, name: str | None, messages: list[Message], role: str = "model",
                     params: GenParams | None = None) -> Reply:
        """The call whose reply the turn keeps (its error or filter, if any, becomes the turn's)."""
        return Reply(await self.call(name, messages, role, params))


class Policy(Protocol):
    """What answers a step. `describe()` is part of the run's identity; its `roles` names who each
    sub-step name works for (by its last path segment, a trailing `-N` ignored; default `model`)."""

    name: str

    def describe(self) -> dict[str, Any]: ...

    async def respond(self, ctx: StepContext) -> Reply: ...


class Bare:
    """The model alone: one call per step, recorded as the step itself (as before policies existed)."""

    name = "bare"

    def describe(self) -> dict[str, Any]:
        return {"name": self.name}

    async def respond(self, ctx: StepContext) -> Reply:
        return await ctx.answer(None, ctx.messages)


def is_bare(policy: Policy) -> bool:
    return policy.name == Bare.name


def with_text(messages: list[Message], text: str, *, before: bool = False) -> list[Message]:
    """The messages with `text` added to the latest user message (after its parts, or before them)."""
    out = list(messages)
    for i in range(len(out) - 1, -1, -1):
        if out[i].role == "user":
            extra = TextPart(text=text)
            parts = (extra, *out[i].parts) if before else (*out[i].parts, extra)
            out[i] = Message(role="user", parts=parts)
            return out
    raise ValueError("the request has no user message")


def settle(ctx: StepContext, reply: Reply) -> TurnRecord:
    """The turn's own record for a pipeline: the kept reply, pointing at the request it came from.

    It is not a call: usage stays empty (the sub-steps carry the tokens) and attempts is 0. Its outcome
    and finish reason are the source's, so an inner error, filter or truncation is the turn's.
    """
    src = reply.record
    ok = src.outcome == "ok"
    return TurnRecord(
        run_id=ctx.run_id, case_id=ctx.case.id, step=ctx.step, index=ctx.index, request_hash=src.request_hash,
        response=(reply.text if reply.text is not None else src.response) if ok else src.response,
        finish_reason=src.finish_reason, outcome=src.outcome,
        error=None if src.error is None else f"{src.step}: {src.error}", usage=Usage(), latency_s=0.0,
        cached=False, attempts=0)


async def play_step(policy: Policy, ctx: StepContext) -> TurnRecord:
    """Answer one step with `policy` and commit the turn's record; returns it."""
    try:
        reply = await policy.respond(ctx)
    except StepStopped as stop:
        reply = Reply(stop.record)
    if reply.record.step == ctx.step and reply.text is None:
        return reply.record  # the bare model answered in the step's own record
    rec = settle(ctx, reply)
    ctx.callers["model"].store.record_turn(rec, None)
    return rec


def step_role(policy_desc: Mapping[str, Any] | None, step: str) -> str:
    """Who a recorded step works for: `model` for a bare step, `final` for a pipeline's kept reply (not a
    call), else the role the policy declared for the sub-step's name (default `model`)."""
    if "/" not in step:
        return "model" if not policy_desc or policy_desc.get("name") == Bare.name else "final"
    name = step.rsplit("/", 1)[1]
    base, _, suffix = name.rpartition("-")
    key = base if suffix.isdigit() and base else name
    roles: Mapping[str, str] = (policy_desc or {}).get("roles", {})
    return roles.get(key, "model")
