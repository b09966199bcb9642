"""Each image is decoded and verified once per content: what the check found is remembered in the run store
(path + size/mtime/ctime/inode, or the bytes' sha256) and trusted until the file changes (issue 12)."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from typer.testing import CliRunner

import ctxsafe.images as images_mod
from ctxsafe.cli import app
from ctxsafe.engine.store import RunStore
from ctxsafe.errors import DataError
from ctxsafe.images import ImagePolicy, ImageStore
from tests.mss_data import make_mss_dir, png


@pytest.fixture
def trust_fresh_files(monkeypatch: pytest.MonkeyPatch) -> None:
    """Files written by a test are seconds old at most; remember them anyway (the racy guard is tested below)."""
    monkeypatch.setattr(images_mod, "RACY_S", 0.0)


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every image actually decoded (through the one function that opens images with Pillow)."""
    seen: list[str] = []
    real = images_mod._prepare

    def counting(data: bytes, source: str, policy: ImagePolicy, record: str) -> Any:
        seen.append(Path(source).name)
        return real(data, source, policy, record)

    monkeypatch.setattr(images_mod, "_prepare", counting)
    return seen


def photo(path: Path, colour: tuple[int, int, int], size: tuple[int, int] = (64, 48)) -> Path:
    Image.new("RGB", size, colour).save(path, format="PNG")
    return path


@pytest.mark.usefixtures("trust_fresh_files")
def test_an_unchanged_file_is_neither_read_nor_decoded_again(tmp_path: Path, decodes: list[str]) -> None:
    files = [photo(tmp_path / f"{i}.png", (i * 40, 10, 200)) for i in range(3)]
    first = ImageStore()
    parts = [first.add_file(f, record=f.stem) for f in files]
    assert len(decodes) == 3 and set(first.fresh) == {str(f) for f in files}
    second = ImageStore(known=first.fresh)
    again = [second.add_file(f, record=f.stem) for f in files]
    assert len(decodes) == 3 and second.decoded == 0 and second.fresh == {}
    assert again == parts  # same sha256, size, format and policy: the run id is unchanged
    assert second.bytes_of(again[0]) == files[0].read_bytes()  # sending still reads and verifies the file


@pytest.mark.usefixtures("trust_fresh_files")
def test_a_file_changed_under_the_same_name_and_size_is_checked_again(tmp_path: Path, decodes: list[str]) -> None:
    f = photo(tmp_path / "a.png", (10, 20, 30))
    first = ImageStore()
    old = first.add_file(f, record="r")
    before = f.stat()
    data = bytearray(f.read_bytes())
    other = photo(tmp_path / "b.png", (30, 20, 10)).read_bytes()
    assert len(other) == len(data)  # same size: only the stamp's times and the content differ
    f.write_bytes(other)
    os.utime(f, ns=(before.st_atime_ns, before.st_mtime_ns))  # even with the old mtime put back (ctime moves)
    second = ImageStore(known=first.fresh)
    new = second.add_file(f, record="r")
    assert second.decoded == 1 and new.sha256 != old.sha256


@pytest.mark.usefixtures("trust_fresh_files")
def test_a_remembered_reencoded_image_is_reencoded_only_when_sent_and_verified(tmp_path: Path,
                                                                               decodes: list[str]) -> None:
    f = photo(tmp_path / "big.png", (200, 100, 50), size=(300, 200))
    policy = ImagePolicy(max_side=100)
    first = ImageStore(policy)
    part = first.add_file(f, record="r")
    assert part.policy.startswith("png:max100") and (part.width, part.height) == (100, 67)
    sent = first.bytes_of(part)
    second = ImageStore(policy, known=first.fresh)
    again = second.add_file(f, record="r")
    assert again == part and second.decoded == 0
    assert second.size_of(again) == len(sent)  # providers' size limits, without decoding
    assert second.bytes_of(again) == sent and len(decodes) == 2  # re-encoded once, at send time


@pytest.mark.usefixtures("trust_fresh_files")
def test_a_file_changed_after_loading_is_refused_when_sent(tmp_path: Path) -> None:
    f = photo(tmp_path / "big.png", (200, 100, 50), size=(300, 200))
    policy = ImagePolicy(max_side=100)
    first = ImageStore(policy)
    first.add_file(f, record="r")
    second = ImageStore(policy, known=first.fresh)
    part = second.add_file(f, record="r")
    photo(f, (1, 2, 3), size=(300, 200))
    with pytest.raises(DataError, match="changed on disk"):
        second.bytes_of(part)


def test_in_memory_bytes_are_recognised_by_content(decodes: list[str]) -> None:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (1, 2, 3)).save(buf, format="PNG")
    first = ImageStore()
    part = first.add_bytes(buf.getvalue(), source="row-1", record="row-1")
    second = ImageStore(known=first.fresh)
    assert second.add_bytes(buf.getvalue(), source="row-1", record="row-1") == part
    assert second.decoded == 0 and len(decodes) == 1
    assert second.add_bytes(png((9, 9, 9)), source="row-2", record="row-2").sha256 != part.sha256


def test_a_file_written_moments_ago_is_checked_but_not_remembered(tmp_path: Path) -> None:
    f = photo(tmp_path / "new.png", (5, 5, 5))
    images = ImageStore()
    images.add_file(f, record="r")
    assert images.decoded == 1 and images.fresh == {}  # the stamp could repeat within the clock's granularity


def cli(data: Path, store: Path) -> Any:
    return CliRunner().invoke(app, ["run", "mssbench", "--data", str(data), "--model", "ref:always-comply",
                                    "--store", str(store), "--out", str(store.parent / "out"), "--no-progress"],
                              catch_exceptions=False)


@pytest.mark.usefixtures("trust_fresh_files")
def test_a_rerun_decodes_nothing_and_a_changed_image_is_a_new_run(tmp_path: Path, decodes: list[str]) -> None:
    data = make_mss_dir(tmp_path / "data", n_chat=2, n_embodied=1)
    store = tmp_path / "s" / "runs.sqlite"
    assert cli(data, store).exit_code == 0
    first = len(decodes)
    assert first > 0
    st = RunStore(store, readonly=True)
    try:
        assert len(st.image_checks(ImagePolicy().max_side)) == first
        [run_id] = [r.run_id for r in st.runs()]
    finally:
        st.close()
    assert cli(data, store).exit_code == 0
    assert len(decodes) == first  # the re-run read no image
    (data / "chat" / "unsafe_0.png").write_bytes(png((1, 2, 3)))
    assert cli(data, store).exit_code == 0
    assert decodes[first:] == ["unsafe_0.png"]  # only the changed file was checked again
    st = RunStore(store, readonly=True)
    try:
        ids = sorted(r.run_id for r in st.runs())
    finally:
        st.close()
    assert len(ids) == 2 and run_id in ids  # new content, new run: old answers are never reused
