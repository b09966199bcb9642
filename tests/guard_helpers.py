"""Helpers for guard tests: real PNG images in an ImageStore, and conversations built from them."""

from __future__ import annotations

import io

from PIL import Image

from ctxsafe.images import ImageStore
from ctxsafe.schema import ImagePart, Message


def image(store: ImageStore, color: tuple[int, int, int], name: str) -> ImagePart:
    buf = io.BytesIO()
    Image.new("RGB", (16, 16), color).save(buf, format="PNG")
    return store.add_bytes(buf.getvalue(), source=f"/data/{name}.png", record=name)


def dialogue(first: ImagePart | None, *texts: str, system: str | None = None) -> list[Message]:
    """User/assistant messages alternating from `texts`, the image (if any) on the first user turn."""
    msgs = [Message.text("system", system)] if system else []
    for i, text in enumerate(texts):
        if i % 2 == 0:
            msgs.append(Message.user(first, text) if i == 0 and first is not None else Message.user(text))
        else:
            msgs.append(Message.text("assistant", text))
    return msgs
