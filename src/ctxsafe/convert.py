"""`ctxsafe convert`: any suite's cases, as loaded from its release, written in the native format.

Why: a user who wants to edit, subset or extend a published benchmark gets a native JSONL file and
an images folder that `ctxsafe run native` reads back to the very same cases (texts, image bytes,
replayed turns, judge context). What the native format cannot express is refused by name, never
dropped: post-dialogue probes, a fixed history outside the turns, images inside later turns.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ctxsafe.errors import ConfigError
from ctxsafe.images import ImageStore
from ctxsafe.schema import Case

SCHEMA_VERSION = "1.1"
EXTENSIONS = {"image/png": ".png", "image/jpeg": ".jpg", "image/webp": ".webp", "image/gif": ".gif"}


def _unsupported(case: Case) -> str | None:
    if case.probes:
        return "post-dialogue probes"
    if case.history:
        return "a fixed history before the turns"
    if any(t.images() for t in case.turns):
        return "images inside the turns"
    if case.context_images and case.image_placement != "first_user" and len(case.turns) > 1:
        return f"images placed on the {case.image_placement} turn"
    return None


def native_record(case: Case, paired: bool, image_names: Sequence[str]) -> dict[str, Any]:
    """One native line for `case`; `paired` keeps its pair id (twins), otherwise it is scored on its own."""
    turns: list[Any] = []
    for i, msg in enumerate(case.turns):
        fixed = case.fixed_reply(i)
        turns.append(msg.text_content() if fixed is None else {"user": msg.text_content(), "assistant": fixed})
    rec: dict[str, Any] = {"id": case.id}
    if paired:
        rec["pair_id"] = case.pair_id
    rec.update({"context": case.context, "turns": turns})
    if image_names:
        rec["images"] = list(image_names)
    if case.system:
        rec["system"] = case.system
    if case.category:
        rec["category"] = case.category
    origin = {"suite": case.suite, "split": case.split, "setting": case.setting, "task": case.task}
    rec["meta"] = {**{k: v for k, v in origin.items() if v}, **{k: v for k, v in case.meta.items() if k != "record"}}
    if case.judge_context:
        rec["judge_context"] = dict(case.judge_context)
    return rec


def write_native(cases: Sequence[Case], images: ImageStore, out: Path) -> Path:
    """`out/cases.jsonl` and `out/images/<sha256>.<ext>` (each image once); returns the JSONL path."""
    for case in cases:
        why = _unsupported(case)
        if why:
            raise ConfigError(f"case {case.id} has {why}, which the native format cannot express")
    sizes = Counter(c.pair_id for c in cases)
    (out / "images").mkdir(parents=True, exist_ok=True)
    lines = []
    for case in cases:
        names = []
        for part in case.context_images:
            name = f"images/{part.sha256}{EXTENSIONS.get(part.media_type, '.bin')}"
            target = out / name
            if not target.exists():
                target.write_bytes(images.bytes_of(part))
            names.append(name)
        lines.append(json.dumps(native_record(case, sizes[case.pair_id] == 2, names), ensure_ascii=False))
    path = out / "cases.jsonl"
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def native_schema() -> dict[str, Any]:
    """The JSON Schema of one native line, versioned; published as docs/native-suite.schema.json."""
    from ctxsafe.suites.native.loader import NativeRecord

    schema = NativeRecord.model_json_schema()
    return {**schema, "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"ctxsafe:native-suite:{SCHEMA_VERSION}", "version": SCHEMA_VERSION,
            "description": "One line of a ctxsafe native suite JSONL file (see docs/native-suite.md)."}
