"""Exit codes scripts can trust: a failed or refused run never looks like a result.

Each test drives the real command line (the real `openai` SDK against the local test server where
a provider is involved) and checks the documented code, the one clear line, and what was sent.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ctxsafe.engine.call import Caller
from ctxsafe.engine.retry import RetryPolicy, with_retries
from ctxsafe.engine.store import RunStore
from ctxsafe.errors import ProviderRefusedError
from ctxsafe.exit_codes import ExitCode
from ctxsafe.images import ImageStore
from ctxsafe.providers.base import Completion, GenParams
from ctxsafe.providers.http_errors import status_error
from ctxsafe.schema import Message
from ctxsafe.testing.openai_server import ContentFault, ServerConfig, ServerHandle
from tests.ports import closed_port

KEY = "sk-exitcodeKEY0123456789abcdef"


def native(folder: Path, pairs: int = 3) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "cases.jsonl"
    path.write_text("".join(json.dumps({"id": f"p{p}-{c}", "pair_id": f"p{p}", "context": c,
                                        "turns": [f"case {p} {c}: hello", "and then?"]}) + "\n"
                            for p in range(pairs) for c in ("safe", "unsafe")), encoding="utf-8")
    return path


def run(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "ctxsafe", "run", "native", "--data", str(native(tmp_path / "data")),
           "--store", str(tmp_path / "runs.sqlite"), "--out", str(tmp_path / "out"), "--no-progress", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env, check=False)


def test_a_complete_run_exits_0(tmp_path: Path) -> None:
    res = run(tmp_path, "-m", "ref:always-refuse")
    assert res.returncode == ExitCode.OK, res.stderr


@pytest.mark.parametrize("value", ["0", "-3"])
def test_concurrency_below_one_is_refused_at_once(tmp_path: Path, value: str) -> None:
    res = run(tmp_path, "-m", "ref:always-refuse", "--concurrency", value)
    assert res.returncode == ExitCode.BAD_INPUT and "Traceback" not in res.stderr
    assert "concurrency" in res.stderr and not (tmp_path / "runs.sqlite").exists()


def test_a_wrong_key_stops_at_the_first_request(tmp_path: Path, openai_server: Callable[..., ServerHandle]) -> None:
    server = openai_server(ServerConfig(api_key=KEY, reply="Sure."))
    env = {**os.environ, "MY_KEY": KEY[:-1] + "Z"}
    res = run(tmp_path, "-m", "openai:mock", "--base-url", server.base_url, "--api-key-env", "MY_KEY",
              "--concurrency", "8", env=env)
    assert res.returncode == ExitCode.PROVIDER_REFUSED, res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) <= 3 and "Traceback" not in res.stderr  # one message (wrapped at most)
    text = " ".join(res.stderr.split())
    assert "openai:mock" in text and "$MY_KEY" in text and "authentication failed" in text
    assert KEY[:-1] not in res.stderr
    assert server.stats()["chat_completions"] == 1  # the pre-flight only: not retried, nothing fanned out
    assert not (tmp_path / "out").exists()  # no table of zeros, no results file


def test_a_missing_key_is_named_as_not_set(tmp_path: Path, openai_server: Callable[..., ServerHandle]) -> None:
    server = openai_server(ServerConfig(api_key=KEY, reply="Sure."))
    env = {k: v for k, v in os.environ.items() if k != "NO_SUCH_KEY"}
    res = run(tmp_path, "-m", "openai:mock", "--base-url", server.base_url, "--api-key-env", "NO_SUCH_KEY", env=env)
    assert res.returncode == ExitCode.PROVIDER_REFUSED
    assert "$NO_SUCH_KEY (it is not set)" in " ".join(res.stderr.split())


def test_an_unknown_route_or_model_stops_the_run(tmp_path: Path, openai_server: Callable[..., ServerHandle]) -> None:
    server = openai_server(ServerConfig(reply="Sure."))
    res = run(tmp_path, "-m", "openai:mock", "--base-url", server.base_url + "/nothing-here")
    assert res.returncode == ExitCode.PROVIDER_REFUSED
    assert "not found" in res.stderr and server.stats()["chat_completions"] == 0


def test_an_unreachable_server_stops_the_run(tmp_path: Path) -> None:
    res = run(tmp_path, "-m", "openai:mock", "--base-url", f"http://127.0.0.1:{closed_port()}/v1",
              "--max-attempts", "2", "--retry-base", "0.01")
    assert res.returncode == ExitCode.PROVIDER_REFUSED, res.stderr
    assert "cannot reach the endpoint" in " ".join(res.stderr.split()) and "Traceback" not in res.stderr


def test_errors_after_the_preflight_finish_with_code_3(tmp_path: Path,
                                                       openai_server: Callable[..., ServerHandle]) -> None:
    server = openai_server(ServerConfig(reply="Sure.", content_faults=[
        ContentFault(pattern="case 1 unsafe", fault="500", times=None)]))
    res = run(tmp_path, "-m", "openai:mock", "--base-url", server.base_url, "--max-attempts", "2",
              "--retry-base", "0.01")
    assert res.returncode == ExitCode.FINISHED_WITH_ERRORS, res.stderr
    assert "error 1" in res.stdout  # the table is printed, with the failure beside it
    assert "finished with errors" in res.stderr and "1 failed steps" in res.stderr
    runs = subprocess.run([sys.executable, "-m", "ctxsafe", "runs", "--store", str(tmp_path / "runs.sqlite")],
                          capture_output=True, text=True, timeout=60, check=False)
    assert "finished-with-errors" in runs.stdout


@pytest.mark.parametrize(("status", "retryable", "refused"), [
    (400, False, False), (413, False, False), (422, False, False), (401, False, True), (403, False, True),
    (404, False, True), (408, True, False), (429, True, False), (500, True, False), (503, True, False)])
def test_every_status_is_classified_once(status: int, retryable: bool, refused: bool) -> None:
    err = status_error(status, "msg", provider="p:m", key_env="SOME_ENV")
    assert (err.retryable, err.refused) == (retryable, refused)
    if status in (401, 403):
        assert "$SOME_ENV" in str(err)


def test_permanent_errors_are_not_retried() -> None:
    calls = 0

    async def call() -> None:
        nonlocal calls
        calls += 1
        raise status_error(400, "image format not supported", provider="p:m", key_env=None)

    value, exc, attempts = asyncio.run(with_retries(call, RetryPolicy(max_attempts=5, base_s=0.0)))
    assert value is None and attempts == 1 and calls == 1 and exc is not None and "HTTP 400" in str(exc)


class GatedProvider:
    """Holds its first call on an event, so the test can see what else was sent meanwhile (no timing)."""

    name = "fake:gated"
    identity = "fake-gated"
    is_reference = False
    max_concurrency = 8

    def __init__(self, refuse_after: int | None = None) -> None:
        self.release = asyncio.Event()
        self.calls = 0
        self.refuse_after = refuse_after

    async def complete(self, messages: list[Message], params: GenParams, images: ImageStore) -> Completion:
        self.calls += 1
        if self.calls == 1:
            await self.release.wait()
        if self.refuse_after is not None and self.calls > self.refuse_after:
            raise status_error(401, "key revoked", provider=self.name, key_env="FAKE_KEY")
        return Completion(f"answer {self.calls}", "stop")

    async def aclose(self) -> None:
        return None


def test_the_first_request_goes_alone_then_the_rest_fan_out(tmp_path: Path) -> None:
    async def scenario() -> tuple[int, int, list[Any]]:
        provider = GatedProvider()
        store = RunStore(tmp_path / "s.sqlite")
        caller = Caller(provider, GenParams(), store, ImageStore(), RetryPolicy(max_attempts=1), 8)
        tasks = [asyncio.create_task(caller.complete([Message.user(f"q{i}")])) for i in range(6)]
        for _ in range(20):
            await asyncio.sleep(0)
        during = provider.calls
        provider.release.set()
        results = await asyncio.gather(*tasks)
        store.close()
        return during, provider.calls, results

    during, total, results = asyncio.run(scenario())
    assert during == 1 and total == 6 and all(r.error is None for r in results)


def test_a_refusal_after_the_preflight_still_stops_the_run(tmp_path: Path) -> None:
    async def scenario() -> None:
        provider = GatedProvider(refuse_after=2)
        provider.release.set()
        store = RunStore(tmp_path / "s.sqlite")
        caller = Caller(provider, GenParams(), store, ImageStore(), RetryPolicy(max_attempts=3), 1)
        try:
            for i in range(5):
                await caller.complete([Message.user(f"q{i}")])
        finally:
            store.close()

    with pytest.raises(ProviderRefusedError, match=r"\$FAKE_KEY"):
        asyncio.run(scenario())


def test_a_wrong_judge_key_stops_the_run_before_the_model_is_called(
        tmp_path: Path, openai_server: Callable[..., ServerHandle]) -> None:
    server = openai_server(ServerConfig(api_key=KEY, reply="Sure."))
    env = {**os.environ, "MODEL_KEY": KEY, "JUDGE_KEY": KEY[:-1] + "Z"}
    res = run(tmp_path, "-m", "openai:mock", "--base-url", server.base_url, "--api-key-env", "MODEL_KEY",
              "--judge", "openai:judge", "--judge-base-url", server.base_url, "--judge-api-key-env", "JUDGE_KEY",
              env=env)
    assert res.returncode == ExitCode.PROVIDER_REFUSED, res.stdout + res.stderr
    text = " ".join(res.stderr.split())
    assert "openai:judge" in text and "$JUDGE_KEY" in text and "Traceback" not in res.stderr
    assert KEY[:-1] not in res.stderr
    # the judge's one-token pre-flight is the only request: the model under test was never called
    assert server.stats()["chat_completions"] == 1
    store = RunStore(tmp_path / "runs.sqlite", readonly=True)
    try:
        assert all(store.turn_count(info.run_id) == 0 for info in store.runs())
    finally:
        store.close()


def test_a_good_judge_key_is_checked_once_and_a_cached_resume_sends_nothing(
        tmp_path: Path, openai_server: Callable[..., ServerHandle]) -> None:
    server = openai_server(ServerConfig(reply="I can't help with that."))
    args = ("-m", "openai:mock", "--base-url", server.base_url, "--judge", "openai:judge",
            "--judge-base-url", server.base_url)
    first = run(tmp_path, *args)
    calls = server.stats()["chat_completions"]
    # 3 pairs x 2 twins x 2 turns for the model; one judge request (every reply is the same, so the other
    # judgements come from the cache); and the judge's pre-flight
    assert calls == 12 + 1 + 1, first.stdout + first.stderr
    run(tmp_path, *args)
    assert server.stats()["chat_completions"] == calls  # resumed from the cache: not even a pre-flight


def test_run_with_judge_none_exits_0_and_says_nothing_was_judged(tmp_path: Path) -> None:
    """`--judge none` asks to play the model only: done, so 0; but the table holds no results, and the
    run says so on stderr (`report` on it exits 3, below)."""
    res = run(tmp_path, "-m", "ref:always-refuse", "--judge", "none")
    assert res.returncode == ExitCode.OK, res.stderr
    run_id = json.loads(next((tmp_path / "out").glob("*.json")).read_text())["run_id"]
    text = " ".join(res.stderr.split())
    assert f"not judged: {run_id} has no judgements" in text and "--judge none" in text
    judged = run(tmp_path, "-m", "ref:always-refuse", "--judge", "offline")
    assert judged.returncode == ExitCode.OK and "not judged" not in judged.stderr


def test_report_on_a_run_never_judged_exits_3_and_says_so(tmp_path: Path) -> None:
    res = run(tmp_path, "-m", "ref:always-refuse", "--judge", "none")
    assert res.returncode == ExitCode.OK, res.stderr
    run_id = json.loads(next((tmp_path / "out").glob("*.json")).read_text())["run_id"]
    report = [sys.executable, "-m", "ctxsafe", "report", run_id, "--store", str(tmp_path / "runs.sqlite"),
              "--out", str(tmp_path / "out")]
    res = subprocess.run(report, capture_output=True, text=True, timeout=120, check=False)
    assert res.returncode == ExitCode.FINISHED_WITH_ERRORS, res.stdout + res.stderr
    assert f"{run_id} has no judgements" in " ".join(res.stderr.split())
    judged = run(tmp_path, "-m", "ref:always-refuse", "--judge", "offline")  # the same run, now judged
    assert judged.returncode == ExitCode.OK, judged.stderr
    res = subprocess.run(report, capture_output=True, text=True, timeout=120, check=False)
    assert res.returncode == ExitCode.OK, res.stdout + res.stderr
    assert "no judgements" not in res.stderr
