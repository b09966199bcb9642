"""The photos a demo recipe may start from. Each ships inside ctxsafe (`demo_images/photos/`, about
1.7 MB), so the demo suites build on a fresh install with no download and no scikit-image; every one
is public domain or CC0 (from scikit-image's sample data, unchanged). Provenance is also in NOTICE
and `docs/demo-suite.md`. The `skimage:` prefix names the photo by its scikit-image name only."""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL import Image

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
}
SOURCE_FILES: dict[str, str] = {
    "skimage:brick": "brick.png", "skimage:camera": "camera.png", "skimage:chelsea": "chelsea.png",
    "skimage:clock": "clock.png", "skimage:coffee": "coffee.png", "skimage:coins": "coins.png",
    "skimage:grass": "grass.png", "skimage:gravel": "gravel.png", "skimage:rocket": "rocket.jpg",
    "skimage:text": "text.png",
}


@cache
def _source_rgb(source: str) -> Image.Image:
    from PIL import Image

    if source not in SOURCE_FILES:
        raise ValueError(f"unknown or disallowed image source {source!r}")
    with resources.files("ctxsafe.demo_images").joinpath("photos", SOURCE_FILES[source]).open("rb") as f, \
            Image.open(f) as img:
        return img.convert("RGB")  # grey photos become three equal channels


def source_image(source: str) -> Image.Image:
    """A fresh RGB copy of a source photo (decoded once per process; recipes draw on their copy)."""
    return _source_rgb(source).copy()
