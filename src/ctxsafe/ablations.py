"""Modality ablations: transforms applied to any suite's cases before a run, recorded in its identity.

Why: "does the model notice the risk *because of the image*?" is answered by changing only the
image and measuring the paired effect. Each transform changes exactly one thing and keeps case ids,
so an ablated run pairs case by case with the original run of the same suite and model:

- `image`: the cases as loaded (the reference);
- `text-only`: every image removed, nothing else changed;
- `blank-image`: every image replaced by a plain grey image of the same size;
- `caption`: every image replaced by its description, as text placed before the first user turn
  (from the case's judge context `image_description` or its metadata `caption`; a case with none
  is an error, never silently text-only);
- `swapped-image`: each twin shown its twin's images (paired cases only).
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from ctxsafe.errors import ConfigError

if TYPE_CHECKING:  # the names above are checked by `ctxsafe run` before the case models load (issue 12)
    from ctxsafe.images import ImageStore
    from ctxsafe.schema import Case, ImagePart, Message

ABLATIONS = ("image", "text-only", "blank-image", "caption", "swapped-image")
CAPTION_PREFIX = "[Image description] "


def _blank(part: ImagePart, images: ImageStore) -> ImagePart:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (part.width, part.height), (128, 128, 128)).save(buf, format="PNG")
    return images.add_bytes(buf.getvalue(), source=f"blank:{part.width}x{part.height}", record=part.source)


def _caption(case: Case) -> str:
    text = case.judge_context.get("image_description") or case.meta.get("caption")
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(f"--ablation caption: case {case.id} has no image description (judge context "
                          "'image_description' or meta 'caption')")
    return text


def _with_first_turn_text(case: Case, prefix: str) -> tuple[Message, ...]:
    from ctxsafe.schema import Message, TextPart

    first = case.turns[0]
    return (Message(role=first.role, parts=(TextPart(text=prefix), *first.parts)), *case.turns[1:])


def check_ablation(ablation: str) -> None:
    if ablation not in ABLATIONS:
        raise ConfigError(f"--ablation must be one of {', '.join(ABLATIONS)}")


def _checked(cases: Iterable[Case]) -> Iterator[Case]:
    """The cases as they stream, refusing one that sends images inside its turns (before any model call:
    the runner spools every case before it plays one)."""
    for c in cases:
        if any(m.images() for m in (*c.history, *c.turns)):
            raise ConfigError("ablations apply to a case's context images; images inside turns are not supported")
        yield c


def ablate(cases: Iterable[Case], ablation: str, images: ImageStore) -> Iterable[Case]:
    """The cases under `ablation` (same ids, same everything else). The reference (`image`) and the ablations
    that change each case on its own (`text-only`, `blank-image`, `caption`) pass the cases through as they
    stream; `swapped-image` needs each case's twin, so it holds them all (image suites: thousands, not 100,000)."""
    check_ablation(ablation)
    if ablation == "image":
        return cases
    if ablation == "text-only":
        return (c.model_copy(update={"context_images": (), "modality": "text"}) for c in _checked(cases))
    if ablation == "blank-image":
        return (c.model_copy(update={"context_images": tuple(_blank(p, images) for p in c.context_images)})
                for c in _checked(cases))
    if ablation == "caption":
        return (c.model_copy(update={"context_images": (), "modality": "text",
                                     "turns": _with_first_turn_text(c, CAPTION_PREFIX + _caption(c) + "\n")})
                if c.context_images else c for c in _checked(cases))
    cases = list(_checked(cases))
    by_pair: dict[str, list[Case]] = {}
    for c in cases:
        by_pair.setdefault(c.pair_id, []).append(c)
    out = []
    for c in cases:
        twins = [t for t in by_pair[c.pair_id] if t.id != c.id]
        if len(twins) != 1:
            raise ConfigError(f"--ablation swapped-image needs safe/unsafe twins; case {c.id} has none")
        out.append(c.model_copy(update={"context_images": twins[0].context_images}))
    return out
