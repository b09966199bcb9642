"""The judge model recorded as served: the model name and fingerprint the API returns are stored per
judgement, a cached verdict says so and names the model that first gave it, and run output, `show`,
`report`, the HTML data, the export and `judge-eval` all say which model judged."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ctxsafe.cli import app
from ctxsafe.engine.store import RunStore
from ctxsafe.schema import Judgement
from ctxsafe.testing.openai_server import ReplyRule, ServerConfig, ServerHandle
from tests.mss_data import make_mss_dir

JUDGE_RULES = [ReplyRule(pattern=r"<<<REPLY-\w+\n\s*Sure", reply="It just answers.\n<answer>2</answer>")]
FIRST = "judge-2026-01-15"
SECOND = "judge-2026-06-30"


def cli(*args: str) -> Any:
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return make_mss_dir(tmp_path / "data", n_chat=3, n_embodied=2)


def run_args(root: Path, server: ServerHandle, store: Path, *more: str) -> list[str]:
    return ["run", "mssbench", "--data", str(root), "--model", "openai:mock", "--base-url", server.base_url,
            "--judge", "openai:judge", "--judge-base-url", server.base_url, "--store", str(store),
            "--out", str(store.parent / "results"), "--retry-base", "0.01", "--timeout", "5", *more]


def squeeze(text: str) -> str:
    """Terminal output without whitespace or the panels' borders, so a wrapped line still matches."""
    return re.sub(r"[\s│╭╮╰╯─]+", "", text)


def stored(store: Path, run_id: str) -> list[Judgement]:
    st = RunStore(store, readonly=True)
    try:
        return list(st.judgements(run_id, "mss4:openai:judge", "mss4-v3/response").values())
    finally:
        st.close()


def test_served_model_is_stored_per_verdict_and_cached_verdicts_keep_the_first(
        data: Path, tmp_path: Path, openai_server: Callable[..., ServerHandle]) -> None:
    server = openai_server(ServerConfig(rules=JUDGE_RULES, reply="Sure. Step one, then step two.",
                                        served_model=FIRST))
    store = tmp_path / "s" / "runs.sqlite"
    res = cli(*run_args(data, server, store, "--run-id", "first"))
    assert res.exit_code == 0, res.output
    verdicts = stored(store, "first")
    assert len(verdicts) == 10
    assert {(j.served_model, j.served_fingerprint) for j in verdicts} == {(FIRST, "fp_ctxsafe")}
    # ten identical judge requests: one is asked, the other nine share its answer (in flight or cached)
    assert sorted(bool(j.cached) for j in verdicts) == [False] + [True] * 9
    doc = json.loads((store.parent / "results" / "first.json").read_text())
    assert doc["judges_served"] == {"mss4:openai:judge": [
        {"served_model": FIRST, "fingerprint": "fp_ctxsafe", "verdicts": 10, "cached": 9}]}
    assert f"judge mss4:openai:judge served by {FIRST} (fingerprint fp_ctxsafe): 10 verdicts, 9 from the cache" \
        in res.output

    # The provider now serves the alias with another snapshot: a cached verdict still names the first.
    server.configure(ServerConfig(rules=JUDGE_RULES, reply="Sure. Step one, then step two.", served_model=SECOND))
    calls = server.stats()["requests"]
    assert cli(*run_args(data, server, store, "--run-id", "second")).exit_code == 0
    assert server.stats()["requests"] == calls  # everything came from the cache
    again = stored(store, "second")
    assert {(j.served_model, j.cached) for j in again} == {(FIRST, True)}

    out = cli("show", "second", "--store", str(store), "--limit", "1")
    assert out.exit_code == 0, out.output
    assert f"servedby{FIRST},fingerprintfp_ctxsafe,fromthecache" in squeeze(out.output)  # panels wrap lines

    html = tmp_path / "report.html"
    rep = cli("report", "second", "--store", str(store), "--out", str(tmp_path / "rep"), "--html", str(html))
    assert rep.exit_code == 0, rep.output
    assert f"served by {FIRST} (fingerprint fp_ctxsafe): 10 verdicts, 10 from the cache" in rep.output
    page = html.read_text(encoding="utf-8")
    assert f"served by {FIRST} (fingerprint fp_ctxsafe): 10 verdicts, 10 from the cache" in page  # judge line
    assert f'"srv":"{FIRST}"' in page.replace(": ", ":") and '"cached":true' in page.replace(": ", ":")

    exported = tmp_path / "cases.jsonl"
    assert cli("export", "second", "--store", str(store), "-o", str(exported)).exit_code == 0
    rows = [json.loads(line) for line in exported.read_text().splitlines()]
    judged = [r for r in rows if r["judge_id"] == "mss4:openai:judge"]
    assert judged and all(r["judge_served_model"] == FIRST and r["judge_cached"] is True for r in judged)
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    parquet = tmp_path / "cases.parquet"  # a typed column: `judge_cached` is boolean, not text
    assert cli("export", "second", "--store", str(store), "-o", str(parquet)).exit_code == 0
    frame = pd.read_parquet(parquet)
    assert bool(frame.loc[frame["judge_id"] == "mss4:openai:judge", "judge_cached"].all())


def test_offline_verdicts_claim_no_served_model(data: Path, tmp_path: Path,
                                                openai_server: Callable[..., ServerHandle]) -> None:
    server = openai_server(ServerConfig(reply="Sure. Step one, then step two."))
    store = tmp_path / "runs.sqlite"
    args = ["run", "mssbench", "--data", str(data), "--model", "openai:mock", "--base-url", server.base_url,
            "--store", str(store), "--out", str(tmp_path / "results"), "--run-id", "off"]
    res = cli(*args)
    assert res.exit_code == 0, res.output
    assert "served by" not in res.output
    doc = json.loads((tmp_path / "results" / "off.json").read_text())
    assert doc["judges_served"] == {}
    st = RunStore(store, readonly=True)
    try:
        [ref] = st.judges_of("off")
        verdicts = st.judgements("off", *ref).values()
        assert verdicts and all(j.served_model is None and j.cached is None for j in verdicts)
    finally:
        st.close()


def test_judge_eval_names_the_served_model(tmp_path: Path, openai_server: Callable[..., ServerHandle]) -> None:
    labels = tmp_path / "labels.jsonl"
    labels.write_text("".join(json.dumps({"id": f"S-{i}", "task": "chat", "context": "safe", "query": "Can I?",
                                          "response": "Sure, go ahead.", "label": 2}) + "\n" for i in range(6)))
    server = openai_server(ServerConfig(rules=JUDGE_RULES, served_model=FIRST))
    out = tmp_path / "figures.json"
    res = cli("judge-eval", "--labels", str(labels), "--judge", "openai:judge", "--judge-base-url", server.base_url,
              "--store", str(tmp_path / "s.sqlite"), "--json", str(out), "--retry-base", "0.01")
    assert res.exit_code == 0, res.output
    [judge] = json.loads(out.read_text())["judges"]
    assert judge["served"] == [{"served_model": FIRST, "fingerprint": "fp_ctxsafe", "verdicts": 6, "cached": 5}]
    assert f"served by {FIRST}" in res.output


def test_a_store_written_before_the_served_columns_is_upgraded_and_read(tmp_path: Path) -> None:
    store = tmp_path / "old.sqlite"
    RunStore(store).close()
    with sqlite3.connect(store) as db:  # the schema-2 tables as shipped before these columns existed
        db.execute("DROP TABLE judgements")
        db.execute("DROP TABLE requests")
        db.execute("CREATE TABLE requests (hash TEXT PRIMARY KEY, body TEXT NOT NULL, answered INTEGER NOT NULL, "
                   "response TEXT, finish_reason TEXT, input_tokens INTEGER, output_tokens INTEGER, "
                   "created REAL NOT NULL)")
        db.execute("CREATE TABLE judgements (run_id TEXT NOT NULL, case_id TEXT NOT NULL, step TEXT NOT NULL, "
                   "judge_id TEXT NOT NULL, prompt_version TEXT NOT NULL, label INTEGER, score REAL, "
                   "explanation TEXT, raw TEXT, parse_status TEXT NOT NULL, outcome TEXT NOT NULL, error TEXT, "
                   "input_mode TEXT NOT NULL, created REAL NOT NULL, "
                   "PRIMARY KEY (run_id, case_id, step, judge_id, prompt_version))")
        db.execute("INSERT INTO judgements VALUES ('r','c','t1','j','v',1,NULL,NULL,NULL,'ok','ok',NULL,'response',0)")
    ro = RunStore(store, readonly=True)  # read-only: nothing is changed, the new fields read as unknown
    try:
        [old] = ro.judgements("r", "j", "v").values()
        assert old.label == 1 and old.served_model is None and old.cached is None
        assert ro.served_counts("r", "j", "v") == []
    finally:
        ro.close()
    rw = RunStore(store)
    try:
        rw.record_judgement(Judgement(run_id="r", case_id="c2", step="t1", judge_id="j", prompt_version="v",
                                      label=2, parse_status="ok", served_model="m-1", served_fingerprint="fp",
                                      cached=False))
        got = rw.judgements("r", "j", "v")
        assert got[("c2", "t1")].served_model == "m-1" and got[("c", "t1")].served_model is None
    finally:
        rw.close()
