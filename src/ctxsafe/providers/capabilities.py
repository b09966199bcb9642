"""What a provider accepts, known before a run starts: images or not, how many, how large, which formats.

A run checks its cases against these limits up front, so a text-only endpoint fails in one clear
line instead of answering every image case with an error after retries.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ctxsafe.errors import ConfigError
from ctxsafe.schema import Case, ImagePart

ALL_FORMATS = frozenset(("image/jpeg", "image/png", "image/webp", "image/gif"))


@dataclass(frozen=True)
class Capabilities:
    """Declared input limits of one provider family (None = no declared limit)."""

    images: bool = True
    max_images: int | None = None
    """Images per request."""
    max_side: int | None = None
    """Longest side in pixels the provider accepts without rejecting the request."""
    max_image_bytes: int | None = None
    formats: frozenset[str] = ALL_FORMATS

    def describe(self) -> str:
        if not self.images:
            return "text only"
        limits = [f"formats {', '.join(sorted(f.removeprefix('image/') for f in self.formats))}"]
        if self.max_images is not None:
            limits.append(f"at most {self.max_images} images a request")
        if self.max_side is not None:
            limits.append(f"sides up to {self.max_side}px")
        if self.max_image_bytes is not None:
            limits.append(f"up to {self.max_image_bytes // (1 << 20)} MiB an image")
        return "images: " + "; ".join(limits)


TEXT_ONLY = Capabilities(images=False)
# Published limits of the hosted APIs (per request), so an oversized input is caught before sending.
ANTHROPIC = Capabilities(max_images=100, max_side=8000, max_image_bytes=5 << 20)
GEMINI = Capabilities(max_images=3000, max_image_bytes=20 << 20,
                      formats=frozenset(("image/jpeg", "image/png", "image/webp")))
OPENAI = Capabilities(max_images=500, max_image_bytes=20 << 20)


def capabilities_of(provider: object) -> Capabilities:
    """A provider's declared capabilities; one that declares none is assumed to take any image."""
    caps = getattr(provider, "capabilities", None)
    return caps if isinstance(caps, Capabilities) else Capabilities()


def image_problem(part: ImagePart, count: int, caps: Capabilities, size: int | None = None) -> str | None:
    """Why this image (the `count`-th of its request) cannot be sent, or None when it can."""
    if not caps.images:
        return "the model accepts text only"
    if caps.max_images is not None and count > caps.max_images:
        return f"{count} images in one request, over the limit of {caps.max_images}"
    if part.media_type not in caps.formats:
        return f"format {part.media_type} is not accepted ({caps.describe()})"
    if caps.max_side is not None and max(part.width, part.height) > caps.max_side:
        return f"{part.width}x{part.height} is over the {caps.max_side}px side limit"
    if caps.max_image_bytes is not None and size is not None and size > caps.max_image_bytes:
        return f"{size} bytes is over the {caps.max_image_bytes}-byte limit"
    return None


def check_cases(model: str, caps: Capabilities, cases: Iterable[Case],
                size_of: Callable[[ImagePart], int] | None = None) -> None:
    """Refuse a run before its first call when any case carries an input the provider cannot take.

    The error names the model, the first case at fault and the reason, in one line.
    """
    for case in cases:
        images = case.images()
        for count, part in enumerate(images, start=1):
            size = size_of(part) if size_of is not None and caps.max_image_bytes is not None else None
            problem = image_problem(part, count, caps, size)
            if problem is not None:
                raise ConfigError(f"model {model} cannot take case {case.id}: {problem} "
                                  f"({len(images)} image(s) in the case; declared: {caps.describe()})")
