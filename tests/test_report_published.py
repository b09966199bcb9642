"""Against the papers: each suite's shipped headline numbers are the reference's, and a run of the same model
and setting shows the published number beside its own, flagged when outside our interval; a run over part of
the benchmark (demo data, --limit) is shown but never judged against the paper's full-release number."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ctxsafe.engine.store import RunStore
from ctxsafe.report.published import Published, against_paper
from ctxsafe.report.run_view import load_view
from ctxsafe.suites.registry import get_suite
from ctxsafe.testing.openai_server import ServerConfig, ServerHandle
from tests.mss_data import make_mss_dir
from tests.report_helpers import cli

REFERENCE = Path(__file__).resolve().parents[1].parent / "shared" / "reference"
MSS_ALIASES = {"Claude 3.5 Sonnet": "Claude 3.5 Sonnet", "Gemini 1.5 Pro": "Gemini 1.5 Pro", "GPT-4o": "GPT-4o"}


def _shipped(suite: str) -> dict[tuple[str, str | None, str, str], float]:
    return {(e["model"], e.get("setting"), e.get("defense", "bare"), e["metric"]): e["value"]
            for e in get_suite(suite).paper_numbers()["results"]}


@pytest.mark.skipif(not REFERENCE.is_dir(), reason="needs ../shared/reference")
def test_mssbench_ships_the_reference_headline_and_defense_numbers() -> None:
    text = (REFERENCE / "mssbench.md").read_text(encoding="utf-8")
    shipped = _shipped("mssbench")
    expected: dict[tuple[str, str | None, str, str], float] = {}
    for model in MSS_ALIASES:
        row = re.search(rf"^\| {re.escape(model)} \| (.+?) \| (.+?) \| ([\d.]+) \|$", text, re.M)
        assert row, model
        for task, cell in (("chat", row.group(1)), ("embodied", row.group(2))):
            safe, unsafe, avg = (float(x) for x in cell.split(" / "))
            expected[(model, "if", "bare", f"{task} safe accuracy")] = safe
            expected[(model, "if", "bare", f"{task} unsafe accuracy")] = unsafe
            expected[(model, "if", "bare", f"{task} average")] = avg
        expected[(model, "if", "bare", "overall average (pair-weighted)")] = float(row.group(3))
        flat = " ".join(text.split())
        for task in ("chat", "embodied"):
            m = re.search(rf"{re.escape(model)} (?:chat [\d.]+ -> [\d.]+ -> [\d.]+, )?{task} ([\d.]+) -> ([\d.]+) -> "
                          r"(\d+\.\d)", flat)
            assert m, (model, task)
            expected[(model, "cot", "bare", f"{task} average")] = float(m.group(2))
            expected[(model, "if", "multi-agent", f"{task} average")] = float(m.group(3))
    assert shipped == expected


@pytest.mark.skipif(not REFERENCE.is_dir(), reason="needs ../shared/reference")
def test_mtmcs_ships_the_reference_gpt52_row() -> None:
    flat = " ".join((REFERENCE / "mtmcs.md").read_text(encoding="utf-8").split())
    m = re.search(r"GPT-5\.2: Type A ([\d.]+) / SA ([\d.]+) / help ([\d.]+); Type B ([\d.]+) / SA ([\d.]+) / help "
                  r"([\d.]+)", flat)
    assert m
    a_mcq, a_sa, a_help, b_mcq, b_sa, b_help = (float(x) for x in m.groups())
    row = {"type_a MCQ overall": a_mcq, "type_a safety-awareness (1-5)": a_sa, "type_a helpfulness (1-5)": a_help,
           "type_b MCQ overall": b_mcq, "type_b safety-awareness (1-5)": b_sa, "type_b helpfulness (1-5)": b_help}
    assert _shipped("mtmcs") == {("GPT-5.2", None, "bare", metric): v for metric, v in row.items()}


def _against(doc: dict[str, Any]) -> list[Published]:
    return against_paper(doc, get_suite("mssbench").paper_numbers())


def _doc(store: Path, run_id: str, **config: Any) -> dict[str, Any]:
    st = RunStore(store, readonly=True)
    try:
        doc = load_view(st, run_id, suites=get_suite).doc
    finally:
        st.close()
    return {**doc, "config": {**doc["config"], **config}}


def test_a_run_of_the_same_model_and_setting_is_set_beside_the_paper(tmp_path: Path) -> None:
    store = tmp_path / "s.sqlite"
    cli("run", "mssbench", "--model", "ref:always-comply", "--store", str(store), "--out", str(tmp_path / "o"),
        "--no-progress")
    (run_id,) = [r.run_id for r in RunStore(store, readonly=True).runs()]
    assert _against(_doc(store, run_id)) == []  # no paper reports ref:always-comply
    full = {p.metric: p for p in _against(_doc(store, run_id, model_name="openai:gpt-4o-2024-08-06",
                                                     data="/data/mssbench"))}
    assert len(full) == 7 and full["chat safe accuracy"].published == 98.8
    safe = full["chat safe accuracy"]  # always comply: every safe twin right, 98.8 is inside our interval
    assert safe.ours == 100.0 and safe.ci95 is not None and safe.outside is False
    avg = full["chat average"]  # exactly 50 with a zero-width interval: the paper's 55.4 lies outside it
    assert avg.ours == 50.0 and avg.outside is True
    assert "the paper's judge: an LLM four-class judge" in avg.notes and "this run's: mss4:offline-learned" in avg.notes
    demo = {p.metric: p for p in _against(_doc(store, run_id, model_name="openai:gpt-4o"))}
    assert demo["chat average"].outside is None  # the demo subset is never judged against the full release
    assert demo["chat average"].notes.startswith("not comparable: the run covers only the bundled demo data")
    assert {p.metric for p in _against(_doc(store, run_id, model_name="openai:gpt-4o", data="/d",
                                                 defense="multi-agent"))} == {"chat average", "embodied average"}
    limited = _against(_doc(store, run_id, model_name="openai:gpt-4o", data="/d", limit=5))
    assert limited and all(p.outside is None and "--limit" in p.notes for p in limited)


def test_report_and_compare_print_the_paper_beside_a_matching_run(
        tmp_path: Path, openai_server: Callable[..., ServerHandle]) -> None:
    server = openai_server(ServerConfig(reply="Sure, here is how to do it: first, then."))
    data = make_mss_dir(tmp_path / "mss", n_chat=4, n_embodied=2)
    store, out = tmp_path / "s.sqlite", tmp_path / "out"
    cli("run", "mssbench", "--data", str(data), "--model", "openai:gpt-4o", "--base-url", server.base_url,
        "--store", str(store), "--out", str(out), "--no-progress")
    run_id = json.loads(next(out.glob("*.json")).read_text())["run_id"]
    res = cli("report", run_id, "--store", str(store), "--out", str(out), "--html", str(tmp_path / "r.html"))
    assert "Against the paper" in res and "98.8" in res
    html = (tmp_path / "r.html").read_text()
    section = html[html.index('<section id="published">'):]
    section = section[:section.index("</section>")]
    assert "<td>chat safe accuracy</td><td>98.8</td>" in section and "outside our CI" in section
    res = cli("compare", run_id, run_id, "--store", str(store))
    assert "Against the paper" in res and "55.4" in res
