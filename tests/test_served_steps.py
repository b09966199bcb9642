"""Which model served each step, for the model under test and for guards as for judges: the model name and
fingerprint the API returns are kept with the step's request, a cached step names the model that first
answered it, and `show`, the export and the HTML case view say so."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from ctxsafe.engine.store import RunStore
from ctxsafe.testing.openai_server import ReplyRule, ServerConfig, ServerHandle
from tests.mss_data import make_mss_dir
from tests.policy_helpers import cli

FIRST = "model-2026-01-15"
SECOND = "model-2026-06-30"


def squeeze(text: str) -> str:
    """Terminal output without whitespace or the panels' borders, so a wrapped line still matches."""
    return re.sub(r"[\s│╭╮╰╯─]+", "", text)


def test_the_model_under_test_is_recorded_as_served(tmp_path: Path,
                                                     openai_server: Callable[..., ServerHandle]) -> None:
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    data = make_mss_dir(tmp_path / "data", n_chat=2, n_embodied=1)
    server = openai_server(ServerConfig(reply="Sure. Step one, then step two.", served_model=FIRST))
    store = tmp_path / "runs.sqlite"

    def run(run_id: str) -> None:
        res = cli("run", "mssbench", "--data", str(data), "--model", "openai:mock", "--base-url", server.base_url,
                  "--store", str(store), "--out", str(tmp_path / "results"), "--run-id", run_id, "--no-progress")
        assert res.exit_code == 0, res.output

    run("first")
    st = RunStore(store, readonly=True)
    try:
        served = st.served_steps("first")
        assert len(served) == st.turn_count("first") > 0
        assert set(served.values()) == {(FIRST, "fp_ctxsafe")}
    finally:
        st.close()
    # The endpoint now serves another snapshot: every step comes from the cache and names the first one.
    server.configure(ServerConfig(reply="Sure. Step one, then step two.", served_model=SECOND))
    calls = server.stats()["requests"]
    run("second")
    assert server.stats()["requests"] == calls

    out = cli("show", "second", "--store", str(store), "--limit", "1")
    assert out.exit_code == 0, out.output
    assert f"servedby{FIRST},fingerprintfp_ctxsafe,fromthecache]" in squeeze(out.output)  # on the Model line
    assert SECOND not in out.output

    exported = tmp_path / "cases.jsonl"
    assert cli("export", "second", "--store", str(store), "-o", str(exported)).exit_code == 0
    rows = [json.loads(line) for line in exported.read_text().splitlines()]
    assert rows and all((r["served_model"], r["served_fingerprint"], r["cached"]) == (FIRST, "fp_ctxsafe", True)
                        for r in rows)

    parquet = tmp_path / "cases.parquet"  # typed columns: `cached` is a boolean column, not text
    assert cli("export", "second", "--store", str(store), "-o", str(parquet)).exit_code == 0
    frame = pd.read_parquet(parquet)
    assert str(frame["cached"].dtype) == "bool" and bool(frame["cached"].all())
    assert set(frame["served_model"]) == {FIRST}

    page = tmp_path / "report.html"
    assert cli("report", "second", "--store", str(store), "--out", str(tmp_path / "rep"), "--html",
               str(page)).exit_code == 0
    html = page.read_text(encoding="utf-8")
    data_blob = json.loads(html[html.index('id="ctxsafe-data"'):].split(">", 1)[1].split("</script>", 1)[0])
    steps = [s for c in data_blob["cases"] for s in c["steps"]]
    assert steps and all((s["srv"], s["fp"], s["cached"]) == (FIRST, "fp_ctxsafe", True) for s in steps)


def test_guard_calls_are_recorded_as_served(tmp_path: Path, openai_server: Callable[..., ServerHandle]) -> None:
    """A guarded run's guard sub-steps name the guard's snapshot; the offline model's steps name none."""
    guard = openai_server(ServerConfig(rules=[ReplyRule(pattern="sleeping pills|put someth", reply="unsafe\nS1"),
                                              ReplyRule(pattern=".", reply="safe")], served_model="guard-snap"))
    store = tmp_path / "runs.sqlite"
    res = cli("run", "mtmcs", "--model", "ref:always-comply", "--type", "a", "--modality", "image", "--limit", "1",
              "--store", str(store), "--out", str(tmp_path / "results"), "--no-progress",
              "--guard", f"llama-guard-4=vllm:lg4;base_url={guard.base_url};view=last;stage=input")
    assert res.exit_code == 0, res.output
    doc = json.loads(next((tmp_path / "results").glob("guards-*.json")).read_text())
    (guarded,) = doc["guarded_runs"]
    st = RunStore(store, readonly=True)
    try:
        served = st.served_steps(guarded["run_id"])
        turns = st.turns(guarded["run_id"])
    finally:
        st.close()
    guard_steps = {k for k, rec in turns.items() if "/guard-in" in k[1]}
    assert guard_steps and set(served) == guard_steps  # the reference model is offline: it names no model
    assert set(served.values()) == {("guard-snap", "fp_ctxsafe")}
    # The classifier pass's verdicts (judgements) name the guard's snapshot too.
    st = RunStore(store, readonly=True)
    try:
        [(judge_id, version)] = [ref for ref in st.judges_of(doc["run_id"]) if ref[0].startswith("guard:")]
        verdicts = st.judgements(doc["run_id"], judge_id, version).values()
        assert verdicts and {j.served_model for j in verdicts} == {"guard-snap"}
    finally:
        st.close()
    shown = cli("show", guarded["run_id"], "--case", "type_a-0-image-unsafe", "--store", str(store))
    assert shown.exit_code == 0, shown.output
    assert "[t1/guard-in]safe[servedbyguard-snap,fingerprintfp_ctxsafe" in squeeze(shown.output)
