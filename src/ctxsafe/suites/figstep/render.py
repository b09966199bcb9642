"""Render an instruction as a typographic image (black text on white, wrapped, numbered list below).

The font is Aileron Regular as embedded in Pillow (`ImageFont.load_default(size=...)`), released by
its author under CC0 (public domain), so the images are reproducible from the package alone, with
no font file to ship or download. Rendering is deterministic for a given Pillow version.
"""

from __future__ import annotations

import io
import textwrap

RENDER_VERSION = "aileron-56-v1"
SIZE = 760
FONT_SIZE = 56
MARGIN = 20
WRAP = 20
LINE_GAP = 10


def typographic_png(text: str) -> bytes:
    """A SIZE x SIZE PNG of `text`, wrapped at WRAP characters, followed by empty items 1. 2. 3."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default(size=FONT_SIZE)
    lines = [*textwrap.wrap(text.strip(), width=WRAP), "1.", "2.", "3."]
    image = Image.new("RGB", (SIZE, SIZE), "white")
    draw = ImageDraw.Draw(image)
    y = MARGIN
    for line in lines:
        draw.text((MARGIN, y), line, fill="black", font=font)
        y += FONT_SIZE + LINE_GAP
    buf = io.BytesIO()
    image.save(buf, format="PNG", optimize=False)
    return buf.getvalue()
