"""Every shipped label file loads through the same strict loader judge-eval uses.

A malformed line, a repeated id or a record filed under the wrong author would otherwise surface only when
someone measures a judge on that file, possibly after it was trained on or read as a holdout.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ctxsafe.judges.labelled import LabelKind, load_labels
from ctxsafe.judges.second_reading import load_reading

LABELS = Path(__file__).resolve().parents[1] / "labels"
KIND_OF_FOLDER: dict[str, LabelKind] = {"mssbench": "mss4", "mtmcs": "mtmcs"}
AUTHOR_FILES = sorted(p for folder in KIND_OF_FOLDER for p in (LABELS / folder).glob("author_*.jsonl"))
READINGS = sorted((LABELS / "second_reading").glob("author_*_*.jsonl"))


def test_the_label_folders_hold_files() -> None:
    assert {p.parent.name for p in AUTHOR_FILES} == set(KIND_OF_FOLDER)
    assert READINGS


@pytest.mark.parametrize("path", AUTHOR_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_author_file_loads_with_its_folder_s_shape_and_author(path: Path) -> None:
    kind, items = load_labels(path)  # raises on bad JSON, a bad field or a repeated id, naming the line
    assert kind == KIND_OF_FOLDER[path.parent.name]
    author = path.stem.removeprefix("author_")
    wrong = [it.id for it in items
             if not it.id.startswith(f"{author}-") or (it.model_extra or {}).get("author", author) != author]
    assert not wrong, f"{path.name}: records of another author: {wrong[:5]}"


@pytest.mark.parametrize("path", READINGS, ids=lambda p: p.name)
def test_second_reading_covers_only_records_that_exist(path: Path) -> None:
    folder = "mssbench" if path.stem.endswith("_mssbench") else "mtmcs"
    reading = load_reading(path, KIND_OF_FOLDER[folder])
    known = {json.loads(line)["id"] for p in (LABELS / folder).glob("author_*.jsonl")
             for line in p.read_text(encoding="utf-8").splitlines() if line.strip()}
    assert reading and set(reading) <= known, sorted(set(reading) - known)[:5]
