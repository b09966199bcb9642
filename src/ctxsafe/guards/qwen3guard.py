"""Qwen3Guard-Gen: a text guard for a prompt, or a prompt and its response.

It reads one user message (and one reply): turns in view beyond that are flattened into a labelled
transcript inside the user message (recorded), images dropped or passed as caption/OCR text.
Output lines: `Safety: Safe|Unsafe|Controversial`, `Categories: ...`, and for a response `Refusal: Yes|No`.
"""

from __future__ import annotations

import re
from typing import Any

from ctxsafe.guards.base import Prepared, given, text_only, transcript, without_system
from ctxsafe.guards.taxonomy import QWEN3GUARD, normalise
from ctxsafe.guards.verdict import GuardVerdict, Verdict, failed
from ctxsafe.guards.view import Selection
from ctxsafe.schema import Message

VERSION = "qwen3guard-v1"
LINE = re.compile(r"^\s*(safety|categories|refusal)\s*:\s*(.*?)\s*$", re.IGNORECASE)
VERDICTS: dict[str, Verdict] = {"safe": "safe", "unsafe": "unsafe", "controversial": "controversial"}


class Qwen3Guard:
    name = "qwen3guard"
    version = VERSION

    def describe(self) -> dict[str, Any]:
        return {"adapter": self.name, "version": self.version, "text_only": True}

    def prepare(self, sel: Selection) -> Prepared:
        msgs = text_only(without_system(sel, "Qwen3Guard takes a prompt and a response only"), "Qwen3Guard", sel)
        reply = msgs.pop() if sel.target == "response" and msgs and msgs[-1].role == "assistant" else None
        if sel.target == "response" and reply is None:
            return Prepared((), given(sel, [], cannot="no assistant reply to judge"))
        if not msgs:
            return Prepared((), given(sel, [], cannot="no user turn in view"))
        flat = len(msgs) > 1
        prompt = Message.user(transcript(msgs) if flat else msgs[0].text_content())
        if flat:
            sel.notes.append(f"{len(msgs)} messages flattened into one user message as a transcript")
        request = (prompt,) if reply is None else (prompt, reply)
        return Prepared((request,), given(sel, list(request), flattened=flat))

    def parse(self, outputs: list[str]) -> GuardVerdict:
        raw = "\n---\n".join(outputs)
        fields: dict[str, str] = {}
        for line in raw.splitlines():
            m = LINE.match(line)
            if m:
                key = m.group(1).lower()
                if key in fields:
                    return failed(raw, f"'{key}' given twice")
                fields[key] = m.group(2)
            elif line.strip():
                return failed(raw, f"unexpected line {line.strip()[:60]!r}")
        verdict = VERDICTS.get(fields.get("safety", "").lower())
        if verdict is None:
            return failed(raw, "no 'Safety: Safe|Unsafe|Controversial' line")
        names = [c.strip() for c in fields.get("categories", "").split(",") if c.strip()]
        codes = tuple(c for c in names if c.lower() != "none")
        refusal_text = fields.get("refusal")
        refusal = None if refusal_text is None else {"yes": True, "no": False}.get(refusal_text.lower())
        if refusal_text is not None and refusal is None:
            return failed(raw, f"unreadable refusal {refusal_text!r}")
        return GuardVerdict(verdict=verdict, categories=normalise(QWEN3GUARD, codes), codes=codes,
                            refusal=refusal, raw=raw)
