"""Bundled MSSBench demo suite, built at load time from photos shipped inside installed packages.

Why this exists: the real MSSBench images are large and separately licensed, yet every part of the
toolkit (loaders, engine, judges, reports) needs a suite it can run offline in seconds.  The demo
writes a small folder in the *official* layout (``combined.json`` + ``chat/`` + ``embodied/``) so the
regular MSSBench loader consumes it unchanged.  It is a smoke suite, not a benchmark.

The content (records and per-image recipes) lives in ``demo_spec.json`` next to this module; the
images are never stored in the repository: they are composed here from ``skimage.data`` and
scikit-learn sample photos plus rendered signs, deterministically (the harness caches by sha256).
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal, NotRequired, TypedDict, cast

import numpy as np
from PIL import Image, ImageDraw, ImageFont

__all__ = ["DEMO_VERSION", "SOURCE_ATTRIBUTION", "demo_dir", "load_spec", "materialize_demo", "render_recipe"]

#: Bump when the rendering code changes (new cache dir name).  Spec edits need no bump: the cache
#: stamp also records the spec's sha256, so an edited spec is rebuilt in place.
DEMO_VERSION = "1"

_SPEC_RESOURCE = "demo_spec.json"
_STAMP_NAME = ".ctxsafe-demo.json"
_ATTRIBUTION_NAME = "ATTRIBUTION.txt"
_PNG_COMPRESS_LEVEL = 1  # ~4x faster than the default 6 for ~6% larger files

#: Official field order, so the written ``combined.json`` looks like the upstream file.
CHAT_FIELDS: tuple[str, ...] = (
    "safe_image_path",
    "unsafe_image_path",
    "intent",
    "unsafe_image",
    "Type",
    "queries",
)
EMBODIED_FIELDS: tuple[str, ...] = (
    "task",
    "category",
    "safe_instruction",
    "unsafe_instruction",
    "safe_instructions",
    "unsafe_instructions",
    "safe",
    "unsafe",
    "observation_safe",
    "observation_unsafe",
)

#: The only sources a recipe may name: each ships inside the installed wheel (no download) and has a
#: license that allows redistribution of modified copies.  Provenance is taken from the packages'
#: own docstrings / README; ``docs/demo-suite.md`` repeats it for humans.
SOURCE_ATTRIBUTION: dict[str, str] = {
    "skimage:brick": "Bricks25 texture from CC0Textures; CC0 (scikit-image, modified by scikit-image).",
    "skimage:camera": "'camera' photo by Lav Varshney; CC0 (scikit-image).",
    "skimage:chelsea": "Chelsea the cat, photo by Stefan van der Walt; CC0 (scikit-image).",
    "skimage:clock": "Motion-blurred wall clock, photo by Stefan van der Walt; public domain (scikit-image).",
    "skimage:coffee": "Coffee cup, Pikolo Espresso Bar, photo by Rachel Michetti; CC0 (scikit-image).",
    "skimage:coins": "Greek coins from Pompeii, Brooklyn Museum collection; no known copyright "
    "restrictions (scikit-image).",
    "skimage:grass": "Grass-01 by linolafett (DeviantArt), cropped/greyscaled by scikit-image; CC0.",
    "skimage:gravel": "Gravel04 texture from CC0Textures, cropped/greyscaled by scikit-image; CC0.",
    "skimage:rocket": "DSCOVR on Falcon 9, SpaceX Photos; released into the public domain (scikit-image).",
    "skimage:text": "'Corner.png' from Wikipedia; public domain (scikit-image).",
    "sklearn:china.jpg": "china.jpg by danielbuechele (Flickr), CC BY 2.0 "
    "https://creativecommons.org/licenses/by/2.0/ (scikit-learn sample image).",
    "sklearn:flower.jpg": "flower.jpg by vultilion (Flickr, credited as danielbuechele in scikit-learn's "
    "README), CC BY 2.0 https://creativecommons.org/licenses/by/2.0/ (scikit-learn sample image).",
}

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


class ImageRecipe(TypedDict):
    """How to compose one image: source photo, optional crop/resize, optional sign."""

    source: str
    crop: NotRequired[list[int]]
    resize: NotRequired[list[int]]
    sign: NotRequired[SignSpec]


class SpecImages(TypedDict):
    """Recipes for the two twins of a pair."""

    safe: ImageRecipe
    unsafe: ImageRecipe


class DemoSpec(TypedDict):
    """Parsed ``demo_spec.json``: official records plus ``id`` and ``images`` per record."""

    chat: list[dict[str, Any]]
    embodied: list[dict[str, Any]]


_STYLE_COLOURS: dict[str, tuple[tuple[int, int, int], tuple[int, int, int]]] = {
    # style: (panel fill, text/border colour)
    "info": ((22, 74, 160), (255, 255, 255)),
    "warning": ((255, 205, 0), (0, 0, 0)),
    "danger": ((196, 20, 26), (255, 255, 255)),
}
_ICONS = ("exclamation", "flame", "bolt")
_ICON_YELLOW = (255, 205, 0)
_ICON_BLACK = (0, 0, 0)
_MARGIN = 10


# --------------------------------------------------------------------------- spec


def _spec_bytes() -> bytes:
    """Raw ``demo_spec.json`` from package data (works from a wheel or a source checkout)."""
    return resources.files("ctxsafe.suites.mssbench").joinpath(_SPEC_RESOURCE).read_bytes()


def load_spec() -> DemoSpec:
    """Read and validate the packaged spec; fail loudly so a typo never ships a half-broken suite."""
    raw = json.loads(_spec_bytes().decode("utf-8"))
    if not isinstance(raw, dict) or set(raw) - {"chat", "embodied", "_comment"}:
        raise ValueError("demo spec must be an object with 'chat' and 'embodied' lists")
    spec = DemoSpec(chat=list(raw.get("chat", [])), embodied=list(raw.get("embodied", [])))
    seen: set[str] = set()
    for entry in spec["chat"]:
        _validate_entry("chat", entry, CHAT_FIELDS, ("safe_image_path", "unsafe_image_path"), seen)
    for entry in spec["embodied"]:
        _validate_entry("embodied", entry, EMBODIED_FIELDS, ("safe", "unsafe"), seen)
    return spec


def _validate_entry(
    family: str,
    entry: Mapping[str, Any],
    fields: Sequence[str],
    path_fields: Sequence[str],
    seen: set[str],
) -> None:
    """Check one spec record: official text fields present, a unique id, two valid recipes."""
    rid = entry.get("id")
    if not isinstance(rid, str) or not rid.replace("_", "").isalnum():
        raise ValueError(f"{family}: every record needs an [a-z0-9_] 'id', got {rid!r}")
    if rid in seen:
        raise ValueError(f"{family}: duplicate id {rid!r}")
    seen.add(rid)
    expected = (set(fields) - set(path_fields)) | {"id", "images"}
    if set(entry) != expected:
        raise ValueError(f"{family}/{rid}: fields {sorted(entry)} != expected {sorted(expected)}")
    for name in set(fields) - set(path_fields):
        value = entry[name]
        ok = (isinstance(value, str) and value.strip()) or (
            isinstance(value, list) and value and all(isinstance(v, str) and v.strip() for v in value)
        )
        if not ok:
            raise ValueError(f"{family}/{rid}: field {name!r} must be a non-empty string or list of strings")
    if family == "embodied" and len(entry["safe_instructions"]) != len(entry["unsafe_instructions"]):
        raise ValueError(f"embodied/{rid}: safe/unsafe instruction paraphrases must pair up by position")
    images = entry["images"]
    if not isinstance(images, dict) or set(images) != {"safe", "unsafe"}:
        raise ValueError(f"{family}/{rid}: 'images' must hold exactly 'safe' and 'unsafe' recipes")
    for twin in ("safe", "unsafe"):
        _validate_recipe(f"{family}/{rid}/{twin}", images[twin])
    if images["safe"] == images["unsafe"]:
        raise ValueError(f"{family}/{rid}: safe and unsafe recipes are identical; the image must differ")


def _validate_recipe(where: str, recipe: Any) -> None:
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
    if sign["style"] not in _STYLE_COLOURS or sign.get("icon", "exclamation") not in _ICONS:
        raise ValueError(f"{where}: unknown sign style/icon in {sign!r}")


def _spec_digest() -> str:
    """Hash of the spec text + version: detects a stale cache when someone edits the spec."""
    return hashlib.sha256(DEMO_VERSION.encode() + b"\0" + _spec_bytes()).hexdigest()


# --------------------------------------------------------------------------- sources


@cache
def _source_array(source: str) -> np.ndarray[Any, np.dtype[np.uint8]]:
    """Load a source photo once per process as an RGB uint8 array (read-only, shared by recipes)."""
    if source not in SOURCE_ATTRIBUTION:
        raise ValueError(f"unknown or disallowed image source {source!r}")
    kind, _, name = source.partition(":")
    if kind == "skimage":
        import skimage.data

        arr = np.asarray(getattr(skimage.data, name)())
    else:
        arr = _sklearn_sample(name)
    if arr.dtype == np.bool_:
        arr = arr.astype(np.uint8) * 255
    if arr.dtype != np.uint8:
        raise ValueError(f"{source}: expected uint8 pixels, got {arr.dtype}")
    if arr.ndim == 2:
        arr = np.stack([arr] * 3, axis=-1)
    arr = np.ascontiguousarray(arr[..., :3])
    arr.setflags(write=False)
    return cast("np.ndarray[Any, np.dtype[np.uint8]]", arr)


def _sklearn_sample(name: str) -> np.ndarray[Any, Any]:
    """scikit-learn's sample photo, decoded exactly as ``load_sample_images`` does (PIL + asarray).

    Reading the packaged file directly skips importing ``sklearn.datasets`` (~1 s, half the build);
    if the wheel layout ever changes we fall back to the public loader.
    """
    spec = importlib.util.find_spec("sklearn")
    for location in (spec.submodule_search_locations or []) if spec else []:
        path = Path(location) / "datasets" / "images" / name
        if path.is_file():
            with Image.open(path) as img:
                return np.asarray(img)
    from sklearn.datasets import load_sample_image

    return np.asarray(load_sample_image(name))


# --------------------------------------------------------------------------- rendering


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


def _draw_sign(img: Image.Image, sign: SignSpec) -> None:
    """Render a sign panel (rounded, bordered, optional hazard icon) in place on ``img``."""
    style = sign["style"]
    if style not in _STYLE_COLOURS:
        raise ValueError(f"unknown sign style {style!r}")
    fill, ink = _STYLE_COLOURS[style]
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


def render_recipe(recipe: ImageRecipe) -> Image.Image:
    """Compose one image from its recipe (source -> crop -> resize -> sign)."""
    img = Image.fromarray(_source_array(recipe["source"])).convert("RGB")
    if "crop" in recipe:
        left, top, right, bottom = (int(v) for v in recipe["crop"])
        if not (0 <= left < right <= img.width and 0 <= top < bottom <= img.height):
            raise ValueError(f"{recipe['source']}: crop {recipe['crop']} outside {img.size}")
        img = img.crop((left, top, right, bottom))
    if "resize" in recipe:
        w, h = (int(v) for v in recipe["resize"])
        img = img.resize((w, h), Image.Resampling.LANCZOS)
    if "sign" in recipe:
        _draw_sign(img, recipe["sign"])
    return img


def _png_bytes(img: Image.Image) -> bytes:
    """Encode without metadata chunks (no text, time or gamma) so equal pixels give equal bytes."""
    clean = Image.frombytes("RGB", img.size, img.convert("RGB").tobytes())
    buf = io.BytesIO()
    clean.save(buf, format="PNG", optimize=False, compress_level=_PNG_COMPRESS_LEVEL)
    return buf.getvalue()


# --------------------------------------------------------------------------- building


def _records(spec: DemoSpec) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[tuple[str, ImageRecipe]]]:
    """Official records for combined.json plus the (relative path, recipe) list to render."""
    jobs: list[tuple[str, ImageRecipe]] = []
    chat: list[dict[str, Any]] = []
    for entry in spec["chat"]:
        names = {twin: f"{entry['id']}_{twin}.png" for twin in ("safe", "unsafe")}
        values = {**entry, "safe_image_path": names["safe"], "unsafe_image_path": names["unsafe"]}
        chat.append({field: values[field] for field in CHAT_FIELDS})
        jobs += [(f"chat/{names[t]}", cast(SpecImages, entry["images"])[t]) for t in ("safe", "unsafe")]
    embodied: list[dict[str, Any]] = []
    for entry in spec["embodied"]:
        names = {twin: f"{entry['id']}_{twin}.png" for twin in ("safe", "unsafe")}
        values = {**entry, "safe": names["safe"], "unsafe": names["unsafe"]}
        embodied.append({field: values[field] for field in EMBODIED_FIELDS})
        jobs += [(f"embodied/{names[t]}", cast(SpecImages, entry["images"])[t]) for t in ("safe", "unsafe")]
    return chat, embodied, jobs


def _attribution(jobs: Sequence[tuple[str, ImageRecipe]]) -> str:
    """CC BY 2.0 asks for credit and a note of changes; the other sources are PD/CC0 but credited too."""
    lines = [
        "ctxsafe MSSBench demo suite (offline smoke suite, not a benchmark).",
        "Images were composed by ctxsafe from the photos below: cropped, resized and overlaid",
        "with rendered signs/labels. The situations depicted are fictional.",
        "",
    ]
    used: dict[str, list[str]] = {}
    for rel, recipe in jobs:
        used.setdefault(recipe["source"], []).append(rel)
    for source in sorted(used):
        lines.append(f"{source}: {SOURCE_ATTRIBUTION[source]}")
        lines.append("    used in: " + ", ".join(sorted(used[source])))
    return "\n".join(lines) + "\n"


def _write_tree(root: Path, spec: DemoSpec) -> None:
    """Write the whole suite into an (empty) directory."""
    chat, embodied, jobs = _records(spec)
    (root / "chat").mkdir()
    (root / "embodied").mkdir()
    for rel, recipe in jobs:
        (root / rel).write_bytes(_png_bytes(render_recipe(recipe)))
    combined = json.dumps({"chat": chat, "embodied": embodied}, indent=2, ensure_ascii=False) + "\n"
    (root / "combined.json").write_text(combined, encoding="utf-8", newline="\n")
    (root / _ATTRIBUTION_NAME).write_text(_attribution(jobs), encoding="utf-8", newline="\n")
    files = ["combined.json", *(rel for rel, _ in jobs)]
    stamp = {"demo_version": DEMO_VERSION, "spec_sha256": _spec_digest(), "files": files}
    (root / _STAMP_NAME).write_text(json.dumps(stamp, indent=1) + "\n", encoding="utf-8", newline="\n")


def _is_current(dest: Path) -> bool:
    """True when ``dest`` is a build of this exact spec/version and none of its files went missing."""
    try:
        stamp = json.loads((dest / _STAMP_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(stamp, dict) or stamp.get("spec_sha256") != _spec_digest():
        return False
    if stamp.get("demo_version") != DEMO_VERSION:
        return False
    return all((dest / rel).is_file() for rel in stamp.get("files", ["combined.json"]))


@contextmanager
def _staging(dest: Path) -> Iterator[Path]:
    """A sibling temp dir (same filesystem, so rename is atomic), removed if anything fails."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.tmp-", dir=dest.parent))
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def materialize_demo(dest: Path) -> Path:
    """Write combined.json + chat/ + embodied/ under dest (official layout); return dest. Idempotent.

    The tree is built in a sibling temp dir and renamed into place, so a killed build never leaves a
    half-written ``dest``.  An existing ``dest`` is only replaced if it is empty or an earlier demo
    build (it carries our stamp file); anything else raises ``FileExistsError`` rather than deleting
    a user's folder.
    """
    dest = Path(dest)
    if dest.exists():
        if _is_current(dest):
            return dest
        ours = dest.is_dir() and (not any(dest.iterdir()) or (dest / _STAMP_NAME).is_file())
        if not ours:
            raise FileExistsError(f"{dest} exists and is not a ctxsafe demo folder; refusing to replace it")
    spec = load_spec()
    with _staging(dest) as tmp:
        _write_tree(tmp, spec)
        _swap_into_place(tmp, dest)
    return dest


def _swap_into_place(tmp: Path, dest: Path) -> None:
    """Rename ``tmp`` to ``dest``; if a concurrent builder won the race with the same build, keep theirs."""
    try:
        os.rename(tmp, dest)
        return
    except OSError:
        if _is_current(dest):
            return  # another process finished the identical build first
    # dest is empty or an older demo: move it aside, rename ours in, then delete the old one
    trash = Path(tempfile.mkdtemp(prefix=f".{dest.name}.old-", dir=dest.parent))
    os.rename(dest, trash / "old")
    try:
        os.rename(tmp, dest)
    finally:
        shutil.rmtree(trash, ignore_errors=True)


def _cache_root() -> Path:
    """``$CTXSAFE_CACHE``, else ``$XDG_CACHE_HOME/ctxsafe``, else ``~/.cache/ctxsafe``."""
    env = os.environ.get("CTXSAFE_CACHE")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "ctxsafe"


def demo_dir() -> Path:
    """Materialize into a per-user cache dir once and return it.

    The dir is ``<root>/demo-<DEMO_VERSION>`` with ``root`` = ``$CTXSAFE_CACHE``, else
    ``$XDG_CACHE_HOME/ctxsafe``, else ``~/.cache/ctxsafe``; later calls only check the stamp.
    """
    return materialize_demo(_cache_root() / f"demo-{DEMO_VERSION}")
