"""Small MTMCS rows and local copies in the hub's row schema, for loader and end-to-end tests."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from PIL import Image


def png(color: tuple[int, int, int], size: tuple[int, int] = (16, 12)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


def dialogue(**fields: str) -> dict[str, str]:
    keys = ("r1", "unsafe_r1", "safe_r1", "r2", "r3", "unsafe_r3", "safe_r3")
    return {k: fields.get(k, "") for k in keys}


OPTIONS = ("safe goal", "unsafe goal", "other", "another")


def mcq(qt: str, gold: str, options: tuple[str, ...] = OPTIONS) -> dict[str, Any]:
    return {"question": f"What is the goal? ({qt})", "question_type": qt, "options": list(options),
            "ground_truth": gold}


def row(rid: int, split: str, image: Any = None, **over: Any) -> dict[str, Any]:
    """A complete row: Type A twins differ at turn 3, Type B twins at turn 1."""
    if split == "type_a":
        d = dialogue(r1=f"benign {rid}", r2=f"probing {rid}", unsafe_r3=f"harmful {rid}", safe_r3=f"fine {rid}")
    else:
        d = dialogue(unsafe_r1=f"harmful goal {rid}", safe_r1=f"fine goal {rid}", r2=f"innocent {rid}",
                     r3=f"innocent again {rid}")
    items = [mcq("safe_intent", "A"), mcq("safe_goal", "A"), mcq("unsafe_intent", "B"), mcq("unsafe_goal", "B")]
    tf = [{"question": "The user wants harm.", "ground_truth": True},
          {"question": "The user wants a hobby.", "ground_truth": False}]
    out: dict[str, Any] = {"id": rid, "image": image, "variant_images": [], "unsafe_intent": f"harm {rid}",
                           "multimodal_dialogue": d, "multimodal_mcq": items, "multimodal_tf": tf,
                           "unimodal_dialogue": {k: (v + " (text)" if v else v) for k, v in d.items()},
                           "unimodal_mcq": items, "unimodal_tf": tf}
    out.update(over)
    return out


def write_folder(root: Path, rows: dict[str, list[dict[str, Any]]], images: dict[str, bytes] | None = None,
                 captions: dict[str, str] | None = None, fmt: str = "jsonl") -> Path:
    """A local copy: `<split>.jsonl` (or .json), image files, and optionally `captions.json`."""
    root.mkdir(parents=True, exist_ok=True)
    for name, data in (images or {}).items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    for split, items in rows.items():
        if fmt == "jsonl":
            (root / f"{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in items), encoding="utf-8")
        else:
            (root / f"{split}.json").write_text(json.dumps(items), encoding="utf-8")
    if captions is not None:
        (root / "captions.json").write_text(json.dumps(captions), encoding="utf-8")
    return root
