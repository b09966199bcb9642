"""Fuzz the MSSBench and native loaders: random bytes, random JSON shapes and hostile unicode.

Every input must give a valid load or a clear `CtxsafeError` (naming the file), never another
exception. Bounded: a fixed number of examples per test and no per-example deadline (the machine
is shared). The distinct inputs tried and their outcomes are printed at the end (`pytest -s`).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from ctxsafe.errors import CtxsafeError
from ctxsafe.images import ImageStore
from ctxsafe.suites.mssbench.loader import load_mssbench
from ctxsafe.suites.native.loader import load_native
from tests.mss_data import png

EXAMPLES = 250
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
TALLY: dict[str, Counter[str]] = {}

hostile_char = st.one_of(st.characters(), st.characters(categories=["Cs"]), st.characters(categories=["Cc", "Cf"]),
                         st.sampled_from(["\ufeff", "\u202e", "\x1b", "[", "/", "]", "\\", "\x00"]))
hostile_text = st.one_of(st.text(hostile_char, max_size=12), st.sampled_from(["[/]", "[link=http://x]y", "\ud800"]))
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), hostile_text)
json_values = st.recursive(scalars, lambda kids: st.one_of(st.lists(kids, max_size=3),
                                                           st.dictionaries(hostile_text, kids, max_size=3)),
                           max_leaves=12)
IMAGE_NAMES = ["good.png", "bad.png", "cmyk.jpg", "anim.gif", "folder", "loop.png", "missing.png", "../out.png",
               "/etc/hostname", ""]
image_names = st.one_of(st.sampled_from(IMAGE_NAMES), hostile_text)


def _record(fields: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Mostly the right fields with plausible or hostile values, sometimes renamed, missing or extra."""
    names = list(fields) + [f.upper() for f in fields][:2] + ["extra"]
    return st.dictionaries(st.sampled_from(names), st.one_of(*(fields.values()), json_values), max_size=len(names))


NATIVE_FIELDS: dict[str, Any] = {
    "id": st.sampled_from(["a", "b", "c", "d"]), "pair_id": st.sampled_from(["p", "q"]),
    "context": st.sampled_from(["safe", "unsafe", "Safe"]), "turns": st.lists(hostile_text, max_size=3),
    "images": st.lists(image_names, max_size=2), "category": hostile_text, "system": hostile_text,
    "meta": st.dictionaries(hostile_text, json_values, max_size=2)}
CHAT_FIELDS: dict[str, Any] = {
    "safe_image_path": image_names, "unsafe_image_path": image_names, "queries": st.lists(hostile_text, max_size=2),
    "intent": hostile_text, "Type": hostile_text}
EMBODIED_FIELDS: dict[str, Any] = {
    "safe": image_names, "unsafe": image_names, "safe_instructions": st.lists(hostile_text, max_size=2),
    "unsafe_instructions": st.lists(hostile_text, max_size=2), "category": hostile_text}


def _encode(value: Any) -> bytes:
    """JSON text as a file holds it: ASCII, with non-ASCII and lone surrogates as \\u escapes."""
    return json.dumps(value).encode()


safe_text = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=20).filter(str.strip)
good_images = st.lists(st.sampled_from(["good.png", "cmyk.jpg", "anim.gif"]), max_size=2)


def _native_pairs(turns: list[list[str]], images: list[list[str]], category: str) -> list[dict[str, Any]]:
    return [{"id": f"p{i}-{c}", "pair_id": f"p{i}", "context": c, "turns": t, "images": im, "category": category}
            for i, (t, im) in enumerate(zip(turns, images, strict=False)) for c in ("safe", "unsafe")]


valid_native = st.builds(_native_pairs, st.lists(st.lists(safe_text, min_size=1, max_size=3), min_size=1, max_size=3),
                         st.lists(good_images, min_size=3, max_size=3), safe_text)
valid_mss = st.builds(lambda queries, imgs: {
    "chat": [{"safe_image_path": a, "unsafe_image_path": b, "queries": q, "Type": "x"}
             for q, (a, b) in zip(queries, imgs, strict=False)],
    "embodied": [{"safe": "good.png", "unsafe": "anim.gif", "safe_instructions": ["a"], "unsafe_instructions": ["b"]}]},
    st.lists(st.lists(safe_text, min_size=1, max_size=2), min_size=1, max_size=3),
    st.lists(st.tuples(st.sampled_from(["good.png", "cmyk.jpg"]), st.sampled_from(["anim.gif", "good.png"])),
             min_size=3, max_size=3))

native_lines = st.lists(st.one_of(_record(NATIVE_FIELDS), json_values), max_size=5)
native_files = st.one_of(
    st.binary(max_size=300),
    st.builds(lambda lines, bom: (b"\xef\xbb\xbf" if bom else b"") + b"\n".join(_encode(x) for x in lines),
              st.one_of(native_lines, valid_native), st.booleans()))
mss_docs = st.one_of(
    json_values, valid_mss,
    st.fixed_dictionaries({}, optional={"chat": st.lists(_record(CHAT_FIELDS), max_size=3),
                                        "embodied": st.lists(_record(EMBODIED_FIELDS), max_size=3)}))
mss_files = st.one_of(st.binary(max_size=300),
                      st.builds(lambda doc, bom: (b"\xef\xbb\xbf" if bom else b"") + _encode(doc),
                                mss_docs, st.booleans()))


def _images(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "good.png").write_bytes(png((1, 2, 3)))
    (folder / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    buf = io.BytesIO()
    Image.new("CMYK", (8, 8), (0, 10, 20, 30)).save(buf, format="JPEG")
    (folder / "cmyk.jpg").write_bytes(buf.getvalue())
    frames = [Image.new("RGB", (8, 8), (i * 90, 0, 0)) for i in range(2)]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:])
    (folder / "anim.gif").write_bytes(buf.getvalue())
    (folder / "folder").mkdir()
    os.symlink("loop.png", folder / "loop.png")


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="ctxsafe-fuzz-"))
    (root / "out.png").write_bytes(png((9, 9, 9)))
    _images(root / "native")
    for task in ("chat", "embodied"):
        _images(root / "mss" / task)
    yield root
    shutil.rmtree(root)
    for name, tally in TALLY.items():
        if name.endswith(" seen"):
            continue
        print(f"\nfuzz {name}: {sum(tally.values())} distinct inputs: " + ", ".join(f"{k} {v}" for k, v in
                                                                                 sorted(tally.items())))


def _outcome(name: str, data: bytes, load: Any) -> None:
    try:
        loaded = load()
        result = "valid load"
        assert loaded, "a valid load has cases"
    except CtxsafeError as exc:
        result = "clear error"
        assert str(exc), "an error says something"
    tally = TALLY.setdefault(name, Counter())
    key = hashlib.sha256(data).hexdigest()
    seen = TALLY.setdefault(f"{name} seen", Counter())
    if not seen[key]:
        tally[result] += 1
    seen[key] += 1


@FUZZ
@given(data=native_files)
def test_native_loader_never_raises_anything_but_a_clear_error(workdir: Path, data: bytes) -> None:
    path = workdir / "native" / "cases.jsonl"
    path.write_bytes(data)

    def load() -> Any:
        cases = load_native(path, ImageStore())
        lines = [ln for ln in data.removeprefix(b"\xef\xbb\xbf").split(b"\n") if ln.strip()]
        assert len(cases) == len(lines)  # never a silent drop or duplicate
        assert {c.context for c in cases} <= {"safe", "unsafe"}
        return cases

    _outcome("native", data, load)


@FUZZ
@given(data=mss_files)
def test_mssbench_loader_never_raises_anything_but_a_clear_error(workdir: Path, data: bytes) -> None:
    (workdir / "mss" / "combined.json").write_bytes(data)
    _outcome("mssbench", data, lambda: load_mssbench(workdir / "mss", "if", ImageStore()))
