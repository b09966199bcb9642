"""A demo image recipe (source photo -> crop -> resize -> sign), its validation, and deterministic PNG bytes."""

from __future__ import annotations

import io
from typing import Any, NotRequired, TypedDict

from PIL import Image

from ctxsafe.demo_images.signs import ICONS, STYLE_COLOURS, SignSpec, draw_sign
from ctxsafe.demo_images.sources import SOURCE_ATTRIBUTION, source_image

PNG_COMPRESS_LEVEL = 1  # ~4x faster than the default 6 for ~6% larger files


class ImageRecipe(TypedDict):
    """How to compose one image: source photo, optional crop/resize, optional sign."""

    source: str
    crop: NotRequired[list[int]]
    resize: NotRequired[list[int]]
    sign: NotRequired[SignSpec]



def validate_recipe(where: str, recipe: Any) -> None:
    """Catch misspelt recipe keys and unknown sources/styles at load time, not mid-build."""
    if not isinstance(recipe, dict) or not set(recipe) <= {"source", "crop", "resize", "sign"}:
        raise ValueError(f"{where}: recipe must be an object with source/crop/resize/sign, got {recipe!r}")
    if recipe.get("source") not in SOURCE_ATTRIBUTION:
        raise ValueError(f"{where}: source {recipe.get('source')!r} is not an allowed offline photo")
    for key, length in (("crop", 4), ("resize", 2)):
        box = recipe.get(key, [0] * length)
        if not (isinstance(box, list) and len(box) == length and all(isinstance(v, int) for v in box)):
            raise ValueError(f"{where}: {key} must be a list of {length} ints, got {box!r}")
    sign = recipe.get("sign")
    if sign is None:
        return
    allowed = {"text", "position", "style", "icon", "size", "max_width"}
    if not isinstance(sign, dict) or not {"text", "position", "style"} <= set(sign) <= allowed:
        raise ValueError(f"{where}: sign needs text/position/style (optional {sorted(allowed)}), got {sign!r}")
    if sign["style"] not in STYLE_COLOURS or sign.get("icon", "exclamation") not in ICONS:
        raise ValueError(f"{where}: unknown sign style/icon in {sign!r}")



def render_recipe(recipe: ImageRecipe) -> Image.Image:
    """Compose one image from its recipe (source -> crop -> resize -> sign)."""
    img = source_image(recipe["source"])
    if "crop" in recipe:
        left, top, right, bottom = (int(v) for v in recipe["crop"])
        if not (0 <= left < right <= img.width and 0 <= top < bottom <= img.height):
            raise ValueError(f"{recipe['source']}: crop {recipe['crop']} outside {img.size}")
        img = img.crop((left, top, right, bottom))
    if "resize" in recipe:
        w, h = (int(v) for v in recipe["resize"])
        img = img.resize((w, h), Image.Resampling.LANCZOS)
    if "sign" in recipe:
        draw_sign(img, recipe["sign"])
    return img


def png_bytes(img: Image.Image) -> bytes:
    """Encode without metadata chunks (no text, time or gamma) so equal pixels give equal bytes."""
    clean = Image.frombytes("RGB", img.size, img.convert("RGB").tobytes())
    buf = io.BytesIO()
    clean.save(buf, format="PNG", optimize=False, compress_level=PNG_COMPRESS_LEVEL)
    return buf.getvalue()

