"""The bad-input catalogue for the MSSBench and native loaders: a clear error naming the file and the
record, or (for legitimate input) a correct load recorded as such. Never a traceback, never a silent
drop, duplicate or relabel.
"""

from __future__ import annotations

import io
import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from ctxsafe.errors import DataError
from ctxsafe.images import ImageStore
from ctxsafe.suites.mssbench.loader import load_mssbench
from ctxsafe.suites.native.loader import load_native
from tests.mss_data import make_mss_dir, png

DEEP = "[" * 100_000 + "]" * 100_000


def native_dir(folder: Path, pairs: int = 2) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for p in range(pairs):
        for ctx in ("safe", "unsafe"):
            (folder / f"{ctx}_{p}.png").write_bytes(png((30 * p, 200 if ctx == "safe" else 10, 7)))
            lines.append(json.dumps({"id": f"d{p}-{ctx}", "pair_id": f"d{p}", "context": ctx, "category": "c",
                                     "images": [f"{ctx}_{p}.png"], "turns": [f"pair {p}: hi"]}))
    (folder / "cases.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder / "cases.jsonl"


def _lines(folder: Path) -> list[str]:
    return (folder / "cases.jsonl").read_text(encoding="utf-8").splitlines()


def _write(folder: Path, lines: list[str]) -> None:
    (folder / "cases.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _edit_line(folder: Path, n: int, edit: Callable[[dict[str, Any]], None]) -> None:
    lines = _lines(folder)
    rec = json.loads(lines[n])
    edit(rec)
    lines[n] = json.dumps(rec)
    _write(folder, lines)


def _replace_image(folder: Path, make: Callable[[Path], None]) -> None:
    target = folder / "safe_0.png"
    target.unlink()
    make(target)


BAD_NATIVE: dict[str, tuple[Callable[[Path], None], str]] = {
    "deep nesting": (lambda d: _write(d, [DEEP]), r"line 1.*nested too deeply"),
    "deep nesting in a field": (lambda d: _edit_line(d, 0, lambda r: r.update(meta={"x": 1})) or _write(
        d, [_lines(d)[0].replace('{"x": 1}', DEEP), *_lines(d)[1:]]), r"line 1.*nested too deeply"),
    "duplicate key": (lambda d: _write(d, ['{"id": "a", "id": "b", "pair_id": "p", "context": "safe", '
                                           '"turns": ["x"]}', *_lines(d)[1:]]), r"line 1.*duplicate key 'id'"),
    "wrong-case field": (lambda d: _edit_line(d, 0, lambda r: r.update(Category=r.pop("category"))),
                         r"line 1 \(id 'd0-safe'\).*'Category' should be spelled 'category'"),
    "unpaired twin": (lambda d: _write(d, _lines(d)[:-1]), r"pair 'd1' has only a safe case"),
    "lone surrogate": (lambda d: _edit_line(d, 2, lambda r: r.update(turns=["hi \ud800 there"])),
                       r"line 3.*lone UTF-16 surrogate"),
    "BOM in the middle": (lambda d: _write(d, [_lines(d)[0], "\ufeff" + _lines(d)[1], *_lines(d)[2:]]), None),
    "invalid UTF-8": (lambda d: (d / "cases.jsonl").write_bytes(b'{"id": "\xff"}\n'), r"line 1.*not valid UTF-8"),
    "image is a folder": (lambda d: _replace_image(d, lambda p: p.mkdir()), r"safe_0\.png is a folder"),
    "image is a FIFO": (lambda d: _replace_image(d, lambda p: os.mkfifo(p)), r"safe_0\.png is a FIFO"),
    "image symlink loop": (lambda d: _replace_image(d, lambda p: os.symlink(p.name, p)),
                           r"safe_0\.png.*(symbolic link loop|cannot be resolved)"),
    "broken image link": (lambda d: _replace_image(d, lambda p: os.symlink("gone.png", p)),
                          r"gone\.png does not exist"),
    "corrupt image": (lambda d: (d / "safe_0.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40),
                      r"safe_0\.png is corrupt"),
    "suite file is a folder": (lambda d: ((d / "cases.jsonl").unlink(), (d / "cases.jsonl").mkdir()),
                               r"is a folder"),
    "suite file symlink loop": (lambda d: ((d / "cases.jsonl").unlink(), os.symlink("cases.jsonl",
                                                                                   d / "cases.jsonl")),
                                r"symbolic link loop"),
}


@pytest.mark.parametrize("name", sorted(BAD_NATIVE))
def test_bad_native_input_is_a_clear_error(tmp_path: Path, name: str) -> None:
    path = native_dir(tmp_path / "data")
    mutate, pattern = BAD_NATIVE[name]
    mutate(tmp_path / "data")
    if pattern is None:  # legitimate input: it loads, every record once
        cases = load_native(path, ImageStore())
        assert len(cases) == 4
        return
    with pytest.raises(DataError) as info:
        load_native(path, ImageStore())
    text = str(info.value)
    assert "cases.jsonl" in text or "safe_0.png" in text, text
    assert re.search(pattern, text), text
    assert "BytesIO" not in text


def _mss_edit(root: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    doc = json.loads((root / "combined.json").read_text())
    edit(doc)
    (root / "combined.json").write_text(json.dumps(doc), encoding="utf-8")


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:60])


BAD_MSS: dict[str, tuple[Callable[[Path], None], str]] = {
    "deep nesting": (lambda d: (d / "combined.json").write_text(DEEP), r"combined\.json: JSON nested too deeply"),
    "duplicate key": (lambda d: (d / "combined.json").write_text(
        (d / "combined.json").read_text().replace('{"chat": [', '{"chat": [], "chat": [', 1)),
        r"duplicate key 'chat'"),
    "duplicate record": (lambda d: _mss_edit(d, lambda doc: doc["chat"].append(doc["chat"][0])),
                         r"record chat\[2\]: duplicate of chat\[0\]"),
    "missing section": (lambda d: _mss_edit(d, lambda doc: doc.pop("embodied")),
                        r'no "embodied" section.*--task chat'),
    "wrong-case field": (lambda d: _mss_edit(d, lambda doc: doc["chat"][1].update(type=doc["chat"][1].pop("Type"))),
                         r"record chat\[1\].*'type' should be spelled 'Type'"),
    "wrong-case required field": (lambda d: _mss_edit(d, lambda doc: doc["embodied"][0].update(
        Safe=doc["embodied"][0].pop("safe"))), r"record embodied\[0\].*'Safe' should be spelled 'safe'"),
    "lone surrogate": (lambda d: (d / "combined.json").write_text(
        (d / "combined.json").read_text().replace("activity 1", "activity \\udc00 1")), r"lone UTF-16 surrogate"),
    "image is a FIFO": (lambda d: ((d / "chat" / "safe_0.png").unlink(), os.mkfifo(d / "chat" / "safe_0.png")),
                        r"record chat\[0\].*is a FIFO"),
    "image is a folder": (lambda d: ((d / "chat" / "safe_0.png").unlink(), (d / "chat" / "safe_0.png").mkdir()),
                          r"record chat\[0\].*is a folder"),
    "image symlink loop": (lambda d: ((d / "chat" / "safe_0.png").unlink(),
                                      os.symlink("safe_0.png", d / "chat" / "safe_0.png")),
                           r"record chat\[0\].*(symbolic link loop|cannot be resolved)"),
    "combined.json is a folder": (lambda d: ((d / "combined.json").unlink(), (d / "combined.json").mkdir()),
                                  r"combined\.json is a folder"),
    "truncated image": (lambda d: _truncate(d / "chat" / "safe_0.png"),
                        r"record chat\[0\].*chat/safe_0\.png is corrupt"),
}


@pytest.mark.parametrize("name", sorted(BAD_MSS))
def test_bad_mssbench_input_is_a_clear_error(tmp_path: Path, name: str) -> None:
    root = make_mss_dir(tmp_path / "data", n_chat=2, n_embodied=1)
    mutate, pattern = BAD_MSS[name]
    mutate(root)
    with pytest.raises(DataError) as info:
        load_mssbench(root, "if", ImageStore())
    text = str(info.value)
    assert re.search(pattern, text), text
    assert "BytesIO" not in text


@pytest.mark.parametrize("where", ["mssbench", "native"])
def test_a_utf8_bom_is_accepted_by_both_loaders(tmp_path: Path, where: str) -> None:
    if where == "native":
        path = native_dir(tmp_path / "data")
        path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
        assert len(load_native(path, ImageStore())) == 4
    else:
        root = make_mss_dir(tmp_path / "data", n_chat=2, n_embodied=1)
        (root / "combined.json").write_bytes(b"\xef\xbb\xbf" + (root / "combined.json").read_bytes())
        assert len(load_mssbench(root, "if", ImageStore())) == 6


def _cmyk_jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("CMYK", (20, 10), (0, 255, 255, 0)).save(buf, format="JPEG")
    return buf.getvalue()


def _animated_gif() -> bytes:
    frames = [Image.new("RGB", (12, 12), (250 * (i == 0), 250 * (i == 1), 250 * (i == 2))) for i in range(3)]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=50, loop=0)
    return buf.getvalue()


@pytest.mark.parametrize(("make", "policy", "mode"), [
    (_cmyk_jpeg, "png:max2048;from-CMYK", "RGB"),
    (_animated_gif, "png:max2048;first-frame-of-3", None),
])
def test_cmyk_and_animated_images_follow_the_documented_policy(make: Callable[[], bytes], policy: str,
                                                               mode: str | None) -> None:
    images = ImageStore()
    part = images.add_bytes(make(), source="img", record="r")
    assert part.policy == policy and part.media_type == "image/png"
    with Image.open(io.BytesIO(images.bytes_of(part))) as sent:
        assert sent.format == "PNG" and getattr(sent, "n_frames", 1) == 1
        if mode:
            assert sent.mode == mode
            assert sent.getpixel((0, 0))[0] > 200  # cyan-free red survives: colours are converted, not inverted


def test_plain_images_are_sent_unchanged(png_bytes: bytes) -> None:
    images = ImageStore()
    part = images.add_bytes(png_bytes, source="img", record="r")
    assert part.policy == "original" and images.bytes_of(part) == png_bytes
