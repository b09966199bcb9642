"""Small local thumbnails of a run's images, for a report that must open without any network.

The store keeps images by sha256 and source name, not their bytes, so the report looks for each
source under the folders it is given (and the run's own local data folder). A file is used only if
its bytes hash to the recorded sha256 (or, for an image the run re-encoded, if it exists at all).
"""

from __future__ import annotations

import base64
import hashlib
import io
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ctxsafe.schema import ImagePart

if TYPE_CHECKING:
    from ctxsafe.suites.protocol import Suite

THUMB_SIDE = 256


def data_roots(suite: Suite, config_data: object, extra: Sequence[Path]) -> list[Path]:
    """Where a run's image sources may live: folders given by the user, the run's local data folder, or
    the suite's bundled demo folder (`Suite.demo_images`)."""
    roots = list(extra)
    if config_data == "demo":
        demo = suite.demo_images()
        if demo is not None:
            roots.append(demo)
    elif isinstance(config_data, str) and config_data and "://" not in config_data:
        p = Path(config_data)
        roots.append(p if p.is_dir() else p.parent)
    return roots


def find_image(part: ImagePart, roots: Iterable[Path]) -> Path | None:
    for candidate in (Path(part.source), *(root / part.source for root in roots)):
        try:
            if not candidate.is_file():
                continue
            if part.policy != "original" or hashlib.sha256(candidate.read_bytes()).hexdigest() == part.sha256:
                return candidate
        except OSError:
            continue
    return None


def thumbnail(path: Path, side: int = THUMB_SIDE) -> str | None:
    """A JPEG data URL at most `side` pixels on its longer side; None if the file is not an image."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im.thumbnail((side, side))
            buf = io.BytesIO()
            im.convert("RGB").save(buf, format="JPEG", quality=80)
    except (OSError, UnidentifiedImageError, ValueError):
        return None
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


class Thumbnails:
    """Thumbnails by sha256, at most `limit` of them, so a huge report stays a reasonable size."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.urls: dict[str, str] = {}
        self.missing: set[str] = set()
        self.skipped: set[str] = set()

    def add(self, part: ImagePart, roots: Sequence[Path]) -> None:
        sha = part.sha256
        if sha in self.urls or sha in self.missing or sha in self.skipped:
            return
        if len(self.urls) >= self.limit:
            self.skipped.add(sha)
            return
        path = find_image(part, roots)
        url = thumbnail(path) if path is not None else None
        if url is None:
            self.missing.add(sha)
        else:
            self.urls[sha] = url
