"""`ctxsafe convert` writes native files that load back to the same cases; the published schema is current."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ctxsafe.cli import app
from ctxsafe.convert import native_schema, write_native
from ctxsafe.errors import ConfigError
from ctxsafe.images import ImageStore
from ctxsafe.schema import Case, Message, Probe
from ctxsafe.suites.native.loader import load_native
from ctxsafe.suites.protocol import CommonOptions
from ctxsafe.suites.registry import get_suite

DATA = Path(__file__).parent / "data"
MOSS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mossbench"
DOCS = Path(__file__).resolve().parents[1] / "docs"


def _same(suite: str, data: Path, tmp_path: Path, setting: str | None = None) -> list[Case]:
    s = get_suite(suite)
    extra = {o.name: o.default for o in s.options}
    if setting:
        extra["setting"] = setting
    original = s.prepare(CommonOptions(data=str(data)), extra, ImageStore()).cases
    args = ["convert", suite, "--data", str(data), "--out", str(tmp_path / suite)]
    res = CliRunner().invoke(app, args + (["--setting", setting] if setting else []), catch_exceptions=False)
    assert res.exit_code == 0, res.output
    back = load_native(tmp_path / suite / "cases.jsonl", ImageStore())
    assert [c.id for c in back] == [c.id for c in original]
    for a, b in zip(original, back, strict=True):
        assert [t.text_content() for t in a.turns] == [t.text_content() for t in b.turns]
        assert a.fixed_replies == b.fixed_replies and a.judge_context == b.judge_context
        assert [i.sha256 for i in a.context_images] == [i.sha256 for i in b.context_images]
        assert (a.context, a.pair_id, a.category) == (b.context, b.pair_id, b.category)
        assert b.meta["suite"] == suite
    return back


@pytest.mark.parametrize("suite", ["siuo", "vlsbench", "mmsafety", "figstep", "xstest", "cosafe"])
def test_round_trip(suite: str, tmp_path: Path) -> None:
    back = _same(suite, DATA / suite, tmp_path)
    if suite == "cosafe":
        assert back[2].fixed_replies[:2] != (None, None)


@pytest.mark.skipif(not (MOSS / "benign.json").is_file(), reason="real MOSSBench data not present")
def test_mossbench_pairs_stay_pairs(tmp_path: Path) -> None:
    back = _same("mossbench", MOSS, tmp_path, setting="pairs")
    assert len({c.pair_id for c in back}) * 2 == len(back)
    assert len(list((tmp_path / "mossbench" / "images").iterdir())) == len(back) // 2  # shared images, once


def test_what_native_cannot_express_is_refused(tmp_path: Path) -> None:
    case = Case(id="m", suite="mtmcs", context="safe", pair_id="m", turns=(Message.user("hi"),),
                probes=(Probe(id="q", kind="mcq", template="{transcript}"),))
    with pytest.raises(ConfigError, match="case m has post-dialogue probes"):
        write_native([case], ImageStore(), tmp_path)


def test_published_schema_is_current() -> None:
    published = json.loads((DOCS / "native-suite.schema.json").read_text())
    assert published == native_schema()
    assert published["version"] == "1.1" and "judge_context" in published["properties"]
    assert "pair_id" not in published["required"]
