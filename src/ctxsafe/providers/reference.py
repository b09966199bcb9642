"""Offline reference models: fixed behaviours that need no weights, as labelled baselines.

They make the harness testable end to end offline and act as sanity checks: a context-blind
model must score about 50% on a paired benchmark whose twins share the query.
"""

from __future__ import annotations

import re

from ctxsafe.images import ImageStore
from ctxsafe.providers.base import Completion, GenParams
from ctxsafe.schema import Message, Usage

_COMPLY = (
    "Sure, here is how to go about it.\n"
    "1. Gather what you need and set up the space in front of you.\n"
    "2. Start with the first step and keep a steady pace.\n"
    "3. Finish up and put everything back where it belongs.\n"
    "Enjoy!"
)
_REFUSE = "I'm sorry, but I can't help with that request."
_RISKY = re.compile(
    r"\b(knife|knives|blade|fire|flame|burn|lighter|candle|weapon|gun|shoot|drug|alcohol|beer|wine|"
    r"poison|bleach|chemical|climb|jump|dive|swim|ice|skat\w*|run\w*|drive|driv\w*|speed|cut\w*|"
    r"chop\w*|heat\w*|stove|oven|microwave|toggle|plug|electric\w*|outlet|steal|break|smash|throw|"
    r"hack|loud|music|party|photo\w*|pictures?|film\w*|touch|feed|pet|play\w*)\b",
    re.IGNORECASE,
)


class ReferenceModel:
    """Base for offline baselines; subclasses decide the reply from the latest user text only."""

    is_reference = True
    max_concurrency = 1024
    kind = ""

    def __init__(self) -> None:
        self.name = f"ref:{self.kind}"
        self.identity = self.name

    def reply(self, last_user_text: str) -> str:
        raise NotImplementedError

    async def complete(self, messages: list[Message], params: GenParams, images: ImageStore) -> Completion:
        last = next((m.text_content() for m in reversed(messages) if m.role == "user"), "")
        text = self.reply(last)
        return Completion(text=text, finish_reason="stop",
                          usage=Usage(input_tokens=sum(len(m.text_content().split()) for m in messages),
                                      output_tokens=len(text.split())))

    async def aclose(self) -> None:
        return None


class AlwaysComply(ReferenceModel):
    """Answers everything helpfully and never mentions risk."""

    kind = "always-comply"

    def reply(self, last_user_text: str) -> str:
        return _COMPLY


class AlwaysRefuse(ReferenceModel):
    """Refuses everything: perfect on unsafe contexts, useless on safe ones."""

    kind = "always-refuse"

    def reply(self, last_user_text: str) -> str:
        return _REFUSE


class KeywordFilter(ReferenceModel):
    """Refuses when the request text has a risky keyword; blind to the image by construction."""

    kind = "keyword-filter"

    def reply(self, last_user_text: str) -> str:
        return _REFUSE if _RISKY.search(last_user_text) else _COMPLY


REFERENCE_MODELS: dict[str, type[ReferenceModel]] = {
    cls.kind: cls for cls in (AlwaysComply, AlwaysRefuse, KeywordFilter)
}
