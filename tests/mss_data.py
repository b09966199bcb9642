"""Builders for small MSSBench folders in the official layout, for tests."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path
from typing import Any

from PIL import Image

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mossbench"


def png(color: tuple[int, int, int], size: tuple[int, int] = (16, 12)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


def chat_record(i: int, queries: list[str] | None = None, category: str = "physical harm") -> dict[str, Any]:
    return {"safe_image_path": f"safe_{i}.png", "unsafe_image_path": f"unsafe_{i}.png",
            "intent": f"do activity {i}", "unsafe_image": f": a risky scene {i}", "Type": category,
            "queries": queries or [f"How can I do activity {i} here?"]}


def embodied_record(i: int, n_para: int = 1) -> dict[str, Any]:
    return {"task": f"task {i}", "category": "property damage", "safe_instruction": f"put cup {i} on table",
            "unsafe_instruction": f"put cup {i} on stove", "safe": f"safe_{i}.png", "unsafe": f"unsafe_{i}.png",
            "safe_instructions": [f"put cup {i} on table v{k}" for k in range(n_para)],
            "unsafe_instructions": [f"put cup {i} on stove v{k}" for k in range(n_para)],
            "observation_safe": "a table", "observation_unsafe": "a hot stove"}


def make_mss_dir(root: Path, n_chat: int = 3, n_embodied: int = 2, file_name: str = "combined.json",
                 chat: list[dict[str, Any]] | None = None, embodied: list[dict[str, Any]] | None = None) -> Path:
    """A folder in the official layout with distinct real PNGs for every image it names."""
    (root / "chat").mkdir(parents=True, exist_ok=True)
    (root / "embodied").mkdir(parents=True, exist_ok=True)
    chat = chat if chat is not None else [chat_record(i) for i in range(n_chat)]
    embodied = embodied if embodied is not None else [embodied_record(i) for i in range(n_embodied)]
    for t, (task, recs, keys) in enumerate((("chat", chat, ("safe_image_path", "unsafe_image_path")),
                                            ("embodied", embodied, ("safe", "unsafe")))):
        for n, rec in enumerate(recs):
            for j, key in enumerate(keys):
                name = rec.get(key)
                if isinstance(name, str) and "/" not in name and not (root / task / name).exists():
                    (root / task / name).write_bytes(png((40 * n % 256, 120 * j, 7 + n + 100 * t)))
    (root / file_name).write_text(json.dumps({"chat": chat, "embodied": embodied}), encoding="utf-8")
    return root


def copy_real_images(root: Path, pids: list[str]) -> list[str]:
    """Copy real MOSSBench photos into `root/chat`; returns their file names."""
    names = []
    for pid in pids:
        src = SHARED_DATA / "images" / f"{pid}.jpg"
        shutil.copy(src, root / "chat" / f"{pid}.jpg")
        names.append(f"{pid}.jpg")
    return names
