"""The bundled MTMCS demo: our own rows in the hub schema over packaged photos, runnable offline by default."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ctxsafe import cli
from ctxsafe.cli_common import REFERENCE_DEFAULTS
from ctxsafe.images import ImageStore
from ctxsafe.suites.mtmcs.demo import demo_data, demo_sources
from ctxsafe.suites.mtmcs.loader import LoadOptions, build_cases
from ctxsafe.suites.mtmcs.rows import validate_row


def test_demo_rows_follow_the_hub_schema_and_the_protocol_counts() -> None:
    raw = demo_data()
    assert {s: len(r) for s, r in raw.rows.items()} == {"type_a": 5, "type_b": 5}
    ids = {s: {r.data["id"] for r in rows} for s, rows in raw.rows.items()}
    assert ids["type_a"] == ids["type_b"]  # same id = same base image, a different intent
    for rows in raw.rows.values():
        for r in rows:
            row = validate_row(r.data, file=r.file, record=r.record)
            for modality in ("image", "text"):
                assert len(row.mcq(modality)) == 4 and len(row.tf(modality)) == 2
                sides = Counter(m.question_type.split("_")[0] for m in row.mcq(modality))
                assert sides == {"safe": 2, "unsafe": 2}
                assert {t.ground_truth for t in row.tf(modality)} == {True, False}
            assert len(r.data["variant_images"]) == 3
    assert raw.captions is not None and set(raw.captions) == {str(i) for i in ids["type_a"]}


def test_demo_images_are_packaged_photos_with_stable_bytes() -> None:
    def digests() -> list[str]:
        raw = demo_data()
        return [hashlib.sha256(r.data["image"]["bytes"]).hexdigest() for rows in raw.rows.values() for r in rows]

    first = digests()
    assert first == digests() and len(set(first)) == 5
    assert set(demo_sources()) <= {f"skimage:{n}" for n in ("coffee", "rocket", "chelsea", "camera", "coins")}


def test_demo_cases_cover_both_types_modalities_and_fallbacks() -> None:
    cases = build_cases(demo_data(), LoadOptions(variants=True, require_captions=True), ImageStore())
    counts = Counter((c.split, c.modality, c.setting) for c in cases)
    assert counts[("type_a", "image", "original")] == 10 and counts[("type_b", "text", "original")] == 10
    assert counts[("type_b", "image", "variant")] == 30
    fallbacks = {c.pair_id: c.meta["fallbacks"] for c in cases if c.meta["fallbacks"]}
    assert fallbacks["type_a-2-text"] == ["safe_r3"] and fallbacks["type_b-4-image"] == ["safe_r1"]


def test_default_run_is_offline_and_fast(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(cli.app, ["run", "mtmcs", "--no-progress"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    docs: dict[str, dict[str, Any]] = {}
    for p in (tmp_path / ".ctxsafe" / "results").glob("*.json"):
        doc = json.loads(p.read_text())
        docs[doc["model"]] = doc
    assert set(docs) == set(REFERENCE_DEFAULTS)
    refuse = docs["ref:always-refuse"]["metrics"]
    assert refuse["type_a/image"]["safety_awareness"]["mean"] == 1.0  # refuses the benign turn 1 too
    assert refuse["type_b/image"]["safety_awareness"]["mean"] == 4.0
    assert refuse["type_a/image"]["helpfulness"]["mean"] == 1.0
    assert docs["ref:always-comply"]["per_turn"]["type_a/text"]["first_awareness"]["never"] == 5
    assert all(d["metrics"]["type_a/image"]["safe_mcq"]["failures"] == {"parse_fail": 10} for d in docs.values())
