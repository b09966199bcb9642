"""The MSSBench demo's content: `demo_spec.json` (official records plus an id and two image recipes each),
read and checked so a typo never ships a half-broken suite."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from importlib import resources
from typing import Any, TypedDict

from ctxsafe.demo_images.recipe import ImageRecipe, validate_recipe

#: Bump when the rendering code changes (new cache dir name).  Spec edits need no bump: the cache
#: stamp also records the spec's sha256, so an edited spec is rebuilt in place.
DEMO_VERSION = "1"

_SPEC_RESOURCE = "demo_spec.json"

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


class SpecImages(TypedDict):
    """Recipes for the two twins of a pair."""

    safe: ImageRecipe
    unsafe: ImageRecipe


class DemoSpec(TypedDict):
    """Parsed ``demo_spec.json``: official records plus ``id`` and ``images`` per record."""

    chat: list[dict[str, Any]]
    embodied: list[dict[str, Any]]



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
        validate_recipe(f"{family}/{rid}/{twin}", images[twin])
    if images["safe"] == images["unsafe"]:
        raise ValueError(f"{family}/{rid}: safe and unsafe recipes are identical; the image must differ")



def spec_digest() -> str:
    """Hash of the spec text + version: detects a stale cache when someone edits the spec."""
    return hashlib.sha256(DEMO_VERSION.encode() + b"\0" + _spec_bytes()).hexdigest()

