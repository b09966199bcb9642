"""Cost in the reports: calls, tokens and currency per role and per run, recomputed from the store; a model
with no price, or a call without recorded tokens, makes the cost "unknown", never zero."""

from __future__ import annotations

import csv
import json
import re
import sqlite3
from collections.abc import Callable
from pathlib import Path

from ctxsafe.engine.store import RunStore
from ctxsafe.providers.pricing import PriceTable
from ctxsafe.report.cost import billed, judge_calls, money, run_cost, total
from ctxsafe.schema import Judgement, Usage
from ctxsafe.testing.openai_server import ServerConfig, ServerHandle
from ctxsafe.testing.synthetic_store import synthetic_run
from tests.cli_process import run_ctxsafe


def _steps(store: RunStore, run_id: str) -> list[tuple[str, tuple[int | None, int | None], int]]:
    return [("model", (rec.usage.input_tokens, rec.usage.output_tokens), 1) for rec in store.turns(run_id).values()]


def test_roles_are_priced_and_unknown_stays_unknown(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    run_id = synthetic_run(path, "r", 10, model="openai:gpt-4o")  # 10 steps of 60 input + 40 output tokens
    store = RunStore(path)
    try:
        judge = "mss4:openai:gpt-4o-mini"
        store.record_judgements([
            *(Judgement(run_id=run_id, case_id=f"c{i:05d}", step="t1", judge_id=judge, prompt_version="v",
                        label=0, parse_status="ok", usage=Usage(input_tokens=1000, output_tokens=100))
              for i in range(4)),
            Judgement(run_id=run_id, case_id="c00004", step="t1", judge_id=judge, prompt_version="v", label=0,
                      parse_status="ok"),  # tokens not recorded
            Judgement(run_id=run_id, case_id="c00000", step="t1", judge_id="guard:llama-guard-4@vllm:lg4",
                      prompt_version="g", label=1, parse_status="ok", usage=Usage(input_tokens=5, output_tokens=1)),
        ])
        info = store.run(run_id)
        assert info is not None
        failed = billed("error", (None, None))  # a failed call with no tokens was not billed: 0, not unknown
        roles = run_cost(info.config, [*_steps(store, run_id), ("model", failed, 1)], judge_calls(store, run_id),
                         PriceTable())
    finally:
        store.close()
    assert billed("ok", (None, None)) == (None, None)  # an answered call without tokens stays unknown
    assert roles["model"].calls == 11 and roles["model"].input_tokens == 600 and roles["model"].output_tokens == 400
    assert roles["model"].cost_usd is not None
    assert abs(roles["model"].cost_usd - 10 * (60 * 2.50 + 40 * 10.00) / 1e6) < 1e-12
    assert roles["judge"].calls == 5 and roles["judge"].input_tokens == 4000
    assert roles["judge"].cost_usd is None  # one call without tokens: unknown, not the priced part
    assert abs(roles["judge"].cost - 4 * (1000 * 0.15 + 100 * 0.60) / 1e6) < 1e-12
    assert money(roles["judge"]) == "unknown ($0.0008 priced; 1 calls without recorded tokens)"
    assert roles["guard"].calls == 1 and roles["guard"].cost_usd == 0.0  # a local vLLM guard is free
    assert total(roles).cost_usd is None and total(roles).calls == 17


def test_report_prints_cost_by_role_and_prices_override(tmp_path: Path) -> None:
    store = tmp_path / "s.sqlite"
    run_id = synthetic_run(store, "r", 10, model="openai:mystery-model")
    out = tmp_path / "out"
    res = run_ctxsafe("report", run_id, "--store", str(store), "--out", str(out), "--html", str(tmp_path / "r.html"))
    assert res.returncode == 3, res.stderr  # the synthetic run plants a failed step
    flat = " ".join(res.stdout.split())
    assert "unknown ($0.0000 priced; 10 calls to a model with no price)" in flat
    doc = json.loads((out / f"{run_id}.json").read_text())
    assert doc["cost"]["total"]["cost_usd"] is None and doc["cost"]["total"]["unpriced_calls"] == 10
    html = (tmp_path / "r.html").read_text()
    assert re.search(r'<table class="cost">.*<td>model</td><td>10</td><td>600</td><td>400</td><td>unknown', html)

    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"mystery-model": {"input": 1, "output": 2}}))
    res = run_ctxsafe("report", run_id, "--store", str(store), "--out", str(out), "--prices", str(prices))
    assert "$0.0014" in res.stdout  # 10 x (60 x $1 + 40 x $2) per million tokens
    assert json.loads((out / f"{run_id}.json").read_text())["cost"]["roles"]["model"]["cost_usd"] == 0.0014


def test_export_prices_each_step(tmp_path: Path) -> None:
    store = tmp_path / "s.sqlite"
    run_id = synthetic_run(store, "r", 4, model="openai:gpt-4o")
    res = run_ctxsafe("export", run_id, "--store", str(store), "-o", str(tmp_path / "c.csv"))
    assert res.returncode == 0, res.stderr
    rows = list(csv.DictReader((tmp_path / "c.csv").open(encoding="utf-8")))
    assert rows and all(float(r["cost_usd"]) == (60 * 2.50 + 40 * 10.00) / 1e6 for r in rows)


def test_an_llm_judge_records_its_tokens_and_the_report_prices_them(
        tmp_path: Path, openai_server: Callable[..., ServerHandle]) -> None:
    server = openai_server(ServerConfig(reply="Sure, here you go."))
    data = tmp_path / "cases.jsonl"
    data.write_text("".join(json.dumps({"id": f"d{p}-{c}", "pair_id": f"d{p}", "context": c,
                                        "turns": [f"Dialogue {p}-{c}: hello."]}) + "\n"
                            for p in range(2) for c in ("safe", "unsafe")), encoding="utf-8")
    store, out = tmp_path / "runs.sqlite", tmp_path / "out"
    run = run_ctxsafe("run", "native", "--data", str(data), "--model", "openai:mock", "--base-url", server.base_url,
                   "--judge", "openai:judge", "--judge-base-url", server.base_url, "--store", str(store),
                   "--out", str(out), "--no-progress", "--max-attempts", "1")
    assert run.returncode in (0, 3), run.stderr
    run_id = json.loads(next(out.glob("*.json")).read_text())["run_id"]
    with sqlite3.connect(store) as db:
        judged = db.execute("SELECT COUNT(*) FROM judgements").fetchone()[0]
        j_in, j_out, n = db.execute("SELECT SUM(input_tokens), SUM(output_tokens), COUNT(*) FROM judge_usage"
                                    ).fetchone()
        m_in, m_out = db.execute("SELECT SUM(input_tokens), SUM(output_tokens) FROM turns").fetchone()
    assert n == judged == 4 and j_in > 0 and j_out > 0  # every judge call's tokens are kept
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"mock": {"input": 1000, "output": 2000}, "judge": {"input": 10, "output": 20}}))
    res = run_ctxsafe("report", run_id, "--store", str(store), "--out", str(out), "--prices", str(prices))
    cost = json.loads((out / f"{run_id}.json").read_text())["cost"]
    assert cost["roles"]["judge"]["cost_usd"] == round((j_in * 10 + j_out * 20) / 1e6, 6), res.stdout
    assert cost["roles"]["model"]["cost_usd"] == round((m_in * 1000 + m_out * 2000) / 1e6, 6)
    assert cost["total"]["cost_usd"] == round(cost["roles"]["judge"]["cost_usd"] + cost["roles"]["model"]["cost_usd"],
                                              6)
