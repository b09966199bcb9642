"""OpenAI omni-moderation: a list of text and image parts with no roles, answered with per-category
flags and scores (and which input types each category was scored on).

The conversation in view becomes one labelled text plus its images (the roles survive only as
labels, recorded as flattened). The provider (`moderation_provider`) returns the SDK's result object
as JSON text, so the call is cached and replayed like any chat completion.
"""

from __future__ import annotations

import json
from typing import Any

from ctxsafe.guards.base import Prepared, given, transcript, without_system
from ctxsafe.guards.taxonomy import OPENAI_MODERATION, normalise
from ctxsafe.guards.verdict import GuardVerdict, failed
from ctxsafe.guards.view import Selection
from ctxsafe.schema import ImagePart, Message, TextPart

VERSION = "openai-moderation-v1"


class OpenAIModeration:
    name = "openai-moderation"
    version = VERSION

    def describe(self) -> dict[str, Any]:
        return {"adapter": self.name, "version": self.version}

    def prepare(self, sel: Selection) -> Prepared:
        msgs = without_system(sel, "moderation reviews the conversation, not its instructions")
        if not msgs:
            return Prepared((), given(sel, [], cannot="nothing in view"))
        text_msgs = [Message(role=m.role, parts=tuple(p for p in m.parts if isinstance(p, TextPart))) for m in msgs]
        images = [p for m in msgs for p in m.parts if isinstance(p, ImagePart)]
        flat = len(msgs) > 1
        text = transcript(text_msgs) if flat else text_msgs[0].text_content()
        if flat:
            sel.notes.append(f"{len(msgs)} messages flattened into one labelled text (moderation takes no roles)")
        request = Message(role="user", parts=(TextPart(text=text), *images))
        return Prepared(((request,),), given(sel, [request], flattened=flat))

    def parse(self, outputs: list[str]) -> GuardVerdict:
        raw = "\n---\n".join(outputs)
        if len(outputs) != 1:
            return failed(raw, f"expected one moderation result, got {len(outputs)}")
        try:
            obj = json.loads(outputs[0])
        except json.JSONDecodeError:
            return failed(raw, "moderation result is not JSON")
        flagged = obj.get("flagged") if isinstance(obj, dict) else None
        cats = obj.get("categories") if isinstance(obj, dict) else None
        scores = obj.get("category_scores") if isinstance(obj, dict) else None
        if not isinstance(flagged, bool) or not isinstance(cats, dict) or not isinstance(scores, dict):
            return failed(raw, "moderation result lacks flagged, categories or category_scores")
        codes = tuple(k for k, v in cats.items() if v is True)
        values = [float(v) for v in scores.values() if isinstance(v, int | float) and not isinstance(v, bool)]
        applied = obj.get("category_applied_input_types")
        note = None
        if isinstance(applied, dict) and codes:
            note = "; ".join(f"{k} scored on {', '.join(map(str, applied.get(k) or [])) or 'nothing'}" for k in codes)
        return GuardVerdict(verdict="unsafe" if flagged else "safe", categories=normalise(OPENAI_MODERATION, codes),
                            codes=codes, score=max(values) if values else None, rationale=note, raw=raw)
