"""IC with a self-generated caption: the model captions the image, then answers the intent question
with its own caption appended (MSSBench's "IC + self caption"). Two calls per case.

A setting, not a defense: it wraps whatever policy answers (the bare model by default), whose calls
become `t1/answer/...` sub-steps.
"""

from __future__ import annotations

from typing import Any

from ctxsafe.engine.policy import Policy, Reply, StepContext, with_text
from ctxsafe.schema import Message
from ctxsafe.suites.mssbench import prompts

VERSION = "mss-selfcap-v1"


class SelfCaption:
    """Caption the image, then let the wrapped policy answer with that caption appended (1 call + the inner
    policy's)."""

    name = "self-caption"

    def __init__(self, inner: Policy) -> None:
        self.inner = inner

    def describe(self) -> dict[str, Any]:
        inner = self.inner.describe()
        return {"name": self.name, "version": VERSION, "inner": inner,
                "roles": {"caption": "model", "answer": "model", **inner.get("roles", {})}}

    async def respond(self, ctx: StepContext) -> Reply:
        caption = await ctx.ask("caption", [Message.user(*ctx.images(), prompts.SELF_CAPTION)])
        question = with_text(ctx.messages, prompts.CAPTION_SUFFIX.format(caption=caption.strip()))
        return await self.inner.respond(ctx.child("answer", question))
