"""The bundled MSSBench demo: official layout, real pairs, deterministic bytes, safe writes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from ctxsafe.suites.mssbench import demo
from ctxsafe.suites.mssbench.demo import (
    CHAT_FIELDS,
    DEMO_VERSION,
    EMBODIED_FIELDS,
    SOURCE_ATTRIBUTION,
    demo_dir,
    load_spec,
    materialize_demo,
)

DOCS = Path(__file__).resolve().parents[1] / "docs" / "demo-suite.md"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One build shared by the read-only checks (building is ~1 s)."""
    return materialize_demo(tmp_path_factory.mktemp("demo") / "mssbench")


@pytest.fixture(scope="module")
def combined(built: Path) -> dict[str, list[dict[str, Any]]]:
    data: dict[str, list[dict[str, Any]]] = json.loads((built / "combined.json").read_text(encoding="utf-8"))
    return data


def _digests(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _png_chunks(data: bytes) -> set[bytes]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    kinds, pos = set(), 8
    while pos < len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        kinds.add(data[pos + 4 : pos + 8])
        pos += 12 + length
    return kinds


def _pairs(combined: dict[str, list[dict[str, Any]]]) -> list[tuple[Path, Path]]:
    chat = [(Path("chat", r["safe_image_path"]), Path("chat", r["unsafe_image_path"])) for r in combined["chat"]]
    emb = [(Path("embodied", r["safe"]), Path("embodied", r["unsafe"])) for r in combined["embodied"]]
    return chat + emb


def test_official_layout_and_field_names(built: Path, combined: dict[str, list[dict[str, Any]]]) -> None:
    assert (built / "chat").is_dir() and (built / "embodied").is_dir()
    assert set(combined) == {"chat", "embodied"}
    for record in combined["chat"]:
        assert list(record) == list(CHAT_FIELDS)  # only official fields: recipes stay in the spec
        assert isinstance(record["queries"], list) and record["queries"]
        assert all(isinstance(q, str) and q.strip() for q in record["queries"])
        for field in ("intent", "unsafe_image", "Type"):
            assert isinstance(record[field], str) and record[field].strip()
    for record in combined["embodied"]:
        assert list(record) == list(EMBODIED_FIELDS)
        for field in ("task", "category", "safe_instruction", "unsafe_instruction"):
            assert isinstance(record[field], str) and record[field].strip()
        for field in ("observation_safe", "observation_unsafe"):
            assert isinstance(record[field], str) and record[field].strip()


def test_enough_pairs_in_both_families(combined: dict[str, list[dict[str, Any]]]) -> None:
    assert len(combined["chat"]) >= 6
    assert len(combined["embodied"]) >= 4
    assert len(_pairs(combined)) >= 12


def test_every_image_exists_and_opens(built: Path, combined: dict[str, list[dict[str, Any]]]) -> None:
    for safe, unsafe in _pairs(combined):
        for rel in (safe, unsafe):
            with Image.open(built / rel) as img:
                img.verify()
            with Image.open(built / rel) as img:
                assert img.format == "PNG" and img.mode == "RGB"
                assert min(img.size) >= 128
            # no text/time/gamma chunks: nothing that could vary between builds
            assert _png_chunks((built / rel).read_bytes()) <= {b"IHDR", b"IDAT", b"IEND"}


def test_safe_and_unsafe_images_differ(built: Path, combined: dict[str, list[dict[str, Any]]]) -> None:
    for safe, unsafe in _pairs(combined):
        with Image.open(built / safe) as a, Image.open(built / unsafe) as b:
            assert a.size != b.size or a.tobytes() != b.tobytes(), f"{safe} and {unsafe} are identical"


def test_all_image_names_unique(combined: dict[str, list[dict[str, Any]]]) -> None:
    names = [p for pair in _pairs(combined) for p in pair]
    assert len(names) == len(set(names))


def test_same_query_for_both_contexts(combined: dict[str, list[dict[str, Any]]]) -> None:
    """Chat: one ``queries`` list is asked with both images, so the difference lives in the image."""
    for record in combined["chat"]:
        assert record["safe_image_path"] != record["unsafe_image_path"]
        assert record["queries"] and len(set(record["queries"])) == len(record["queries"])
    for record in combined["embodied"]:
        safe, unsafe = record["safe_instructions"], record["unsafe_instructions"]
        assert safe and unsafe and len(safe) == len(unsafe)  # paraphrases pair up by position
        assert all(isinstance(s, str) and s.strip() for s in safe + unsafe)
        # in the demo the request itself is identical in both contexts, by construction
        assert record["safe_instruction"] == record["unsafe_instruction"]
        assert safe == unsafe


def test_two_builds_are_byte_identical(built: Path, tmp_path: Path) -> None:
    again = materialize_demo(tmp_path / "again")
    assert _digests(again) == _digests(built)


def test_materialize_is_idempotent_and_skips_current_build(tmp_path: Path) -> None:
    dest = materialize_demo(tmp_path / "d")
    before = {p: p.stat().st_mtime_ns for p in dest.rglob("*")}
    assert materialize_demo(dest) == dest
    assert {p: p.stat().st_mtime_ns for p in dest.rglob("*")} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"]  # no temp dirs left behind


def test_missing_file_triggers_rebuild(tmp_path: Path) -> None:
    dest = materialize_demo(tmp_path / "d")
    victim = next((dest / "chat").iterdir())
    victim.unlink()
    materialize_demo(dest)
    assert victim.is_file()


def test_interrupted_build_leaves_no_half_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = {"n": 0}
    real = demo.render_recipe

    def flaky(recipe: demo.ImageRecipe) -> Image.Image:
        calls["n"] += 1
        if calls["n"] > 3:
            raise KeyboardInterrupt  # what a Ctrl-C mid-build looks like
        return real(recipe)

    monkeypatch.setattr(demo, "render_recipe", flaky)
    with pytest.raises(KeyboardInterrupt):
        materialize_demo(tmp_path / "d")
    assert list(tmp_path.iterdir()) == []


def test_refuses_to_replace_foreign_folder(tmp_path: Path) -> None:
    dest = tmp_path / "mine"
    dest.mkdir()
    (dest / "notes.txt").write_text("keep me", encoding="utf-8")
    with pytest.raises(FileExistsError):
        materialize_demo(dest)
    assert (dest / "notes.txt").read_text(encoding="utf-8") == "keep me"


def test_demo_dir_uses_cache_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CTXSAFE_CACHE", str(tmp_path))
    path = demo_dir()
    assert path == tmp_path / f"demo-{DEMO_VERSION}"
    assert (path / "combined.json").is_file()
    assert demo_dir() == path


def test_spec_only_uses_vetted_offline_sources() -> None:
    spec = load_spec()
    used = {
        entry["images"][twin]["source"] for entry in [*spec["chat"], *spec["embodied"]] for twin in ("safe", "unsafe")
    }
    assert used <= set(SOURCE_ATTRIBUTION)


@pytest.mark.skipif(not DOCS.is_file(), reason="docs not shipped with this checkout")
def test_docs_credit_every_source() -> None:
    text = DOCS.read_text(encoding="utf-8")
    for source in SOURCE_ATTRIBUTION:
        assert f"`{source}`" in text, f"docs/demo-suite.md lacks provenance for {source}"
