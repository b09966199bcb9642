"""The guard protocol and the input shaping every adapter shares.

An adapter is pure: `prepare` turns the selected conversation into the requests the guard takes
(recording what it had to leave out), `parse` turns the guard's outputs into one verdict. Calls go
through the engine's Caller, so guard calls are cached, retried and resumed like any other.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol

from ctxsafe.guards.verdict import Given, GuardVerdict
from ctxsafe.guards.view import Selection, short
from ctxsafe.schema import ImagePart, Message, TextPart


@dataclass(frozen=True)
class Prepared:
    """The requests to send (one call each; none when the guard cannot take the input) and the record."""

    requests: tuple[tuple[Message, ...], ...]
    given: Given


class Guard(Protocol):
    """A guard adapter. `version` changes whenever its prompt or parser does (it keys stored verdicts)."""

    name: str
    version: str

    def describe(self) -> dict[str, Any]: ...

    def prepare(self, sel: Selection) -> Prepared: ...

    def parse(self, outputs: list[str]) -> GuardVerdict: ...


def given(sel: Selection, msgs: list[Message], *, flattened: bool = False, cannot: str | None = None,
          indexes: list[int] | None = None) -> Given:
    """The record of a selection as finally shaped into `msgs`."""
    images = tuple(dict.fromkeys(p.sha256 for m in msgs for p in m.parts if isinstance(p, ImagePart)))
    return Given(view=sel.view.describe(), target=sel.target,
                 messages=tuple(sel.indexes if indexes is None else indexes), flattened=flattened,
                 images=() if cannot else images, captions=tuple(sel.captions), ocr=tuple(sel.ocr),
                 dropped=tuple(sel.dropped), notes=tuple(sel.notes), cannot=cannot)


def limit_images(msgs: list[Message], most: int | None, guard: str, sel: Selection) -> list[Message]:
    """Keep the first `most` images (None: all); each image left out is recorded, never passed silently."""
    if most is None:
        return msgs
    kept = 0
    out = []
    for m in msgs:
        parts = []
        for p in m.parts:
            if isinstance(p, ImagePart):
                if kept >= most:
                    sel.dropped.append(f"{short(p)} not given: {guard} takes {most} image(s) at most")
                    continue
                kept += 1
            parts.append(p)
        out.append(Message(role=m.role, parts=tuple(parts)))
    return out


def text_only(msgs: list[Message], guard: str, sel: Selection) -> list[Message]:
    """Drop images for a text-only guard, recording each (use a caption or OCR view to pass them as text)."""
    out = []
    for m in msgs:
        for p in m.images():
            sel.dropped.append(f"{short(p)} not given: {guard} reads text only (use images=caption or ocr)")
        out.append(Message(role=m.role, parts=tuple(p for p in m.parts if isinstance(p, TextPart))))
    return out


def without_system(sel: Selection, why: str) -> list[Message]:
    """The selection's messages less system prompts, which are recorded as not given (with their index)."""
    keep = [(i, m) for i, m in zip(sel.indexes, sel.messages, strict=True) if m.role != "system"]
    if len(keep) < len(sel.messages):
        sel.dropped.append(f"system prompt not given: {why}")
    sel.indexes = [i for i, _ in keep]
    sel.messages = [m for _, m in keep]
    return sel.messages


def alternating(sel: Selection, guard: str) -> list[Message]:
    """User/assistant turns that alternate and start with the user, as chat templates of guards require:
    system messages are left out and consecutive same-role messages merged (both recorded)."""
    msgs = without_system(sel, f"{guard} takes user and assistant turns only")
    out: list[Message] = []
    if msgs and msgs[0].role == "assistant":
        sel.dropped.append("a leading assistant message not given: the conversation must start with the user")
        sel.indexes = sel.indexes[1:]
        msgs = msgs[1:]
    for m in msgs:
        if out and out[-1].role == m.role:
            out[-1] = Message(role=m.role, parts=(*out[-1].parts, TextPart(text="\n"), *m.parts))
            sel.notes.append(f"consecutive {m.role} messages merged into one")
            continue
        out.append(m)
    return out


def transcript(msgs: list[Message]) -> str:
    """The conversation as labelled text, for guards that take one text (images must be text by now)."""
    return "\n".join(f"{m.role.capitalize()}: {m.text_content()}" for m in msgs)


def first_json_object(text: str) -> dict[str, Any] | None:
    """The first JSON object in `text` (guards often wrap it in a code fence); None when there is none."""
    start = text.find("{")
    while start != -1:
        try:
            obj, _ = json.JSONDecoder().raw_decode(text[start:])
        except json.JSONDecodeError:
            start = text.find("{", start + 1)
            continue
        return obj if isinstance(obj, dict) else None
    return None
