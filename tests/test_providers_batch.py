"""Provider batch APIs (`--batch`): OpenAI's Batch API and Anthropic's Message Batches against the local
server speaking both. Requests go out as one batch, per-item answers, errors, content filters,
truncation and expirations land in the store as a direct call's would; a killed run re-attaches to
its batch instead of submitting again; a later direct re-run is fully cached. Polling is driven by
the server's poll count, never by a clock."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from ctxsafe.engine.batcher import BatchingProvider, batch_api, batched, check_batch_spec
from ctxsafe.engine.call import Caller
from ctxsafe.engine.retry import RetryPolicy
from ctxsafe.engine.store import RunStore
from ctxsafe.errors import ConfigError, ProviderRefusedError
from ctxsafe.images import ImageStore
from ctxsafe.providers.base import GenParams, Provider
from ctxsafe.providers.pricing import Price, PriceTable
from ctxsafe.providers.registry import Endpoint, make_provider
from ctxsafe.schema import Message, Usage
from ctxsafe.testing.openai_server import ContentFault, ServerConfig, ServerHandle
from tests.cli_process import cli_env, dialogue_cases, run_ctxsafe

KEY = "sk-batchKEY0123456789abcdefXYZ"
ServerFactory = Callable[..., ServerHandle]
SPECS = {"openai": "openai:gpt-4o-mini", "anthropic": "anthropic:claude-3-5-haiku"}


def _provider(family: str, server: ServerHandle, monkeypatch: pytest.MonkeyPatch) -> Provider:
    if family == "anthropic":
        pytest.importorskip("anthropic", reason="the ctxsafe[anthropic] extra is not installed")
    monkeypatch.setenv("BATCH_TEST_KEY", KEY)
    base = server.base_url if family == "openai" else server.root_url
    return make_provider(SPECS[family], Endpoint(base_url=base, api_key_env="BATCH_TEST_KEY", timeout_s=10.0))


def _script(**kw: Any) -> ServerConfig:
    """Per-item behaviour: plain answers, a filtered answer, a truncated one, a server error on every
    attempt, and an item that expires in its first batch only."""
    return ServerConfig(api_key=KEY, log_requests=True, content_faults=[
        ContentFault(pattern="filter me", fault="content_filter", times=None),
        ContentFault(pattern="cut me", fault="length", times=None),
        ContentFault(pattern="break me", fault="500", times=None)],
        batch_expire_pattern="late one", batch_expire_times=1, **kw)


PROMPTS = ["hello there", "please filter me", "please cut me short", "break me", "the late one"]


def _ask(text: str) -> list[Message]:
    return [Message.text("system", "Be brief."), Message.text("user", text)]


async def _turns(caller: Caller, prompts: list[str]) -> list[Any]:
    return list(await asyncio.gather(*(caller.turn("run", f"c{i}", "t1", 0, _ask(p))
                                       for i, p in enumerate(prompts))))


@pytest.mark.parametrize("family", ["openai", "anthropic"])
async def test_one_batch_per_wave_and_each_item_maps_like_a_direct_call(
        family: str, openai_server: ServerFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server = openai_server(_script(batch_polls=2))
    store = RunStore(tmp_path / "runs.sqlite")
    notes: list[str] = []
    inner = _provider(family, server, monkeypatch)
    api = batch_api(inner)
    assert api is not None
    provider = BatchingProvider(inner, api, store, poll_s=0.0, notify=notes.append)
    caller = Caller(provider, GenParams(temperature=0.0, max_tokens=64), store, ImageStore(),
                    RetryPolicy(max_attempts=2, base_s=0.0), provider.max_concurrency)
    try:
        recs = await _turns(caller, PROMPTS)
    finally:
        await provider.aclose()
    ok, filtered, cut, broken, late = recs
    assert ok.outcome == "ok" and ok.response == "echo: hello there" and ok.finish_reason == "stop"
    assert ok.usage.input_tokens and ok.usage.output_tokens == 5
    assert filtered.outcome == "content_filter" and filtered.finish_reason == "content_filter"
    assert cut.outcome == "ok" and cut.finish_reason == "length"
    assert broken.outcome == "error" and "HTTP 500" in (broken.error or "") and broken.attempts == 2
    assert late.outcome == "ok" and late.attempts == 2  # expired in batch 1, answered in batch 2
    stats = server.stats()
    # Batch 1 held all five; batch 2 the retried server error and the expired item: two submissions.
    assert stats["batches"] == 2 and len(provider.submitted) == 2
    assert stats["chat_completions"] == 4 + 2  # items the server ran (an expired one never runs) ...
    assert stats["outcomes"].get("500") == 2  # ... the broken one in both batches
    assert all(e["path"] in ("/v1/chat/completions", "/v1/messages") for e in server.log())
    assert any("submitted (5 requests)" in n for n in notes) and any("submitted (2 requests)" in n for n in notes)
    ledger = store.batches()
    assert [b[0] for b in ledger] == provider.submitted and all(b[5] for b in ledger)  # both ended
    # Results landed in the same store and cache as direct calls: a direct re-run sends nothing new.
    direct = _provider(family, server, monkeypatch)
    again = Caller(direct, GenParams(temperature=0.0, max_tokens=64), store, ImageStore(), RetryPolicy(max_attempts=1))
    server.reset()
    try:
        cached = await _turns(again, ["hello there", "please cut me short", "the late one"])
    finally:
        await direct.aclose()
        store.close()
    assert all(r.cached for r in cached) and server.stats()["requests"] == 0
    assert [r.response for r in cached] == [ok.response, cut.response, late.response]
    assert KEY.encode() not in (tmp_path / "runs.sqlite").read_bytes()


@pytest.mark.parametrize("family", ["openai", "anthropic"])
async def test_a_killed_run_reattaches_to_its_batch(
        family: str, openai_server: ServerFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server = openai_server(_script(batch_polls=1_000_000))  # the batch never ends while the first run lives
    path = tmp_path / "runs.sqlite"
    store = RunStore(path)
    first = batched(_provider(family, server, monkeypatch), store, poll_s=3600.0)
    assert isinstance(first, BatchingProvider)
    caller = Caller(first, GenParams(temperature=0.0), store, ImageStore(), RetryPolicy(max_attempts=1),
                    first.max_concurrency)
    run = asyncio.ensure_future(_turns(caller, ["hello there", "and another"]))
    while not first.submitted:  # wait for the submission itself, not for a time
        await asyncio.sleep(0)
    run.cancel()  # the process dies with its batch in flight
    await asyncio.gather(run, return_exceptions=True)
    await first.aclose()
    store.close()
    (submitted,) = first.submitted
    server.configure(_script(batch_polls=0))  # meanwhile the provider finished the batch
    store = RunStore(path)
    second = batched(_provider(family, server, monkeypatch), store, poll_s=0.0)
    assert isinstance(second, BatchingProvider)
    caller = Caller(second, GenParams(temperature=0.0), store, ImageStore(), RetryPolicy(max_attempts=1),
                    second.max_concurrency)
    try:
        recs = await _turns(caller, ["hello there", "and another"])
    finally:
        await second.aclose()
    assert [r.response for r in recs] == ["echo: hello there", "echo: and another"]
    assert second.submitted == [] and server.stats()["batches"] == 0  # re-attached, never resubmitted
    assert [(b[0], b[5]) for b in store.batches()] == [(submitted, True)]
    store.close()


async def test_a_wave_over_the_provider_limits_is_split_into_several_batches(
        openai_server: ServerFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server = openai_server(ServerConfig(api_key=KEY, batch_polls=0))
    store = RunStore(tmp_path / "runs.sqlite")
    inner = _provider("openai", server, monkeypatch)
    api = batch_api(inner)
    assert api is not None
    api.max_requests = 2  # five requests, two a batch
    provider = BatchingProvider(inner, api, store, poll_s=0.0, notify=lambda _: None)
    caller = Caller(provider, GenParams(temperature=0.0), store, ImageStore(), RetryPolicy(max_attempts=1), 16)
    try:
        recs = await _turns(caller, [f"question {i}" for i in range(5)])
        assert [r.response for r in recs] == [f"echo: question {i}" for i in range(5)]
        assert len(provider.submitted) == 3 and server.stats()["batches"] == 3
        api.max_requests = 100
        api.max_bytes = 1  # every item alone is over the size limit: one batch each
        server.reset()
        await _turns(caller, [f"other {i}" for i in range(3)])
        assert server.stats()["batches"] == 3
    finally:
        await provider.aclose()
        store.close()


@pytest.mark.parametrize("fault", ["bad key", "unreachable"])
async def test_a_submission_that_cannot_succeed_stops_the_run(
        fault: str, openai_server: ServerFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    server = openai_server(ServerConfig(api_key="sk-another-key-entirely-0123456789"))
    monkeypatch.setenv("BATCH_TEST_KEY", KEY)
    url = server.base_url if fault == "bad key" else "http://127.0.0.1:9/v1"  # port 9 (discard): refused
    store = RunStore(tmp_path / "runs.sqlite")
    provider = batched(make_provider("openai:gpt-4o", Endpoint(base_url=url, api_key_env="BATCH_TEST_KEY",
                                                               timeout_s=10.0)), store, poll_s=0.0)
    caller = Caller(provider, GenParams(temperature=0.0), store, ImageStore(), RetryPolicy(max_attempts=3), 16)
    try:
        with pytest.raises(ProviderRefusedError) as info:
            await _turns(caller, ["hello", "again"])
    finally:
        await provider.aclose()
    assert ("BATCH_TEST_KEY" in str(info.value)) if fault == "bad key" else "cannot reach" in str(info.value)
    assert KEY not in str(info.value)
    assert store.batches() == []  # nothing was submitted, so nothing to re-attach to
    store.close()


def test_batch_prices_are_half_unless_the_table_names_them(tmp_path: Path) -> None:
    table = PriceTable()
    usage = Usage(input_tokens=1_000_000, output_tokens=1_000_000)
    assert table.cost("openai:gpt-4o", usage) == pytest.approx(12.5)
    assert table.cost("openai:gpt-4o", usage, batch=True) == pytest.approx(6.25)
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"gpt-4o": {"input": 2, "output": 8, "batch_input": 1.5, "batch_output": 3}}))
    custom = PriceTable.load(path)
    assert custom.price_of("openai:gpt-4o") == Price(2.0, 8.0, 1.5, 3.0)
    assert custom.cost("openai:gpt-4o", usage, batch=True) == pytest.approx(4.5)


def test_models_without_a_batch_api_are_refused(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "runs.sqlite")
    try:
        for spec in ("vllm:some-model", "ref:always-refuse"):
            with pytest.raises(ConfigError, match="has no batch API"):
                check_batch_spec(spec, None)  # before the data is loaded ...
            with pytest.raises(ConfigError, match="has no batch API"):
                batched(make_provider(spec), store)  # ... and when the provider is wrapped
        with pytest.raises(ConfigError, match="one endpoint each"):
            check_batch_spec("openai:gpt-4o", "http://a/v1,http://b/v1")
        check_batch_spec("openai/gpt-4o", None)
        check_batch_spec("anthropic:claude-sonnet-4-5", "http://127.0.0.1:1")
    finally:
        store.close()


# -- the command line ----------------------------------------------------------------------------------

def _cost(stdout: str) -> float:
    m = re.search(r"total: \d+ calls, .* cost \$(\d+\.\d+)", stdout)
    assert m, stdout
    return float(m.group(1))


def test_run_by_batch_turn_by_turn_then_cached_dry_run_and_no_key(
        tmp_path: Path, openai_server: ServerFactory) -> None:
    server = openai_server(ServerConfig(api_key=KEY, echo_max_chars=60, batch_polls=1))
    env = cli_env(BATCH_TEST_KEY=KEY)
    store, out = tmp_path / "runs.sqlite", tmp_path / "out"
    suite = ["native", "--data", str(dialogue_cases(tmp_path / "data", 2)), "--model", "openai:gpt-4o",
             "--base-url", server.base_url, "--api-key-env", "BATCH_TEST_KEY", "--judge", "openai:gpt-4o-mini",
             "--judge-base-url", server.base_url, "--judge-api-key-env", "BATCH_TEST_KEY", "--store", str(store),
             "--out", str(out), "--no-progress", "--max-attempts", "1"]
    direct = run_ctxsafe("run", *suite, "--dry-run", env=env)
    by_batch = run_ctxsafe("run", *suite, "--dry-run", "--batch", env=env)
    assert direct.returncode == by_batch.returncode == 0, by_batch.stderr
    assert "at batch prices" in by_batch.stdout and server.stats()["requests"] == 0
    assert _cost(by_batch.stdout) == pytest.approx(_cost(direct.stdout) / 2, abs=2e-4)
    real = run_ctxsafe("run", *suite, "--batch", "--batch-poll", "0", env=env)
    assert real.returncode in (0, 3), real.stderr  # 3: the echoing judge's verdicts are unparseable
    stats = server.stats()
    # Turn 1 of every dialogue, then turn 2 (it needs turn 1's reply), then the judge: three batches;
    # plus the judge's one direct pre-flight request, made before the model's batch is paid for.
    assert stats["batches"] == 3 and stats["chat_completions"] == 4 + 4 + 4 + 1, (stats, real.stderr)
    assert len(re.findall(r"batch \S+ submitted", real.stderr)) == 3
    with sqlite3.connect(store) as db:
        assert db.execute("SELECT COUNT(*) FROM turns WHERE outcome='ok'").fetchone()[0] == 8
        assert db.execute("SELECT COUNT(*) FROM batches WHERE ended=1").fetchone()[0] == 3
    server.reset()
    again = run_ctxsafe("run", *suite, env=env)  # direct, not by batch: everything is in the store already
    assert again.returncode == real.returncode, again.stderr
    assert server.stats()["requests"] == 0
    texts = [store.read_bytes(), *(p.read_bytes() for p in out.glob("*")), real.stdout.encode(),
             real.stderr.encode()]
    assert not any(KEY.encode() in t for t in texts)


def test_a_wrong_judge_key_stops_a_batch_run_before_the_model_batch(
        tmp_path: Path, openai_server: ServerFactory) -> None:
    server = openai_server(ServerConfig(api_key=KEY, batch_polls=0))
    env = cli_env(BATCH_TEST_KEY=KEY, WRONG_KEY="sk-wrong0123456789abcdefghij")
    data = dialogue_cases(tmp_path / "data", 2)
    run = run_ctxsafe("run", "native", "--data", str(data), "--model", "openai:gpt-4o",
                      "--base-url", server.base_url, "--api-key-env", "BATCH_TEST_KEY", "--judge", "openai:gpt-4o-mini",
                      "--judge-base-url", server.base_url, "--judge-api-key-env", "WRONG_KEY",
                      "--store", str(tmp_path / "runs.sqlite"), "--out", str(tmp_path / "out"), "--no-progress",
                      "--batch", "--batch-poll", "0", env=env)
    assert run.returncode != 0 and "WRONG_KEY" in run.stderr, run.stderr
    assert server.stats()["batches"] == 0  # the model's batch was never submitted


def _recorded(store: Path) -> int:
    """Requests recorded in a submitted batch (0 while the store or its tables do not exist yet)."""
    try:
        with closing(sqlite3.connect(f"file:{store}?mode=ro", uri=True)) as db:
            return int(db.execute("SELECT COUNT(*) FROM batch_items").fetchone()[0])
    except sqlite3.OperationalError:
        return 0


def test_a_killed_command_reattaches_when_rerun(tmp_path: Path, openai_server: ServerFactory) -> None:
    server = openai_server(ServerConfig(api_key=KEY, batch_polls=1_000_000))
    env = cli_env(BATCH_TEST_KEY=KEY)
    store = tmp_path / "runs.sqlite"
    suite = ["native", "--data", str(dialogue_cases(tmp_path / "data", 2)), "--model", "openai:gpt-4o",
             "--base-url", server.base_url, "--api-key-env", "BATCH_TEST_KEY", "--store", str(store),
             "--out", str(tmp_path / "out"), "--no-progress", "--max-attempts", "1", "--batch"]
    proc = subprocess.Popen([sys.executable, "-m", "ctxsafe", "run", *suite, "--batch-poll", "0.2"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 240  # a safety net for a hung child, not a measurement
        while _recorded(store) < 4 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)  # until the submitted batch is recorded in the store (before its first poll)
        assert _recorded(store) == 4 and server.stats()["batches"] == 1
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    server.configure(ServerConfig(api_key=KEY, batch_polls=0))
    rerun = run_ctxsafe("run", *suite, "--batch-poll", "0", env=env)
    assert rerun.returncode == 0, rerun.stderr
    stats = server.stats()
    # The turn-1 batch was re-attached (not submitted again); only turn 2 needed a new batch.
    assert stats["batches"] == 1, stats
    assert len(re.findall(r"batch \S+ submitted", rerun.stderr)) == 1
