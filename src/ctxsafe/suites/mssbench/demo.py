"""Bundled MSSBench demo suite, built at load time from public-domain/CC0 photos shipped inside ctxsafe.

Why this exists: the real MSSBench images are large and separately licensed, yet every part of the
toolkit (loaders, engine, judges, reports) needs a suite it can run offline in seconds.  The demo
writes a small folder in the *official* layout (``combined.json`` + ``chat/`` + ``embodied/``) so the
regular MSSBench loader consumes it unchanged.  It is a smoke suite, not a benchmark.

The content lives in ``demo_spec.json`` (read by ``demo_spec.py``); the images are composed by the
generic ``ctxsafe.demo_images`` renderer, deterministically (the harness caches by sha256).  This
module builds the folder once per user cache and keeps it current.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

from ctxsafe.demo_images.recipe import ImageRecipe, png_bytes, render_recipe
from ctxsafe.demo_images.sources import SOURCE_ATTRIBUTION
from ctxsafe.suites.mssbench.demo_spec import (
    CHAT_FIELDS,
    DEMO_VERSION,
    EMBODIED_FIELDS,
    DemoSpec,
    SpecImages,
    load_spec,
    spec_digest,
)

__all__ = ["CHAT_FIELDS", "DEMO_VERSION", "EMBODIED_FIELDS", "SOURCE_ATTRIBUTION", "ImageRecipe", "demo_dir",
           "load_spec", "materialize_demo", "render_recipe"]

_STAMP_NAME = ".ctxsafe-demo.json"
_ATTRIBUTION_NAME = "ATTRIBUTION.txt"


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
    """Every source is public domain or CC0; each is credited anyway, with a note of what was changed."""
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
        (root / rel).write_bytes(png_bytes(render_recipe(recipe)))
    combined = json.dumps({"chat": chat, "embodied": embodied}, indent=2, ensure_ascii=False) + "\n"
    (root / "combined.json").write_text(combined, encoding="utf-8", newline="\n")
    (root / _ATTRIBUTION_NAME).write_text(_attribution(jobs), encoding="utf-8", newline="\n")
    files = ["combined.json", *(rel for rel, _ in jobs)]
    stamp = {"demo_version": DEMO_VERSION, "spec_sha256": spec_digest(), "files": files}
    (root / _STAMP_NAME).write_text(json.dumps(stamp, indent=1) + "\n", encoding="utf-8", newline="\n")


def _is_current(dest: Path) -> bool:
    """True when ``dest`` is a build of this exact spec/version and none of its files went missing."""
    try:
        stamp = json.loads((dest / _STAMP_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    if not isinstance(stamp, dict) or stamp.get("spec_sha256") != spec_digest():
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
