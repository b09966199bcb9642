"""Shared shaping for guards that rate images alone (LlavaGuard, ShieldGemma 2): they take no text,
so the conversation's text is recorded as not given, and no image means nothing to rate."""

from __future__ import annotations

from ctxsafe.guards.verdict import Given
from ctxsafe.guards.view import Selection
from ctxsafe.schema import ImagePart


def images_in_view(sel: Selection, guard: str) -> tuple[list[ImagePart], str | None]:
    """The images to rate, and why the guard cannot run (None when it can)."""
    if sel.target == "response":
        return [], f"{guard} rates images, not replies"
    images = [img for m in sel.messages for img in m.images()]
    if any(m.text_content().strip() for m in sel.messages):
        sel.dropped.append(f"conversation text not given: {guard} rates the image against its policy only")
    if not images:
        return [], f"no image in view ({guard} rates images only; view images={sel.view.images})"
    return images, None


def image_given(sel: Selection, images: list[ImagePart], cannot: str | None) -> Given:
    return Given(view=sel.view.describe(), target=sel.target, messages=tuple(sel.indexes),
                 images=() if cannot else tuple(dict.fromkeys(i.sha256 for i in images)),
                 dropped=tuple(sel.dropped), notes=tuple(sel.notes), cannot=cannot)
