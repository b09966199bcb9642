"""Llama Guard 3 Vision and Llama Guard 4: the conversation as alternating chat turns, judged at its last turn.

The guard's own chat template (applied by a local `transformers` processor or by the server hosting
it) builds the moderation prompt; we pass the turns in view. Llama Guard 3 Vision takes one image, so
a second one is left out and recorded. Output: `safe`, or `unsafe` then a line of S-codes.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from ctxsafe.guards.base import Prepared, alternating, given, limit_images
from ctxsafe.guards.taxonomy import LLAMA_GUARD, normalise
from ctxsafe.guards.verdict import GuardVerdict, failed
from ctxsafe.guards.view import Selection

VERSION = "llama-guard-v1"
CODE = re.compile(r"^S\d{1,2}$")


class LlamaGuard:
    """`generation` is `3-vision` (one image, S1-S13) or `4` (several images, S1-S14)."""

    def __init__(self, generation: Literal["3-vision", "4"]) -> None:
        self.generation = generation
        self.name = f"llama-guard-{generation}"
        self.version = VERSION
        self.max_images = 1 if generation == "3-vision" else None

    def describe(self) -> dict[str, Any]:
        return {"adapter": self.name, "version": self.version, "max_images": self.max_images}

    def prepare(self, sel: Selection) -> Prepared:
        label = f"Llama Guard {self.generation}"
        msgs = limit_images(alternating(sel, label), self.max_images, label, sel)
        if not msgs:
            return Prepared((), given(sel, [], cannot="no user turn in view"))
        if sel.target == "response" and msgs[-1].role != "assistant":
            return Prepared((), given(sel, msgs, cannot="no assistant reply to judge"))
        return Prepared((tuple(msgs),), given(sel, msgs))

    def parse(self, outputs: list[str]) -> GuardVerdict:
        raw = outputs[0] if len(outputs) == 1 else "\n---\n".join(outputs)
        lines = [ln.strip() for ln in raw.strip().splitlines() if ln.strip()]
        if not lines:
            return failed(raw, "empty output")
        head = lines[0].lower()
        if head == "safe" and len(lines) == 1:
            return GuardVerdict(verdict="safe", raw=raw)
        if head != "unsafe" or len(lines) > 2:
            return failed(raw, "expected 'safe', or 'unsafe' and one line of categories")
        codes = tuple(c.strip().upper() for c in lines[1].split(",")) if len(lines) == 2 else ()
        if any(not CODE.match(c) for c in codes):
            return failed(raw, f"unreadable category line {lines[1]!r}")
        return GuardVerdict(verdict="unsafe", categories=normalise(LLAMA_GUARD, codes), codes=codes, raw=raw)
