"""Rendered signs and labels pasted onto a demo photo: what turns a scene into a safe or unsafe context."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, NotRequired, TypedDict

from PIL import Image, ImageDraw, ImageFont

SignStyle = Literal["info", "warning", "danger"]
SignIcon = Literal["exclamation", "flame", "bolt"]
NamedPosition = Literal[
    "top", "bottom", "center", "left", "right", "top-left", "top-right", "bottom-left", "bottom-right"
]


class SignSpec(TypedDict):
    """A rendered sign or label pasted onto the photo (what sets the situation)."""

    text: str
    position: NamedPosition | list[int]
    style: SignStyle
    icon: NotRequired[SignIcon]
    size: NotRequired[int]
    max_width: NotRequired[float]



STYLE_COLOURS: dict[str, tuple[tuple[int, int, int], tuple[int, int, int]]] = {
    # style: (panel fill, text/border colour)
    "info": ((22, 74, 160), (255, 255, 255)),
    "warning": ((255, 205, 0), (0, 0, 0)),
    "danger": ((196, 20, 26), (255, 255, 255)),
}
ICONS = ("exclamation", "flame", "bolt")
_ICON_YELLOW = (255, 205, 0)
_ICON_BLACK = (0, 0, 0)
_MARGIN = 10


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Pillow's bundled font: no system fonts, so the rendering does not depend on the host."""
    return ImageFont.load_default(size=size)


def _wrap(text: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont, max_px: int) -> list[str]:
    """Greedy word wrap; explicit newlines in the spec are kept as hard breaks."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        current = ""
        for word in paragraph.split():
            trial = f"{current} {word}".strip()
            if current and font.getlength(trial) > max_px:
                lines.append(current)
                current = word
            else:
                current = trial
        lines.append(current)
    return lines


def _draw_icon(draw: ImageDraw.ImageDraw, icon: str, box: tuple[int, int, int]) -> None:
    """ISO-7010-like hazard triangle (yellow, black rim) with a glyph: '!', a flame or a bolt."""
    x, y, s = box  # top-left corner and side length of the bounding square
    tri = [(x + s / 2, y), (x + s, y + s * 0.9), (x, y + s * 0.9)]
    draw.polygon(tri, fill=_ICON_YELLOW, outline=_ICON_BLACK, width=max(2, s // 14))
    cx, base = x + s / 2, y + s * 0.9
    if icon == "exclamation":
        w = s * 0.07
        draw.rectangle((cx - w, y + s * 0.30, cx + w, y + s * 0.62), fill=_ICON_BLACK)
        draw.ellipse((cx - w * 1.2, y + s * 0.68, cx + w * 1.2, y + s * 0.68 + w * 2.4), fill=_ICON_BLACK)
    elif icon == "flame":
        flame = [
            (cx, y + s * 0.28),
            (cx + s * 0.10, y + s * 0.45),
            (cx + s * 0.17, y + s * 0.58),
            (cx + s * 0.15, y + s * 0.72),
            (cx + s * 0.06, base - s * 0.08),
            (cx - s * 0.06, base - s * 0.08),
            (cx - s * 0.15, y + s * 0.72),
            (cx - s * 0.16, y + s * 0.55),
            (cx - s * 0.08, y + s * 0.60),
            (cx - s * 0.05, y + s * 0.42),
        ]
        draw.polygon(flame, fill=_ICON_BLACK)
        draw.ellipse((cx - s * 0.05, y + s * 0.62, cx + s * 0.05, base - s * 0.10), fill=_ICON_YELLOW)
    elif icon == "bolt":
        bolt = [
            (cx + s * 0.06, y + s * 0.26),
            (cx - s * 0.14, y + s * 0.60),
            (cx - s * 0.01, y + s * 0.60),
            (cx - s * 0.08, base - s * 0.06),
            (cx + s * 0.15, y + s * 0.52),
            (cx + s * 0.02, y + s * 0.52),
            (cx + s * 0.10, y + s * 0.26),
        ]
        draw.polygon(bolt, fill=_ICON_BLACK)
    else:
        raise ValueError(f"unknown sign icon {icon!r}")


def _place(position: str | Sequence[int], size: tuple[int, int], canvas: tuple[int, int]) -> tuple[int, int]:
    """Top-left corner of a panel: a named anchor with a margin, or an explicit centre [x, y]."""
    w, h = size
    cw, ch = canvas
    if not isinstance(position, str):
        cx, cy = int(position[0]), int(position[1])
        x, y = cx - w // 2, cy - h // 2
    else:
        vertical, _, horizontal = position.partition("-")
        if vertical in ("left", "right"):
            vertical, horizontal = "center", vertical
        horizontal = horizontal or "center"
        ys = {"top": _MARGIN, "center": (ch - h) // 2, "bottom": ch - h - _MARGIN}
        xs = {"left": _MARGIN, "center": (cw - w) // 2, "right": cw - w - _MARGIN}
        if vertical not in ys or horizontal not in xs:
            raise ValueError(f"unknown sign position {position!r}")
        x, y = xs[horizontal], ys[vertical]
    return max(0, min(x, cw - w)), max(0, min(y, ch - h))


def draw_sign(img: Image.Image, sign: SignSpec) -> None:
    """Render a sign panel (rounded, bordered, optional hazard icon) in place on ``img``."""
    style = sign["style"]
    if style not in STYLE_COLOURS:
        raise ValueError(f"unknown sign style {style!r}")
    fill, ink = STYLE_COLOURS[style]
    size = int(sign.get("size", max(14, img.width // 20)))
    font = _font(size)
    border = max(2, size // 8)
    pad = max(6, size // 2) + border  # inner padding, measured from the panel's outer edge
    icon = sign.get("icon")
    icon_side = int(size * 2.2) if icon else 0
    icon_gap = size // 2 if icon else 0
    max_panel = int(img.width * float(sign.get("max_width", 0.92)))
    max_text = max(size * 4, max_panel - 2 * pad - icon_side - icon_gap)
    lines = _wrap(sign["text"], font, max_text)
    line_h = int(size * 1.25)
    text_w = int(max(font.getlength(line) for line in lines)) + 1
    text_h = line_h * len(lines)
    panel_w = text_w + 2 * pad + icon_side + icon_gap
    panel_h = max(text_h, icon_side) + 2 * pad
    x, y = _place(sign["position"], (panel_w, panel_h), img.size)
    draw = ImageDraw.Draw(img)
    draw.rounded_rectangle(
        (x, y, x + panel_w - 1, y + panel_h - 1), radius=pad - border, fill=fill, outline=ink, width=border
    )
    if icon:
        _draw_icon(draw, icon, (x + pad, y + (panel_h - icon_side) // 2, icon_side))
    tx = x + pad + icon_side + icon_gap
    ty = y + (panel_h - text_h) // 2
    for i, line in enumerate(lines):
        lx = tx + (text_w - int(font.getlength(line))) // 2
        draw.text((lx, ty + i * line_h + line_h // 2), line, font=font, fill=ink, anchor="lm")

