"""What a guard sees: an explicit, recorded choice of turns and of how images are passed.

Turns: the last user turn, the whole conversation, or a sliding window of the last N user turns.
Images: as pixels, as a caption or as OCR text (looked up from a user-supplied file), or not at all.
Images on a message outside the chosen turns are carried into the first turn in view (recorded),
because the risk in contextual-safety cases usually comes from the image shown at turn 1.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ctxsafe.errors import ConfigError, DataError
from ctxsafe.guards.verdict import Target
from ctxsafe.schema import ImagePart, Message, Part, TextPart

TurnsMode = Literal["last", "all", "window"]
ImagesMode = Literal["images", "caption", "ocr", "none"]
IMAGE_MODES: tuple[ImagesMode, ...] = ("images", "caption", "ocr", "none")


@dataclass(frozen=True)
class View:
    """The strategy: `turns` (with `window` user turns for a sliding window) and `images`."""

    turns: TurnsMode = "last"
    window: int = 2
    images: ImagesMode = "images"

    def describe(self) -> str:
        turns = f"window:{self.window}" if self.turns == "window" else self.turns
        return f"{turns}+{self.images}"

    @classmethod
    def parse(cls, turns: str = "last", images: str = "images") -> View:
        """`last`, `all` or `window:N`; `images`, `caption`, `ocr` or `none`."""
        mode, _, n = turns.partition(":")
        if images not in IMAGE_MODES:
            raise ConfigError(f"guard images mode {images!r}: choose from {', '.join(IMAGE_MODES)}")
        img: ImagesMode = images
        if mode == "window":
            if not n.isdigit() or int(n) < 1:
                raise ConfigError(f"guard view {turns!r}: a window needs a size, e.g. window:2")
            return cls("window", int(n), img)
        if mode in ("last", "all") and not n:
            return cls(mode, 2, img)  # type: ignore[arg-type]
        raise ConfigError(f"guard view {turns!r}: choose last, all or window:N")


@dataclass(frozen=True)
class ImageTexts:
    """Captions or OCR text for images, keyed by image sha256 or by the image's file name."""

    kind: Literal["caption", "ocr"]
    texts: Mapping[str, str] = field(default_factory=dict)

    def lookup(self, image: ImagePart) -> str | None:
        return self.texts.get(image.sha256) or self.texts.get(Path(image.source).name)

    @classmethod
    def load(cls, kind: Literal["caption", "ocr"], path: Path) -> ImageTexts:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise DataError(f"cannot read {kind} file: {exc}", file=str(path)) from None
        if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
            raise DataError(f"{kind} file must be a JSON object of image sha256 or file name -> text", file=str(path))
        return cls(kind, data)


@dataclass
class Selection:
    """The messages in view, their indexes in the conversation, and the record of what was left out."""

    view: View
    target: Target
    messages: list[Message]
    indexes: list[int]
    captions: list[str] = field(default_factory=list)
    ocr: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def short(image: ImagePart) -> str:
    return f"image {image.sha256[:12]} ({Path(image.source).name})"


def _first_in_view(conversation: list[Message], view: View) -> int:
    users = [i for i, m in enumerate(conversation) if m.role == "user"]
    if not users:
        raise ValueError("the conversation has no user message")
    if view.turns == "all":
        return 0
    keep = 1 if view.turns == "last" else view.window
    return users[max(0, len(users) - keep)]


def _images_as(parts: tuple[Part, ...], view: View, texts: ImageTexts | None, sel: Selection) -> tuple[Part, ...]:
    out: list[Part] = []
    for p in parts:
        if not isinstance(p, ImagePart) or view.images == "images":
            out.append(p)
        elif view.images == "none":
            sel.dropped.append(f"{short(p)} not given (images=none)")
        else:
            text = texts.lookup(p) if texts is not None and texts.kind == view.images else None
            if text is None:
                sel.dropped.append(f"{short(p)} not given: no {view.images} text for it")
                continue
            label = "Image description" if view.images == "caption" else "Text in the image"
            out.append(TextPart(text=f"[{label}: {text}]"))
            (sel.captions if view.images == "caption" else sel.ocr).append(p.sha256)
    return tuple(out)


def select(conversation: list[Message], view: View, target: Target, texts: ImageTexts | None = None) -> Selection:
    """The part of `conversation` the guard is given. For a `response` target the conversation ends with the
    assistant reply under review; for a `prompt` target, with the user turn under review."""
    start = _first_in_view(conversation, view)
    carried = [img for m in conversation[:start] for img in m.images()]
    sel = Selection(view, target, [], [])
    for i in range(start, len(conversation)):
        m = conversation[i]
        parts = m.parts
        if carried and m.role == "user":
            parts = (*carried, *parts)
            sel.notes.extend(f"{short(img)} carried from an earlier turn into view" for img in carried)
            carried = []
        parts = _images_as(parts, view, texts, sel)
        sel.messages.append(Message(role=m.role, parts=parts))
        sel.indexes.append(i)
    return sel
