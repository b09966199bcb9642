"""The Suite protocol exercised by every suite, and the shared options meaning the same everywhere.

Each test is parametrised over all registered suites: MSSBench and MTMCS on their bundled demos, the
native suite on a small real JSONL file with images. The offline reference models and judges keep
it offline and deterministic.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from ctxsafe.cli import app
from ctxsafe.cli_run import SHARED
from ctxsafe.engine.store import RunStore
from ctxsafe.images import ImageStore
from ctxsafe.suites.pairs import first_pairs
from ctxsafe.suites.protocol import CommonOptions
from ctxsafe.suites.registry import SUITES, get_suite
from tests.test_robustness import native_file

SUITE_NAMES = sorted(SUITES)
DATA = Path(__file__).parent / "data"
MOSS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mossbench"
FIXTURES = {"siuo": DATA / "siuo", "vlsbench": DATA / "vlsbench", "mmsafety": DATA / "mmsafety",
            "figstep": DATA / "figstep", "xstest": DATA / "xstest", "cosafe": DATA / "cosafe", "mossbench": MOSS}


def flat(text: str) -> str:
    return re.sub(r"[\s│╭╮╰╯─┃┏┓┗┛━┡┩┃]+", " ", text)


@pytest.fixture(scope="module")
def native_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return native_file(tmp_path_factory.mktemp("native"), pairs=5, turns=2)


def data_for(name: str, native: Path) -> str | None:
    """The data each suite runs on here: its bundled demo (None), a fixture, or the real MOSSBench data."""
    if name == "mossbench" and not (MOSS / "benign.json").is_file():
        pytest.skip("real MOSSBench data not present at ../shared/data/mossbench")
    return str(native) if name == "native" else (str(FIXTURES[name]) if name in FIXTURES else None)


def data_args(name: str, native: Path) -> list[str]:
    data = data_for(name, native)
    return ["--data", data] if data else []


def cli(*args: str) -> Result:
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def run(name: str, native: Path, tmp: Path, *extra: str) -> tuple[Result, list[dict[str, object]]]:
    store, out = tmp / "runs.sqlite", tmp / "out"
    res = cli("run", name, *data_args(name, native), "--model", "ref:keyword-filter", "--no-progress",
              "--store", str(store), "--out", str(out), *extra)
    docs = [json.loads(p.read_text()) for p in sorted(out.glob("*.json"))] if out.exists() else []
    return res, docs


def test_every_suite_declares_the_protocol() -> None:
    for name, suite in SUITES.items():
        assert suite.name == name and suite.shape in ("paired", "unsafe-only", "benign-only")
        assert suite.judge_inputs and suite.settings and suite.summary
        own = {o.name for o in suite.options}
        assert not own & set(SHARED), f"{name} redefines a shared option"


@pytest.mark.parametrize("name", SUITE_NAMES)
def test_limit_keeps_the_first_n_pairs_of_each_split(name: str, native_data: Path, tmp_path: Path) -> None:
    suite = get_suite(name)
    extra = {o.name: o.default for o in suite.options}
    everything = list(suite.prepare(CommonOptions(data=data_for(name, native_data)), extra, ImageStore()).cases)
    res, [doc] = run(name, native_data, tmp_path, "--limit", "2")
    assert res.exit_code == 0, res.output
    stored = RunStore(tmp_path / "runs.sqlite").cases(str(doc["run_id"]))
    pairs: dict[str, set[str]] = defaultdict(set)
    available: dict[str, set[str]] = defaultdict(set)
    sides: Counter[str] = Counter()
    for c in stored:
        pairs[c.split].add(c.pair_id)
        sides[c.pair_id] += 1
    for c in everything:
        available[c.split].add(c.pair_id)
    assert pairs and all(len(p) == min(2, len(available[s])) for s, p in pairs.items()), pairs
    assert set(pairs) == {c.split for c in everything}
    assert {c.id for c in stored} == {c.id for c in first_pairs(everything, 2)}
    assert all(c.context in ("safe", "unsafe") for c in stored) and len(set(sides.values())) == 1
    if suite.shape == "paired":
        assert doc["paired"]["pairs"] == sum(len(p) for p in pairs.values())
    else:  # one-side suites never report pairs; every kept case is in its shape's denominator
        assert doc["paired"]["pairs"] == 0
        assert sum(b["n"] for b in doc["metrics"]["one_side"].values()) == len(stored)


@pytest.mark.parametrize("name", SUITE_NAMES)
def test_judge_none_plays_the_model_and_judges_nothing(name: str, native_data: Path, tmp_path: Path) -> None:
    res, [doc] = run(name, native_data, tmp_path, "--limit", "1", "--judge", "none")
    assert res.exit_code == 0, res.output
    assert all(ref is None for ref in doc["judges"].values())  # type: ignore[attr-defined]
    with sqlite3.connect(tmp_path / "runs.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM judgements").fetchone()[0] == 0
        assert db.execute("SELECT COUNT(*) FROM turns").fetchone()[0] > 0
    paired = doc["paired"]
    if get_suite(name).shape != "paired":
        blocks = doc["metrics"]["one_side"].values()  # type: ignore[index]
        assert blocks and all(b["failures"] == {"unjudged": b["n"]} for b in blocks)
        return
    assert paired["not_scored"]["n"] == paired["pairs"] > 0  # type: ignore[index]
    assert set(paired["not_scored_reasons"]) == {"safe unjudged", "unsafe unjudged"}  # type: ignore[index]


@pytest.mark.parametrize("name", SUITE_NAMES)
def test_shared_outputs_show_report_and_by_category(name: str, native_data: Path, tmp_path: Path) -> None:
    res, [doc] = run(name, native_data, tmp_path, "--limit", "1", "--show", "1", "--by-category")
    assert res.exit_code == 0, res.output
    text = flat(res.output)
    paired_suite = get_suite(name).shape == "paired"
    assert ("Paired outcomes" in text) == paired_suite and "results:" in text
    if not paired_suite:
        assert all(shape in text for shape in doc["metrics"]["one_side"])  # type: ignore[index]
    store = RunStore(tmp_path / "runs.sqlite")
    cases = store.cases(str(doc["run_id"]))
    first_pair = cases[0].pair_id
    for c in cases:
        if c.pair_id == first_pair:  # --show 1: both twins of the first pair, images by sha256
            assert c.id in text
            assert all(img.sha256 in text for img in c.context_images)
    assert doc["suite"] == name and doc["config"]["suite"] == name  # type: ignore[index]
    cells = doc["paired"]
    assert sum(cells[k]["n"] for k in ("both_right", "over_refusal", "miss", "both_wrong", "not_scored")) \
        == cells["pairs"]  # type: ignore[index]
    rep = cli("report", str(doc["run_id"]), "--store", str(tmp_path / "runs.sqlite"), "--out",
              str(tmp_path / "rep"), "--by-category")
    assert rep.exit_code == 0, rep.output
    again = json.loads((tmp_path / "rep" / f"{doc['run_id']}.json").read_text())
    assert again["metrics"] == doc["metrics"] and again["paired"] == doc["paired"]
    assert again["judges"] == doc["judges"]
    by_name = cli("report", str(doc["run_id"]), "--store", str(tmp_path / "runs.sqlite"), "--out",
                  str(tmp_path / "rep"), "--judge", "offline")
    assert by_name.exit_code == 0, by_name.output
    assert json.loads((tmp_path / "rep" / f"{doc['run_id']}.json").read_text())["judges"] == doc["judges"]
    missing = cli("report", str(doc["run_id"]), "--store", str(tmp_path / "runs.sqlite"), "--out",
                  str(tmp_path / "rep"), "--judge", "openai:never-used")
    assert missing.exit_code == 2 and "judgements by 'openai:never-used'" in flat(missing.output)
    shown = cli("show", str(doc["run_id"]), "--store", str(tmp_path / "runs.sqlite"), "--limit", "1")
    assert shown.exit_code == 0, shown.output
    judge_ids = [ref["id"] for ref in doc["judges"].values() if ref]  # type: ignore[attr-defined]
    assert judge_ids and all(j in flat(shown.output) for j in judge_ids)


def test_report_reads_the_suite_from_the_run_configuration(native_data: Path, tmp_path: Path) -> None:
    res, [doc] = run("native", native_data, tmp_path, "--limit", "1")
    assert res.exit_code == 0
    with sqlite3.connect(tmp_path / "runs.sqlite") as db:
        config = json.loads(db.execute("SELECT config FROM runs").fetchone()[0])
        db.execute("UPDATE runs SET config=?", (json.dumps({**config, "suite": "no-such-suite"}),))
    rep = cli("report", str(doc["run_id"]), "--store", str(tmp_path / "runs.sqlite"))
    assert rep.exit_code == 2 and "unknown suite 'no-such-suite'" in rep.output


@pytest.mark.parametrize("name", SUITE_NAMES)
def test_offline_judge_refuses_a_judge_input(name: str, native_data: Path, tmp_path: Path) -> None:
    """--judge-input describes what an LLM judge sees; the offline rules read text only, in every suite."""
    suite = get_suite(name)
    res, _ = run(name, native_data, tmp_path, "--judge-input", suite.judge_inputs[-1])
    assert res.exit_code == 2 and "drop --judge-input" in flat(res.output)
    assert not (tmp_path / "runs.sqlite").exists() or not RunStore(tmp_path / "runs.sqlite").runs()


def test_native_refuses_faithful_and_needs_data(tmp_path: Path, native_data: Path) -> None:
    res, _ = run("native", native_data, tmp_path, "--faithful")
    assert res.exit_code == 2 and "no published protocol" in res.output
    res = cli("run", "native", "--store", str(tmp_path / "s.sqlite"))
    assert res.exit_code == 2 and "needs --data" in res.output


def test_list_names_suites_settings_and_providers() -> None:
    res = cli("list")
    assert res.exit_code == 0
    text = flat(res.output)
    for name, suite in SUITES.items():
        assert name in text
        assert all(setting in text for setting in suite.settings)
    for provider in ("openai", "vllm", "ollama", "ref:always-refuse"):
        assert provider in text
    assert "Defenses" in text


@pytest.mark.parametrize("name", SUITE_NAMES)
def test_show_prints_a_pipelines_inner_steps(name: str, native_data: Path, tmp_path: Path) -> None:
    res, docs = run(name, native_data, tmp_path, "--limit", "1", "--defense", "self-reflection")
    assert res.exit_code == 0, res.output
    [defended] = [d for d in docs if d.get("defense") == "self-reflection"]
    assert "Defenses vs the bare model" in flat(res.output)
    with sqlite3.connect(tmp_path / "runs.sqlite") as db:
        inner = [r[0] for r in db.execute("SELECT step FROM turns WHERE run_id=? AND step LIKE 't%/%'",
                                          (defended["run_id"],))]
    assert inner, "self-reflection records its inner calls as sub-steps"
    shown = cli("show", str(defended["run_id"]), "--store", str(tmp_path / "runs.sqlite"), "--limit", "0")
    assert shown.exit_code == 0, shown.output
    text = flat(shown.output)
    assert all(f"[{step}]" in text for step in set(inner))
