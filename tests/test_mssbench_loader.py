"""MSSBench loader: official layout, settings, polarity, and bad input named precisely."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ctxsafe.errors import ConfigError, DataError
from ctxsafe.images import ImageStore
from ctxsafe.suites.mssbench.loader import load_mssbench
from tests.mss_data import SHARED_DATA, chat_record, copy_real_images, embodied_record, make_mss_dir


def load(root: Path, setting: str = "if", **kw: object) -> list:  # type: ignore[type-arg]
    return load_mssbench(root, setting, ImageStore(), **kw)  # type: ignore[arg-type]


def test_if_cases_pair_every_query_with_both_images(tmp_path: Path) -> None:
    chat = [chat_record(0, ["q a", "q b"]), chat_record(1)]
    root = make_mss_dir(tmp_path, chat=chat, embodied=[embodied_record(0, n_para=3)])
    cases = load(root)
    assert len(cases) == 2 * (2 + 1) + 2 * 3
    by_pair: dict[str, list] = {}  # type: ignore[type-arg]
    for c in cases:
        by_pair.setdefault(c.pair_id, []).append(c)
    assert all(sorted(x.context for x in v) == ["safe", "unsafe"] for v in by_pair.values())
    safe, unsafe = sorted(by_pair["chat-0-q1"], key=lambda c: c.context)
    assert safe.turns[0].text_content() == unsafe.turns[0].text_content() == "q b"
    assert safe.context_images[0].sha256 != unsafe.context_images[0].sha256
    assert safe.gold["correct_labels"] == [2, 3] and unsafe.gold["correct_labels"] == [0, 1]
    emb = sorted(by_pair["embodied-0-p2"], key=lambda c: c.context)
    assert [c.turns[0].text_content() for c in emb] == ["put cup 0 on table v2", "put cup 0 on stove v2"]
    assert emb[0].category == "property damage" and safe.category == "physical harm"
    assert "household robot" in (emb[0].system or "") and "assistant" in (safe.system or "")


def test_combine_json_is_accepted_too(tmp_path: Path) -> None:
    root = make_mss_dir(tmp_path, file_name="combine.json")
    assert len(load(root)) == 2 * 3 + 2 * 2


@pytest.mark.parametrize("setting", ["qc", "ic"])
def test_yes_no_polarity_differs_by_task(tmp_path: Path, setting: str) -> None:
    cases = load(make_mss_dir(tmp_path, n_chat=1, n_embodied=1), setting)
    gold = {(c.task, c.context): c.gold["expected_yes"] for c in cases}
    # chat: Yes = safe; embodied: Yes = there is an unsafe hint.
    assert gold == {("chat", "safe"): True, ("chat", "unsafe"): False,
                    ("embodied", "safe"): False, ("embodied", "unsafe"): True}
    assert all(c.system is None and "Answer:" in c.turns[0].text_content() for c in cases)


def test_ic_cap_needs_both_captions_unless_faithful(tmp_path: Path) -> None:
    root = make_mss_dir(tmp_path, n_chat=1, n_embodied=1)
    with pytest.raises(DataError, match=r"chat\[0\].*safe image"):
        load(root, "ic-cap")
    cases = load(root, "ic-cap", faithful=True)
    chat = {c.context: c.turns[0].text_content() for c in cases if c.task == "chat"}
    assert "a risky scene 0" in chat["unsafe"] and "description" not in chat["safe"]
    emb = {c.context: c.turns[0].text_content() for c in cases if c.task == "embodied"}
    assert "a hot stove" in emb["unsafe"] and "a table" in emb["safe"]


def test_unknown_setting_and_task(tmp_path: Path) -> None:
    root = make_mss_dir(tmp_path)
    with pytest.raises(ConfigError, match="setting 'multi-agent'"):
        load(root, "multi-agent")
    with pytest.raises(ConfigError, match="task 'kitchen'"):
        load(root, tasks=("kitchen",))


def test_missing_data_file_and_bad_json(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"no combined\.json"):
        load(tmp_path)
    (tmp_path / "combined.json").write_text('{"chat": [', encoding="utf-8")
    with pytest.raises(DataError, match=r"combined\.json.*invalid JSON at line 1"):
        load(tmp_path)


def test_malformed_record_names_file_and_record(tmp_path: Path) -> None:
    bad = chat_record(1)
    del bad["queries"]
    root = make_mss_dir(tmp_path, chat=[chat_record(0), bad])
    with pytest.raises(DataError, match=r"combined\.json, record chat\[1\]: malformed record \(queries"):
        load(root)
    wrong_type = embodied_record(0)
    wrong_type["safe_instructions"] = "not a list"
    root2 = make_mss_dir(tmp_path / "b", embodied=[wrong_type])
    with pytest.raises(DataError, match=r"record embodied\[0\].*safe_instructions"):
        load(root2)


def test_missing_and_corrupt_images_are_named(tmp_path: Path) -> None:
    root = make_mss_dir(tmp_path, n_chat=2, n_embodied=0)
    (root / "chat" / "unsafe_1.png").unlink()
    with pytest.raises(DataError, match=r"record chat\[1\].*unsafe_1\.png does not exist"):
        load(root, tasks=("chat",))
    (root / "chat" / "unsafe_1.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    with pytest.raises(DataError, match=r"chat/unsafe_1\.png.*corrupt or of an unsupported format"):
        load(root, tasks=("chat",))


@pytest.mark.parametrize("path", ["../outside.png", "/etc/passwd", "sub/../../outside.png"])
def test_image_paths_may_not_leave_the_data_folder(tmp_path: Path, path: str) -> None:
    (tmp_path / "outside.png").write_bytes(b"x")
    rec = chat_record(0)
    rec["unsafe_image_path"] = path
    root = make_mss_dir(tmp_path / "data", chat=[rec], embodied=[])
    with pytest.raises(DataError, match=r"record chat\[0\].*(leaves the data folder|is absolute)"):
        load(root, tasks=("chat",))


def test_symlink_out_of_the_data_folder_is_refused(tmp_path: Path) -> None:
    root = make_mss_dir(tmp_path / "data", n_chat=1, n_embodied=0)
    secret = tmp_path / "secret.png"
    secret.write_bytes((root / "chat" / "safe_0.png").read_bytes())
    (root / "chat" / "unsafe_0.png").unlink()
    os.symlink(secret, root / "chat" / "unsafe_0.png")
    with pytest.raises(DataError, match="leaves the data folder"):
        load(root, tasks=("chat",))


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="shared MOSSBench test photos (../shared/data) are absent")
def test_real_photos_go_through_the_image_path(tmp_path: Path) -> None:
    root = make_mss_dir(tmp_path, n_chat=0, n_embodied=0)
    benign = json.loads((SHARED_DATA / "benign.json").read_text())
    pids = [p for p, item in benign.items() if item["image"]][:4]
    names = copy_real_images(root, pids)
    chat = [{**chat_record(i), "safe_image_path": names[2 * i], "unsafe_image_path": names[2 * i + 1],
             "queries": [benign[pids[2 * i]]["question"]]} for i in range(2)]
    (root / "combined.json").write_text(json.dumps({"chat": chat, "embodied": []}))
    store = ImageStore()
    cases = load_mssbench(root, "if", store, tasks=("chat",))
    parts = [c.context_images[0] for c in cases]
    assert len({p.sha256 for p in parts}) == 4
    for p in parts:
        assert p.media_type == "image/jpeg" and p.policy == "original" and max(p.width, p.height) <= 512
        assert store.data_url(p).startswith("data:image/jpeg;base64,/9j/")
