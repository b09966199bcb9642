"""MTMCS rows -> cases: turn assembly (with fallbacks), probes, images, captions and clear data errors."""

from __future__ import annotations

import base64
import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest

from ctxsafe.errors import ConfigError, DataError
from ctxsafe.images import ImageStore
from ctxsafe.suites.mtmcs.loader import LoadOptions, build_cases
from ctxsafe.suites.mtmcs.rows import Dialogue, McqItem, assemble_turns, mcq_gold, mcq_side
from ctxsafe.suites.mtmcs.sources import read_data
from tests.mtmcs_data import dialogue, png, row, write_folder

FULL = dict(r1="R1", unsafe_r1="UR1", safe_r1="SR1", r2="R2", r3="R3", unsafe_r3="UR3", safe_r3="SR3")


def turns(split: str, **fields: str) -> Any:
    return assemble_turns(split, Dialogue(**dialogue(**fields)), file="f.jsonl", record="type_x[0] id=7")


def test_type_a_twins_differ_only_at_turn_three() -> None:
    t = turns("type_a", **FULL)
    assert t.unsafe == ("R1", "R2", "UR3")
    assert t.safe == ("R1", "R2", "SR3")
    assert t.fallbacks == ()


def test_type_b_twins_differ_only_at_turn_one() -> None:
    t = turns("type_b", **FULL)
    assert t.unsafe == ("UR1", "R2", "R3")
    assert t.safe == ("SR1", "R2", "R3")


@pytest.mark.parametrize(("split", "empty", "expected_safe", "expected_unsafe"), [
    ("type_a", "safe_r3", ("R1", "R2", "R3"), ("R1", "R2", "UR3")),
    ("type_a", "unsafe_r3", ("R1", "R2", "SR3"), ("R1", "R2", "R3")),
    ("type_b", "safe_r1", ("R1", "R2", "R3"), ("UR1", "R2", "R3")),
    ("type_b", "unsafe_r1", ("SR1", "R2", "R3"), ("R1", "R2", "R3")),
])
def test_empty_twin_field_falls_back_to_the_shared_one(split: str, empty: str, expected_safe: tuple[str, ...],
                                                       expected_unsafe: tuple[str, ...]) -> None:
    t = turns(split, **{**FULL, empty: "   "})
    assert t.safe == expected_safe
    assert t.unsafe == expected_unsafe
    assert t.fallbacks == (empty,)


@pytest.mark.parametrize(("split", "fields", "msg"), [
    ("type_a", {**FULL, "r2": ""}, "empty turn 2"),
    ("type_a", {**FULL, "safe_r3": "", "r3": ""}, "safe dialogue has an empty turn 3"),
    ("type_b", {**FULL, "unsafe_r1": "", "r1": ""}, "unsafe dialogue has an empty turn 1"),
])
def test_a_turn_empty_even_after_fallback_is_an_error_naming_the_row(split: str, fields: dict[str, str],
                                                                     msg: str) -> None:
    with pytest.raises(DataError, match=msg) as err:
        turns(split, **fields)
    assert "f.jsonl" in str(err.value) and "id=7" in str(err.value)


@pytest.mark.parametrize(("gt", "options", "letter"), [
    ("B", ["x", "y"], "B"), ("(b)", ["x", "y"], "B"), ("y", ["x", "y"], "B"), ("B. y", ["A. x", "B. y"], "B"),
    (" Y ", ["x", "y"], "B"),
])
def test_mcq_gold_is_a_letter_or_an_option_text(gt: str, options: list[str], letter: str) -> None:
    item = McqItem(question="q", question_type="safe", options=options, ground_truth=gt)
    assert mcq_gold(item, file="f", record="r") == letter


@pytest.mark.parametrize("gt", ["C", "z", ""])
def test_unresolvable_mcq_gold_is_an_error(gt: str) -> None:
    with pytest.raises(DataError, match="ground_truth"):
        mcq_gold(McqItem(question="q", question_type="safe", options=["x", "y"], ground_truth=gt), file="f",
                 record="r")


def test_mcq_side_by_question_type_prefix() -> None:
    def side(qt: str) -> str:
        return mcq_side(McqItem(question="q", question_type=qt, options=["x", "y"], ground_truth="A"),
                        file="f", record="r")

    assert side("unsafe_intent") == "unsafe"
    assert side("Safe-goal") == "safe"
    with pytest.raises(DataError, match="question_type"):
        side("intent")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    rows = {"type_a": [row(0, "type_a", "img/0.png"), row(1, "type_a", "img/1.png")],
            "type_b": [row(0, "type_b", "img/0.png")]}
    return write_folder(tmp_path / "data", rows, {"img/0.png": png((255, 0, 0)), "img/1.png": png((0, 0, 255))},
                        {"0": "A red square.", "1": "A blue square."})


def load(path: Path | str, **opts: Any) -> list[Any]:
    splits = opts.pop("splits", ("type_a", "type_b"))
    return build_cases(read_data(str(path), splits), LoadOptions(splits=splits, **opts), ImageStore())


def test_local_folder_gives_linked_pairs_with_probes_and_images(folder: Path) -> None:
    cases = {c.id: c for c in load(folder)}
    assert len(cases) == 3 * 2 * 2  # rows x modalities x twins
    safe, unsafe = cases["type_a-0-image-safe"], cases["type_a-0-image-unsafe"]
    assert safe.pair_id == unsafe.pair_id == "type_a-0-image"
    assert [m.text_content() for m in unsafe.turns] == ["benign 0", "probing 0", "harmful 0"]
    assert safe.image_placement == "latest_user" and safe.system is None
    assert safe.context_images == unsafe.context_images and len(safe.context_images) == 1
    assert [(p.id, p.kind, p.gold) for p in safe.probes] == [("mcq0", "mcq", "A"), ("mcq1", "mcq", "A")]
    assert [(p.id, p.gold) for p in unsafe.probes] == [("mcq2", "B"), ("mcq3", "B"), ("tf0", True), ("tf1", False)]
    assert all(p.attach_images for p in unsafe.probes)
    assert "{transcript}" in unsafe.probes[0].template and "B. unsafe goal" in unsafe.probes[0].template
    assert unsafe.meta["caption"] == "A red square." and unsafe.gold == {"type": "A", "risk_turn": 3}
    text = cases["type_b-0-text-unsafe"]
    assert text.context_images == () and text.modality == "text"
    assert not any(p.attach_images for p in text.probes)
    assert text.turns[0].text_content() == "harmful goal 0 (text)"


def test_type_and_modality_selection_and_limit(folder: Path) -> None:
    cases = load(folder, splits=("type_a",), modalities=("text",), limit=1)
    assert [c.id for c in cases] == ["type_a-0-text-safe", "type_a-0-text-unsafe"]


def test_variant_images_add_their_own_pairs(tmp_path: Path) -> None:
    inline = {"bytes": base64.b64encode(png((1, 2, 3))).decode()}
    rows = {"type_a": [row(0, "type_a", "0.png", variant_images=["v1.png", inline])]}
    root = write_folder(tmp_path / "d", rows, {"0.png": png((9, 9, 9)), "v1.png": png((8, 8, 8))})
    cases = load(root, splits=("type_a",), modalities=("image",), variants=True)
    assert [c.pair_id for c in cases[::2]] == ["type_a-0-image", "type_a-0-image-v1", "type_a-0-image-v2"]
    assert [c.setting for c in cases[::2]] == ["original", "variant", "variant"]
    assert len({c.context_images[0].sha256 for c in cases}) == 3


def test_in_row_base64_bytes_and_json_files(tmp_path: Path) -> None:
    image = {"bytes": base64.b64encode(png((5, 5, 5))).decode(), "path": "x.png"}
    root = write_folder(tmp_path / "d", {"type_b": [row(3, "type_b", image)]}, fmt="json")
    cases = load(root, splits=("type_b",), modalities=("image",))
    assert cases[0].context_images[0].media_type == "image/png"


def test_single_row_file_named_after_its_split(folder: Path) -> None:
    cases = load(folder / "type_a.jsonl", splits=("type_a",))
    assert len(cases) == 8


def test_faithful_needs_a_caption_for_every_image_row(tmp_path: Path) -> None:
    rows = {"type_a": [row(0, "type_a", "0.png"), row(4, "type_a", "0.png")]}
    root = write_folder(tmp_path / "d", rows, {"0.png": png((1, 1, 1))}, captions={"0": "A dark square."})
    assert len(load(root, splits=("type_a",), modalities=("text",), require_captions=True)) == 4  # text: no image
    with pytest.raises(DataError, match=r"caption .*row id 4") as err:
        load(root, splits=("type_a",), require_captions=True)
    assert "type_a.jsonl" in str(err.value) and "id=4" in str(err.value)


@pytest.mark.parametrize(("bad", "msg"), [
    ({"multimodal_mcq": [{"question": "q", "question_type": "safe", "options": ["x"], "ground_truth": "A"}]},
     "multimodal_mcq.0.options"),
    ({"multimodal_tf": [{"question": "q", "ground_truth": "maybe"}]}, "multimodal_tf.0.ground_truth"),
    ({"multimodal_dialogue": None}, "no multimodal_dialogue"),
    ({"image": "missing.png"}, "does not exist"),
    ({"image": "../outside.png"}, "leaves the data folder"),
    ({"image": None}, "no image"),
])
def test_malformed_rows_are_errors_naming_file_and_row(tmp_path: Path, bad: dict[str, Any], msg: str) -> None:
    rows = {"type_a": [row(0, "type_a", "0.png"), {**row(9, "type_a", "0.png"), **bad}]}
    root = write_folder(tmp_path / "d", rows, {"0.png": png((1, 1, 1))})
    with pytest.raises(DataError, match=msg) as err:
        load(root, splits=("type_a",))
    assert "id=9" in str(err.value) or "missing.png" in str(err.value)


def test_corrupt_image_names_file_and_row(tmp_path: Path) -> None:
    root = write_folder(tmp_path / "d", {"type_b": [row(2, "type_b", "bad.png")]}, {"bad.png": b"not a png"})
    with pytest.raises(DataError, match="corrupt") as err:
        load(root, splits=("type_b",))
    assert "bad.png" in str(err.value) and "id=2" in str(err.value)


def test_bad_json_line_and_duplicate_ids(tmp_path: Path) -> None:
    root = tmp_path / "d"
    root.mkdir()
    (root / "type_a.jsonl").write_text('{"id": 1}\n{oops\n', encoding="utf-8")
    with pytest.raises(DataError, match="line 2"):
        load(root, splits=("type_a",))
    dup = write_folder(tmp_path / "e", {"type_a": [row(1, "type_a", "0.png"), row(1, "type_a", "0.png")]},
                       {"0.png": png((1, 1, 1))})
    with pytest.raises(DataError, match="duplicate row id 1"):
        load(dup, splits=("type_a",))


def test_missing_split_and_unknown_options(folder: Path, tmp_path: Path) -> None:
    only_a = write_folder(tmp_path / "a", {"type_a": [row(0, "type_a", "0.png")]}, {"0.png": png((1, 1, 1))})
    with pytest.raises(DataError, match="no rows for split type_b"):
        load(only_a)
    with pytest.raises(ConfigError, match="modality"):
        load(folder, modalities=("audio",))


@pytest.mark.skipif(importlib.util.find_spec("pyarrow") is not None, reason="pyarrow is installed")
def test_parquet_without_pyarrow_says_what_to_install(tmp_path: Path) -> None:
    root = tmp_path / "p"
    root.mkdir()
    (root / "type_a-00000-of-00001.parquet").write_bytes(b"PAR1")
    with pytest.raises(ConfigError, match="pyarrow"):
        load(root, splits=("type_a",))


class _FakeImage:
    def __init__(self, decode: bool = True) -> None:
        self.decode = decode


class _FakeSequence:
    def __init__(self, feature: Any) -> None:
        self.feature = feature


class _FakeDataset:
    """Just enough of `datasets.Dataset` for the hub path: features, cast_column, iteration."""

    def __init__(self, rows: list[dict[str, Any]], features: dict[str, Any]) -> None:
        self.rows, self.features = rows, features

    def cast_column(self, name: str, feature: Any) -> _FakeDataset:
        return _FakeDataset(self.rows, {**self.features, name: feature})

    def __iter__(self) -> Any:
        undecoded = isinstance(self.features["image"], _FakeImage) and not self.features["image"].decode
        assert undecoded, "images must be read as their original bytes"
        return iter(self.rows)


def test_hub_path_reads_each_split_with_undecoded_images(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, str]] = []
    image = {"bytes": png((7, 7, 7)), "path": "same-name.png"}

    def load_dataset(repo: str, split: str) -> _FakeDataset:
        calls.append((repo, split))
        rows = [row(i, split, image) for i in range(2)]
        return _FakeDataset(rows, {"image": _FakeImage(), "variant_images": _FakeSequence(_FakeImage())})

    fake = type(sys)("datasets")
    fake.load_dataset, fake.Image, fake.Sequence = load_dataset, _FakeImage, _FakeSequence  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "datasets", fake)
    raw = read_data("hf://", ("type_a", "type_b"))
    assert calls == [("ND-25/MCS-bench", "type_a"), ("ND-25/MCS-bench", "type_b")]
    cases = build_cases(raw, LoadOptions(modalities=("image",)), ImageStore())
    assert len(cases) == 8
    # rows sharing a bare file name still get their own image entries
    assert {c.context_images[0].source for c in cases} == {
        f"hf://ND-25/MCS-bench/{s}#{i}/same-name.png" for s in ("type_a", "type_b") for i in (0, 1)}
