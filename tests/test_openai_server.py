"""The local OpenAI-compatible test server, driven by the real ``openai`` SDK (sync and async).

What the SDK does with each fault is pinned here, because ctxsafe's provider and retry code rely
on exactly these exception types.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openai
import pytest

from ctxsafe.testing.openai_server import (
    ContentFault,
    ReplyRule,
    ServerConfig,
    ServerHandle,
    start_subprocess,
)

ServerFactory = Callable[..., ServerHandle]
ClientFactory = Callable[..., openai.OpenAI]
USER_HELLO: list[Any] = [{"role": "user", "content": "hello there"}]


def _ask(client: openai.OpenAI, text: str = "hello there", **kw: Any) -> Any:
    return client.chat.completions.create(model="m", messages=[{"role": "user", "content": text}], **kw)


def _async_client(h: ServerHandle, timeout: float = 5.0) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=h.base_url, api_key="sk-test", max_retries=0, timeout=timeout)


# ---------------------------------------------------------------------------------------------
# Normal replies
# ---------------------------------------------------------------------------------------------


def test_normal_reply_has_correct_fields_and_usage(openai_server: ServerFactory, openai_client: ClientFactory) -> None:
    h = openai_server()
    r = openai_client(h).chat.completions.create(
        model="gpt-test",
        messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello there"}],
    )
    assert r.object == "chat.completion"
    assert r.id.startswith("chatcmpl-")
    assert r.model == "gpt-test"
    assert abs(r.created - time.time()) < 60
    assert len(r.choices) == 1
    choice = r.choices[0]
    assert (choice.index, choice.finish_reason) == (0, "stop")
    assert choice.message.role == "assistant"
    assert choice.message.content == "echo: hello there"
    assert r.usage is not None
    assert r.usage.prompt_tokens > 0 and r.usage.completion_tokens > 0
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
    s = h.stats()
    assert (s["requests"], s["chat_completions"], s["outcomes"]) == (1, 1, {"ok": 1})


def test_models_endpoint_and_loopback_only_bind(openai_server: ServerFactory, openai_client: ClientFactory) -> None:
    h = openai_server(models=["a", "b"])
    assert [m.id for m in openai_client(h).models.list()] == ["a", "b"]
    assert h.base_url.startswith("http://127.0.0.1:")
    sockets = h.server._server.sockets if h.server._server else ()
    assert [s.getsockname()[0] for s in sockets] == ["127.0.0.1"]


async def test_rules_script_replies_async(openai_server: ServerFactory) -> None:
    h = openai_server(
        reply="Sure, here you go.",
        rules=[
            ReplyRule(pattern=r"(?i)\bunsafe\b", reply="I can't help with that."),
            ReplyRule(pattern="forbidden", reply=None, finish_reason="content_filter"),
        ],
    )
    async with _async_client(h) as client:
        texts = ["this is UNSAFE", "a safe question", "forbidden words"]
        rs = await asyncio.gather(
            *(client.chat.completions.create(model="m", messages=[{"role": "user", "content": t}]) for t in texts)
        )
    assert [r.choices[0].message.content for r in rs] == ["I can't help with that.", "Sure, here you go.", None]
    assert [r.choices[0].finish_reason for r in rs] == ["stop", "stop", "content_filter"]


def test_max_tokens_truncates_with_finish_length(openai_server: ServerFactory, openai_client: ClientFactory) -> None:
    h = openai_server(reply="x" * 400)
    r = _ask(openai_client(h), max_tokens=10)
    assert r.choices[0].finish_reason == "length"
    assert r.choices[0].message.content == "x" * 40


def test_keep_alive_reuses_one_connection(openai_server: ServerFactory, openai_client: ClientFactory) -> None:
    h = openai_server()
    client = openai_client(h)
    for i in range(20):
        assert _ask(client, f"n{i}").choices[0].message.content == f"echo: n{i}"
    s = h.stats()
    assert s["chat_completions"] == 20 and s["connections"] == 1


async def test_concurrent_requests_overlap(openai_server: ServerFactory) -> None:
    h = openai_server(delay_s=0.1)
    t0 = time.monotonic()
    async with _async_client(h) as client:
        rs = await asyncio.gather(
            *(
                client.chat.completions.create(model="m", messages=[{"role": "user", "content": str(i)}])
                for i in range(32)
            )
        )
    assert sorted(r.choices[0].message.content or "" for r in rs) == sorted(f"echo: {i}" for i in range(32))
    assert time.monotonic() - t0 < 1.5  # 32 x 0.1 s would be 3.2 s if serialised
    assert h.stats()["max_in_flight"] >= 16


def test_api_key_enforced(openai_server: ServerFactory, openai_client: ClientFactory) -> None:
    h = openai_server(api_key="sk-right")
    with pytest.raises(openai.AuthenticationError):
        _ask(openai_client(h, api_key="sk-wrong"))
    assert _ask(openai_client(h, api_key="sk-right")).choices[0].finish_reason == "stop"


# ---------------------------------------------------------------------------------------------
# Faults: each maps to a precise SDK exception or field
# ---------------------------------------------------------------------------------------------


def test_429_has_retry_after_headers(openai_server: ServerFactory, openai_client: ClientFactory) -> None:
    h = openai_server(schedule={1: "429"}, retry_after_s=2, retry_after_ms=1500)
    client = openai_client(h)
    with pytest.raises(openai.RateLimitError) as ei:
        _ask(client)
    e = ei.value
    assert e.status_code == 429
    assert e.response.headers["retry-after"] == "2"
    assert e.response.headers["retry-after-ms"] == "1500"
    assert e.code == "rate_limit_exceeded"
    assert isinstance(e.body, dict) and e.body["code"] == "rate_limit_exceeded"
    assert _ask(client).choices[0].finish_reason == "stop"  # request 2: no fault scheduled


@pytest.mark.parametrize("status", ["500", "503"])
def test_5xx_is_internal_server_error(status: str, openai_server: ServerFactory, openai_client: ClientFactory) -> None:
    h = openai_server(schedule={1: status})
    with pytest.raises(openai.InternalServerError) as ei:
        _ask(openai_client(h))
    assert ei.value.status_code == int(status)
    assert ei.value.type == "server_error"


def test_stall_times_out_client(openai_server: ServerFactory, openai_client: ClientFactory) -> None:
    h = openai_server(schedule={1: "stall"}, stall_s=30)
    client = openai_client(h, timeout=0.5)
    t0 = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        _ask(client)
    assert 0.4 < time.monotonic() - t0 < 2.0
    assert _ask(client).choices[0].finish_reason == "stop"  # the server is still healthy


async def test_close_is_connection_error_async(openai_server: ServerFactory) -> None:
    h = openai_server(schedule={1: "close"})
    async with _async_client(h) as client:
        with pytest.raises(openai.APIConnectionError) as ei:
            await client.chat.completions.create(model="m", messages=USER_HELLO)
        assert not isinstance(ei.value, openai.APITimeoutError)
        ok = await client.chat.completions.create(model="m", messages=USER_HELLO)
    assert ok.choices[0].finish_reason == "stop"
    assert h.stats()["outcomes"] == {"close": 1, "ok": 1}


def test_malformed_body_raises_raw_json_decode_error_sync(
    openai_server: ServerFactory, openai_client: ClientFactory
) -> None:
    """The SDK does NOT wrap it: a 200 with invalid JSON escapes as json.JSONDecodeError."""
    h = openai_server(schedule={1: "malformed"})
    with pytest.raises(json.JSONDecodeError) as ei:
        _ask(openai_client(h))
    assert not isinstance(ei.value, openai.OpenAIError)


async def test_malformed_body_raises_raw_json_decode_error_async(openai_server: ServerFactory) -> None:
    h = openai_server(schedule={1: "malformed"})
    async with _async_client(h) as client:
        with pytest.raises(json.JSONDecodeError) as ei:
            await client.chat.completions.create(model="m", messages=USER_HELLO)
    assert not isinstance(ei.value, openai.OpenAIError)


def test_content_filter_and_length_faults(openai_server: ServerFactory, openai_client: ClientFactory) -> None:
    h = openai_server(schedule={1: "content_filter", 2: "length"}, reply="a fairly long answer")
    client = openai_client(h)
    r1, r2 = _ask(client), _ask(client)
    assert (r1.choices[0].finish_reason, r1.choices[0].message.content) == ("content_filter", None)
    assert r2.choices[0].finish_reason == "length"
    assert r2.choices[0].message.content == "a fairly l"
    assert h.stats()["outcomes"] == {"content_filter": 1, "length": 1}


def test_content_fault_fails_first_n_times_per_prompt(
    openai_server: ServerFactory, openai_client: ClientFactory
) -> None:
    h = openai_server(content_faults=[ContentFault(pattern="flaky", fault="500", times=2)])
    client = openai_client(h)
    outcomes: list[str] = []
    for text in ["flaky A", "flaky B", "flaky A", "steady", "flaky A", "flaky B", "flaky B"]:
        try:
            _ask(client, text)
            outcomes.append("ok")
        except openai.InternalServerError:
            outcomes.append("500")
    assert outcomes == ["500", "500", "500", "ok", "ok", "500", "ok"]
    h.reset()  # forgets which prompts already failed
    with pytest.raises(openai.InternalServerError):
        _ask(client, "flaky A")


def test_random_faults_are_seeded_and_reset_replays(openai_server: ServerFactory, openai_client: ClientFactory) -> None:
    h = openai_server(random_faults={"500": 0.3, "429": 0.2}, seed=7, retry_after_s=0)
    client = openai_client(h)

    def run() -> list[str]:
        out = []
        for _ in range(40):
            try:
                _ask(client)
                out.append("ok")
            except openai.APIStatusError as e:
                out.append(str(e.status_code))
        return out

    first = run()
    h.reset()
    assert run() == first
    assert {"ok", "500", "429"} == set(first)
    assert h.stats()["outcomes"] == {k: first.count(k) for k in set(first)}


def test_configure_rescripts_running_server(openai_server: ServerFactory, openai_client: ClientFactory) -> None:
    h = openai_server()
    client = openai_client(h)
    assert _ask(client).choices[0].message.content == "echo: hello there"
    h.configure(ServerConfig(reply="new"))
    assert _ask(client).choices[0].message.content == "new"
    assert h.stats()["chat_completions"] == 1


# ---------------------------------------------------------------------------------------------
# Images
# ---------------------------------------------------------------------------------------------


def test_image_parts_counted_and_logged_by_sha256(
    openai_server: ServerFactory,
    openai_client: ClientFactory,
    make_png: Callable[..., bytes],
    png_data_url: Callable[[bytes], str],
) -> None:
    red, blue = make_png((255, 0, 0)), make_png((0, 0, 255))
    h = openai_server(log_requests=True)
    content: Any = [
        {"type": "text", "text": "what is shown?"},
        {"type": "image_url", "image_url": {"url": png_data_url(red), "detail": "low"}},
        {"type": "image_url", "image_url": {"url": png_data_url(blue)}},
    ]
    r = openai_client(h).chat.completions.create(model="m", messages=[{"role": "user", "content": content}])
    assert r.choices[0].message.content == "echo: what is shown?"
    assert r.usage is not None and r.usage.prompt_tokens >= 2 * 85
    assert h.stats()["images"] == 2
    (entry,) = h.log()
    assert [d["sha256"] for d in entry["images"]] == [
        hashlib.sha256(red).hexdigest(),
        hashlib.sha256(blue).hexdigest(),
    ]
    assert entry["images"][0] == {
        "sha256": hashlib.sha256(red).hexdigest(),
        "media_type": "image/png",
        "bytes": len(red),
    }
    parts = entry["body"]["messages"][0]["content"]
    assert parts[1]["image_url"]["detail"] == "low"
    assert "base64" not in json.dumps(entry)  # the log keeps digests, never the image payload


def test_rule_can_depend_on_which_image(
    openai_server: ServerFactory,
    openai_client: ClientFactory,
    make_png: Callable[..., bytes],
    png_data_url: Callable[[bytes], str],
) -> None:
    safe, unsafe = make_png((0, 255, 0)), make_png((10, 10, 10))
    h = openai_server(
        reply="Happy to help.",
        rules=[ReplyRule(pattern="", reply="I must refuse.", image_sha256=hashlib.sha256(unsafe).hexdigest())],
    )
    client = openai_client(h)

    def ask_with(img: bytes) -> str | None:
        content: Any = [
            {"type": "text", "text": "Should I jump?"},
            {"type": "image_url", "image_url": {"url": png_data_url(img)}},
        ]
        r = client.chat.completions.create(model="m", messages=[{"role": "user", "content": content}])
        return r.choices[0].message.content

    assert (ask_with(safe), ask_with(unsafe)) == ("Happy to help.", "I must refuse.")


def test_log_unavailable_without_logging(openai_server: ServerFactory) -> None:
    with pytest.raises(RuntimeError, match="404"):
        openai_server().log()


# ---------------------------------------------------------------------------------------------
# Subprocess mode
# ---------------------------------------------------------------------------------------------


def _port_closed(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) != 0


def test_subprocess_starts_answers_and_stops() -> None:
    cfg = ServerConfig(reply="from the child", schedule={2: "429"}, retry_after_s=3)
    with start_subprocess(cfg) as h:
        client = openai.OpenAI(base_url=h.base_url, api_key="k", max_retries=0, timeout=5)
        with client:
            assert _ask(client).choices[0].message.content == "from the child"
            with pytest.raises(openai.RateLimitError) as ei:
                _ask(client)
            assert ei.value.response.headers["retry-after"] == "3"
        assert h.stats()["outcomes"] == {"ok": 1, "429": 1}
        port, proc = h.port, h.proc
    assert proc.returncode is not None  # terminated by the context manager
    assert _port_closed(port)


def test_subprocess_exits_after_max_seconds() -> None:
    h = start_subprocess(ServerConfig(), max_seconds=0.5)
    try:
        assert h.proc.wait(timeout=5) == 0
    finally:
        h.stop()


def test_cli_with_config_file_prints_ready_and_exits_on_sigterm(tmp_path: Path) -> None:
    cfg_path = tmp_path / "config.json"
    cfg_path.write_text(ServerConfig(reply="file config").model_dump_json())
    src = str(Path(__file__).resolve().parents[1] / "src")
    env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "ctxsafe.testing.openai_server", "--port", "0", "--config", str(cfg_path)],
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("READY http://127.0.0.1:") and line.endswith("/v1")
        with openai.OpenAI(base_url=line.split()[1], api_key="k", max_retries=0, timeout=5) as client:
            assert _ask(client).choices[0].message.content == "file config"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=5) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        if proc.stdout is not None:
            proc.stdout.close()
