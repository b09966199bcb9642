"""Cost and budgets: `--dry-run` counts exactly the calls a real run then makes (and sends none);
`--max-cost` stops a run cleanly and the same command resumes it without repeating a call; the price
table is overridable and an unpriced hosted model costs "unknown", never zero."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from ctxsafe.engine.budget import Meter
from ctxsafe.errors import DataError
from ctxsafe.exit_codes import ExitCode
from ctxsafe.providers.pricing import Price, PriceTable
from ctxsafe.schema import Usage
from ctxsafe.testing.openai_server import ServerConfig, ServerHandle
from tests.cli_process import dialogue_cases, run_ctxsafe


def _total_calls(stdout: str) -> int:
    m = re.search(r"total: (\d+) calls", stdout)
    assert m, stdout
    return int(m.group(1))


def test_dry_run_counts_the_calls_a_real_run_makes(tmp_path: Path,
                                                   openai_server: Callable[..., ServerHandle]) -> None:
    server = openai_server(ServerConfig(echo_max_chars=60))  # a distinct reply per request, as real models give
    data = dialogue_cases(tmp_path / "data", 3)
    store, out = tmp_path / "runs.sqlite", tmp_path / "out"
    suite = ["native", "--data", str(data), "--model", "openai:mock", "--base-url", server.base_url,
             "--judge", "openai:judge", "--judge-base-url", server.base_url, "--store", str(store),
             "--out", str(out), "--no-progress", "--max-attempts", "1"]
    dry = run_ctxsafe("run", *suite, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "dry run, nothing was sent" in dry.stdout
    predicted = _total_calls(dry.stdout)
    assert predicted == 12 + 6 + 1  # 6 dialogues x 2 turns, the judge on each final turn, the judge's pre-flight
    assert server.stats()["requests"] == 0 and not out.exists()
    assert not store.exists()  # the dry run worked on a throwaway copy
    real = run_ctxsafe("run", *suite)
    assert real.returncode == ExitCode.FINISHED_WITH_ERRORS, real.stderr  # the scripted judge is unparseable
    assert server.stats()["chat_completions"] == predicted
    again = run_ctxsafe("run", *suite, "--dry-run")
    assert again.returncode == 0, again.stderr
    assert _total_calls(again.stdout) == 0  # everything is cached now: a real re-run would send nothing
    assert server.stats()["chat_completions"] == predicted


def test_max_cost_stops_cleanly_and_the_same_command_resumes(
        tmp_path: Path, openai_server: Callable[..., ServerHandle]) -> None:
    server = openai_server(ServerConfig(reply="Sure, here you go."))
    data = dialogue_cases(tmp_path / "data", 3)
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"mock": {"input": 1000, "output": 1000}}))  # ~ $0.01 a call
    store = tmp_path / "runs.sqlite"
    suite = ["native", "--data", str(data), "--model", "openai:mock", "--base-url", server.base_url,
             "--store", str(store), "--out", str(tmp_path / "out"), "--no-progress", "--concurrency", "1"]
    stopped = run_ctxsafe("run", *suite, "--prices", str(prices), "--max-cost", "0.04")
    assert stopped.returncode != 0
    assert "budget reached" in stopped.stderr and "re-run the same command" in stopped.stderr
    with sqlite3.connect(store) as db:
        done = db.execute("SELECT COUNT(*) FROM turns").fetchone()[0]
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    sent = server.stats()["chat_completions"]
    assert 0 < done == sent < 12  # stopped early; every call made is a stored turn
    resumed = run_ctxsafe("run", *suite, "--prices", str(prices), "--max-cost", "100")
    assert resumed.returncode == 0, resumed.stderr
    assert server.stats()["chat_completions"] == 12  # no call repeated across the stop
    assert re.search(r"model: \d+ calls, \d+ input \+ \d+ output tokens, cost \$0\.\d{4}", resumed.stdout)
    result = json.loads(next((tmp_path / "out").glob("*.json")).read_text())
    assert result["spend"]["roles"]["model"]["calls"] == 12 - sent


def test_price_table_prefixes_overrides_and_unknown_prices(tmp_path: Path) -> None:
    table = PriceTable()
    assert table.price_of("openai:gpt-4o-mini-2024-07-18") == Price(0.15, 0.60)  # longest prefix wins
    assert table.price_of("openai/gpt-4o-2024-08-06") == Price(2.50, 10.00)
    assert table.price_of("vllm:Qwen/Qwen2-VL-7B") == Price(0.0, 0.0)
    assert table.price_of("openai:some-new-model") is None
    assert table.cost("anthropic:claude-sonnet-4-5", Usage(input_tokens=1_000_000, output_tokens=0)) == 3.0
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"some-new-model": {"input": 1, "output": 2}}))
    assert PriceTable.load(path).price_of("openai:some-new-model") == Price(1.0, 2.0)
    path.write_text(json.dumps({"bad": {"input": -1, "output": 2}}))
    with pytest.raises(DataError, match="record bad"):
        PriceTable.load(path)
    meter = Meter(table)
    meter.charge("model", "openai:gpt-4o", Usage(input_tokens=1000, output_tokens=100))
    meter.charge("judge", "openai:some-new-model", Usage(input_tokens=10, output_tokens=1))
    summary = meter.summary()
    assert summary["roles"]["model"]["cost_usd"] == pytest.approx(0.0035)  # type: ignore[index]
    assert summary["roles"]["judge"]["cost_usd"] is None  # type: ignore[index]
    assert summary["total"]["cost_usd"] is None  # type: ignore[index]
