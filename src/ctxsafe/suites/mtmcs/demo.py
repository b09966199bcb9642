"""The bundled MTMCS demo: our own rows in the hub's schema, over PD/CC0 photos shipped in ctxsafe.

Why: the real dataset cannot be redistributed (license unknown) and needs a download, yet loader,
engine, judges and reports must run offline in seconds. `demo_rows.json` holds ten rows we wrote
(five base images, each in Type A and Type B, with multimodal and text-only dialogues, four MCQ and
two true/false items per modality, captions, and three variant images per row). Images are
composed here at load time with the generic demo recipe renderer (`ctxsafe.demo_images`) and encoded deterministically,
so their sha256 (and every cache key) is stable. It is a smoke suite, not a benchmark.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any, cast

from ctxsafe.demo_images.sources import SOURCE_ATTRIBUTION
from ctxsafe.suites.mtmcs.rows import SPLITS
from ctxsafe.suites.mtmcs.sources import RawData, RawRow

if TYPE_CHECKING:
    from ctxsafe.demo_images.recipe import ImageRecipe

DEMO = "demo"
DEMO_FILE = "demo_rows.json"


def _spec() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(
        resources.files("ctxsafe.suites.mtmcs").joinpath(DEMO_FILE).read_text(encoding="utf-8"))
    return data


@cache
def _render(recipe_json: str) -> bytes:
    from ctxsafe.demo_images.recipe import png_bytes, render_recipe  # Pillow: loaded when the demo is built

    recipe = cast("ImageRecipe", json.loads(recipe_json))
    if recipe["source"] not in SOURCE_ATTRIBUTION:
        raise ValueError(f"demo image source {recipe['source']!r} is not an allowed offline photo")
    return png_bytes(render_recipe(recipe))


def _image(recipe: dict[str, Any], name: str) -> dict[str, Any]:
    return {"bytes": _render(json.dumps(recipe, sort_keys=True)), "path": name}


def demo_data(splits: tuple[str, ...] = SPLITS) -> RawData:
    """The demo rows with their images as in-row bytes, plus the caption mapping."""
    spec = _spec()
    out = RawData(source=f"{DEMO} (ctxsafe/suites/mtmcs/{DEMO_FILE})", captions=dict(spec["captions"]),
                  captions_file=f"{DEMO_FILE}#captions")
    for split in splits:
        rows = []
        for i, row in enumerate(spec[split]):
            imgs = spec["images"][str(row["id"])]
            data = {**row, "image": _image(imgs["image"], f"demo/{row['id']}.png"),
                    "variant_images": [_image(v, f"demo/{row['id']}-v{k}.png")
                                       for k, v in enumerate(imgs["variant_images"], start=1)]}
            rows.append(RawRow(split, i, data, f"{DEMO}:{split}", None))
        out.rows[split] = rows
    return out


def demo_sources() -> dict[str, str]:
    """Photo credits for the sources the demo uses (shown in docs/mtmcs.md)."""
    spec = _spec()
    used = {r["source"] for imgs in spec["images"].values() for r in [imgs["image"], *imgs["variant_images"]]}
    return {s: SOURCE_ATTRIBUTION[s] for s in sorted(used)}
