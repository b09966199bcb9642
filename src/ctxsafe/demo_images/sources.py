"""The photos a demo recipe may start from: each ships inside an installed wheel and may be redistributed
in modified form. Provenance comes from the packages' own docstrings and README; `docs/demo-suite.md`
repeats it for humans."""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path
from typing import Any, cast

import numpy as np
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
    "sklearn:china.jpg": "china.jpg by danielbuechele (Flickr), CC BY 2.0 "
    "https://creativecommons.org/licenses/by/2.0/ (scikit-learn sample image).",
    "sklearn:flower.jpg": "flower.jpg by vultilion (Flickr, credited as danielbuechele in scikit-learn's "
    "README), CC BY 2.0 https://creativecommons.org/licenses/by/2.0/ (scikit-learn sample image).",
}


@cache
def source_array(source: str) -> np.ndarray[Any, np.dtype[np.uint8]]:
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

