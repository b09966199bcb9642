"""A local, fault-injecting, OpenAI-compatible chat-completions server for tests and benchmarks.

Why it exists: provider code, retries, timeouts and judges must be exercised against the real
wire format (so the official ``openai`` SDK runs unchanged), with scripted model behaviour and
reproducible faults, without network access or API keys.

It is a small HTTP/1.1 server on raw ``asyncio`` streams (keep-alive, ``Content-Length`` bodies)
bound to 127.0.0.1 only. Run it in a background thread (:func:`serve_in_thread`) or as a separate
process (``python -m ctxsafe.testing.openai_server`` / :func:`start_subprocess`); the latter keeps
the server off the benchmark harness's event loop and GIL.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import contextlib
import hashlib
import http.client
import json
import os
import random
import re
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "HOST",
    "BaseHandle",
    "ContentFault",
    "FaultKind",
    "FinishReason",
    "MockOpenAIServer",
    "ReplyRule",
    "ServerConfig",
    "ServerHandle",
    "SubprocessHandle",
    "main",
    "serve_in_thread",
    "start_subprocess",
]

HOST = "127.0.0.1"
"""The only address the server ever binds: it is a test fixture, never a network service."""

FaultKind = Literal["429", "500", "503", "stall", "close", "malformed", "content_filter", "length"]
FinishReason = Literal["stop", "length", "content_filter"]

_FAULT_KINDS: frozenset[str] = frozenset(
    ("429", "500", "503", "stall", "close", "malformed", "content_filter", "length")
)
_MAX_HEAD_BYTES = 1 << 20


def _check_regex(pattern: str) -> str:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"invalid regex {pattern!r}: {exc}") from exc
    return pattern


class ReplyRule(BaseModel):
    """Scripted model behaviour: if ``pattern`` matches the last user message's text, answer ``reply``.

    ``image_sha256`` additionally requires one of that message's images to have this digest, so a
    test can make the same question behave differently with a safe and an unsafe image.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    pattern: str = Field(description="re.search over the text parts of the last user message")
    reply: str | None = Field(description="assistant content; null only makes sense with content_filter")
    finish_reason: FinishReason = "stop"
    image_sha256: str | None = None

    @field_validator("pattern")
    @classmethod
    def _valid_regex(cls, v: str) -> str:
        return _check_regex(v)


class ContentFault(BaseModel):
    """Fail requests whose last user text matches ``pattern``: the first ``times`` times each distinct
    prompt (the whole ``messages`` array, images included) is seen, then let it through.

    ``times=None`` fails every matching request. This is what retry tests need: a retried request
    carries the same messages, so it fails N times and then succeeds.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    pattern: str = ""
    fault: FaultKind
    times: int | None = Field(default=1, ge=0)

    @field_validator("pattern")
    @classmethod
    def _valid_regex(cls, v: str) -> str:
        return _check_regex(v)


class ServerConfig(BaseModel):
    """Everything the server does; JSON-serialisable so the subprocess form gets the same config.

    Fault precedence per chat request: ``schedule`` (by 1-based request number since start or
    reset), then ``content_faults`` (first match), then ``random_faults``. Replies: first matching
    ``rules`` entry, else ``reply``, else ``"echo: " + last user text`` (truncated).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = "ctxsafe-mock"
    models: list[str] = Field(default_factory=lambda: ["ctxsafe-mock"])
    reply: str | None = Field(default=None, description="fixed reply; None = echo mode")
    echo_max_chars: int = Field(default=200, ge=0)
    rules: list[ReplyRule] = Field(default_factory=list)
    delay_s: float = Field(default=0.0, ge=0.0)
    jitter_s: float = Field(default=0.0, ge=0.0, description="extra uniform(0, jitter_s) latency, seeded")
    schedule: dict[int, FaultKind] = Field(default_factory=dict)
    content_faults: list[ContentFault] = Field(default_factory=list)
    random_faults: dict[FaultKind, float] = Field(
        default_factory=dict, description="probability of each fault per request; sum <= 1"
    )
    seed: int = 0
    retry_after_s: float | None = Field(default=1.0, ge=0.0, description="Retry-After header on 429")
    retry_after_ms: int | None = Field(default=None, ge=0, description="retry-after-ms header on 429")
    stall_s: float = Field(default=30.0, ge=0.0, description="how long a stall holds the connection")
    api_key: str | None = Field(default=None, description="if set, require 'Authorization: Bearer <key>'")
    image_tokens: int = Field(default=85, ge=0, description="prompt tokens counted per image")
    log_requests: bool = False
    log_max: int = Field(default=10_000, ge=1)
    keepalive_timeout_s: float = Field(default=30.0, gt=0.0)
    max_body_bytes: int = Field(default=64 << 20, gt=0)

    @model_validator(mode="after")
    def _check_random_faults(self) -> Self:
        total = 0.0
        for kind, p in self.random_faults.items():
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"random_faults[{kind!r}] must be in [0, 1], got {p}")
            total += p
        if total > 1.0 + 1e-9:
            raise ValueError(f"random_faults probabilities sum to {total} > 1")
        for n in self.schedule:
            if n < 1:
                raise ValueError(f"schedule keys are 1-based request numbers, got {n}")
        return self


# --------------------------------------------------------------------------------------------------
# Server core
# --------------------------------------------------------------------------------------------------

_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    411: "Length Required",
    413: "Payload Too Large",
    429: "Too Many Requests",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    501: "Not Implemented",
    503: "Service Unavailable",
}


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _error_body(message: str, type_: str, code: str | None) -> bytes:
    return _dumps({"error": {"message": message, "type": type_, "param": None, "code": code}})


def _tokens(chars: int) -> int:
    """A deterministic stand-in for a tokenizer: about four characters per token."""
    return (chars + 3) // 4


def _image_digest(url: str) -> dict[str, Any]:
    """sha256 of a data URL's decoded bytes (what tests compare), or the URL itself if remote."""
    if not url.startswith("data:"):
        return {"url": url}
    header, sep, payload = url.partition(",")
    if not sep or not header.endswith(";base64"):
        return {"error": "not a base64 data URL"}
    try:
        raw = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        return {"error": "invalid base64"}
    return {"sha256": hashlib.sha256(raw).hexdigest(), "media_type": header[5:-7], "bytes": len(raw)}


@dataclass(slots=True)
class _Stats:
    requests: int = 0
    control_requests: int = 0
    chat_completions: int = 0
    images: int = 0
    connections: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)

    def count(self, outcome: str) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "control_requests": self.control_requests,
            "chat_completions": self.chat_completions,
            "images": self.images,
            "connections": self.connections,
            "in_flight": self.in_flight,
            "max_in_flight": self.max_in_flight,
            "outcomes": dict(self.outcomes),
            "uptime_s": round(time.monotonic() - self.started, 3),
        }


@dataclass(slots=True)
class _Response:
    status: int
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    action: Literal["send", "close", "stall"] = "send"


_Parsed = tuple[str, list[str], int]


class MockOpenAIServer:
    """The server itself; lives on one event loop. Use the handles below unless embedding it."""

    def __init__(self, config: ServerConfig | None = None) -> None:
        self._server: asyncio.Server | None = None
        self._conn_tasks: set[asyncio.Task[None]] = set()
        self.port = 0
        self.stats = _Stats()
        self.configure(config or ServerConfig())

    # -- state ---------------------------------------------------------------------------------
    def configure(self, config: ServerConfig) -> None:
        """Replace the config and reset counters (a test can re-script a running server)."""
        self.config = config
        self._rules = [(re.compile(r.pattern), r) for r in config.rules]
        self._content_faults = [(re.compile(f.pattern), f) for f in config.content_faults]
        self._needs_digests = config.log_requests or any(r.image_sha256 for r in config.rules)
        self._fault_table = list(config.random_faults.items())
        self._static_429_headers = self._make_429_headers()
        self.reset()

    def reset(self) -> None:
        """Zero counters, clear the log and content-fault memory, reseed the fault RNG."""
        self.stats = _Stats(in_flight=self.stats.in_flight)
        self.log: deque[dict[str, Any]] = deque(maxlen=self.config.log_max)
        self._seen: dict[tuple[int, str], int] = {}
        self._rng = random.Random(self.config.seed)
        self._jitter_rng = random.Random(self.config.seed + 1)

    def _make_429_headers(self) -> tuple[tuple[str, str], ...]:
        hdrs: list[tuple[str, str]] = []
        ra = self.config.retry_after_s
        if ra is not None:
            hdrs.append(("retry-after", str(int(ra)) if float(ra).is_integer() else repr(ra)))
        if self.config.retry_after_ms is not None:
            hdrs.append(("retry-after-ms", str(self.config.retry_after_ms)))
        return tuple(hdrs)

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}/v1"

    # -- lifecycle -----------------------------------------------------------------------------
    async def start(self, port: int = 0) -> int:
        """Listen on 127.0.0.1:``port`` (0 = a free port) and return the port."""
        self._server = await asyncio.start_server(
            self._on_connection, HOST, port, limit=_MAX_HEAD_BYTES, reuse_address=True
        )
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    async def stop(self, timeout_s: float = 5.0) -> None:
        """Stop listening and drop every open connection (stalled ones included)."""
        if self._server is not None:
            self._server.close()
        tasks = list(self._conn_tasks)
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=timeout_s)
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), timeout_s)
            self._server = None

    # -- HTTP ----------------------------------------------------------------------------------
    async def _on_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._conn_tasks.add(task)
        try:
            await self._serve_connection(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, TimeoutError):
            pass
        except asyncio.CancelledError:
            # Only stop() cancels these tasks. Ending normally (not re-raising) keeps Python 3.11's
            # streams callback from logging "Exception in callback" for a cancelled task.
            pass
        except Exception as exc:  # pragma: no cover - a bug; say so once, keep serving others
            print(f"ctxsafe openai_server: connection error: {exc!r}", file=sys.stderr)
        finally:
            self._conn_tasks.discard(task)
            writer.close()

    async def _serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        counted = False  # connections/requests count API traffic only, not /_stats polling
        # Bounded: each iteration waits at most keepalive_timeout_s, and stop() cancels the task.
        while True:
            try:
                async with asyncio.timeout(self.config.keepalive_timeout_s):
                    head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.LimitOverrunError:
                await self._send(
                    writer,
                    _Response(431, _error_body("headers too large", "invalid_request_error", None)),
                    False,
                )
                return
            lines = head[:-4].decode("latin-1").split("\r\n")
            parts = lines[0].split(" ")
            if len(parts) != 3:
                await self._send(
                    writer,
                    _Response(400, _error_body("bad request line", "invalid_request_error", None)),
                    False,
                )
                return
            method, target, version = parts
            headers: dict[str, str] = {}
            for line in lines[1:]:
                k, _, v = line.partition(":")
                headers[k.strip().lower()] = v.strip()
            conn = headers.get("connection", "").lower()
            keep_alive = conn != "close" if version == "HTTP/1.1" else conn == "keep-alive"
            if "transfer-encoding" in headers:
                await self._send(
                    writer,
                    _Response(501, _error_body("chunked bodies unsupported", "invalid_request_error", None)),
                    False,
                )
                return
            try:
                length = int(headers.get("content-length", "0"))
            except ValueError:
                length = -1
            if length < 0 or length > self.config.max_body_bytes:
                status = 400 if length < 0 else 413
                await self._send(
                    writer,
                    _Response(status, _error_body("bad body length", "invalid_request_error", None)),
                    False,
                )
                return
            body = b""
            if length and headers.get("expect", "").lower() == "100-continue":
                writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")  # curl waits for this on big bodies
            if length:
                async with asyncio.timeout(self.config.keepalive_timeout_s):
                    body = await reader.readexactly(length)
            path = target.partition("?")[0]
            if path.startswith("/_"):
                self.stats.control_requests += 1
            else:
                self.stats.requests += 1
                if not counted:
                    counted = True
                    self.stats.connections += 1
            resp = await self._route(method, path, headers, body)
            if resp.action == "close":
                return
            if resp.action == "stall":
                # Hold the connection silently until the client gives up (EOF) or stall_s passes.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.config.stall_s):
                        await reader.read(1 << 16)
                return
            await self._send(writer, resp, keep_alive)
            if not keep_alive:
                return

    @staticmethod
    async def _send(writer: asyncio.StreamWriter, resp: _Response, keep_alive: bool) -> None:
        head = [
            f"HTTP/1.1 {resp.status} {_REASONS.get(resp.status, 'Status')}",
            "content-type: application/json",
            f"content-length: {len(resp.body)}",
            "connection: keep-alive" if keep_alive else "connection: close",
        ]
        head.extend(f"{k}: {v}" for k, v in resp.headers)
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + resp.body)
        await writer.drain()

    async def _route(self, method: str, path: str, headers: dict[str, str], body: bytes) -> _Response:
        if path in ("/v1/chat/completions", "/chat/completions"):
            if method != "POST":
                return _Response(405, _error_body("use POST", "invalid_request_error", None))
            return await self._chat(headers, body)
        if path in ("/v1/models", "/models") and method == "GET":
            return self._ok(
                {
                    "object": "list",
                    "data": [
                        {"id": m, "object": "model", "created": 0, "owned_by": "ctxsafe"} for m in self.config.models
                    ],
                }
            )
        if path.startswith("/v1/models/") and method == "GET":
            mid = path[len("/v1/models/") :]
            if mid in self.config.models:
                return self._ok({"id": mid, "object": "model", "created": 0, "owned_by": "ctxsafe"})
            return _Response(404, _error_body(f"model {mid!r} not found", "invalid_request_error", "model_not_found"))
        if path == "/_stats" and method == "GET":
            return self._ok(self.stats.as_dict())
        if path == "/_reset" and method == "POST":
            self.reset()
            return self._ok({"ok": True})
        if path == "/_log" and method == "GET":
            if not self.config.log_requests:
                return _Response(
                    404,
                    _error_body("request logging is off (log_requests=false)", "invalid_request_error", None),
                )
            return self._ok(list(self.log))
        if path == "/_config":
            if method == "GET":
                return _Response(200, self.config.model_dump_json().encode())
            if method == "POST":
                try:
                    cfg = ServerConfig.model_validate_json(body)
                except ValueError as exc:
                    return _Response(400, _error_body(str(exc), "invalid_request_error", None))
                self.configure(cfg)
                return self._ok({"ok": True})
        return _Response(404, _error_body(f"no route {method} {path}", "invalid_request_error", None))

    @staticmethod
    def _ok(obj: Any) -> _Response:
        return _Response(200, _dumps(obj))

    # -- chat completions ----------------------------------------------------------------------
    async def _chat(self, headers: dict[str, str], body: bytes) -> _Response:
        st = self.stats
        st.chat_completions += 1
        n = st.chat_completions
        st.in_flight += 1
        if st.in_flight > st.max_in_flight:
            st.max_in_flight = st.in_flight
        try:
            resp, outcome = await self._chat_inner(n, headers, body)
        finally:
            st.in_flight -= 1
        st.count(outcome)
        return resp

    def _bad(self, msg: str) -> tuple[_Response, str]:
        return _Response(400, _error_body(msg, "invalid_request_error", None)), "bad_request"

    async def _chat_inner(self, n: int, headers: dict[str, str], body: bytes) -> tuple[_Response, str]:
        cfg = self.config
        if cfg.api_key is not None and headers.get("authorization") != f"Bearer {cfg.api_key}":
            return _Response(
                401, _error_body("Incorrect API key provided", "invalid_request_error", "invalid_api_key")
            ), "unauthorized"
        try:
            req = json.loads(body)
        except ValueError:
            return self._bad("request body is not valid JSON")
        if not isinstance(req, dict):
            return self._bad("request body must be a JSON object")
        messages = req.get("messages")
        if not isinstance(messages, list) or not messages:
            return self._bad("'messages' must be a non-empty array")
        if req.get("stream"):
            return self._bad("streaming is not supported by the ctxsafe test server")
        try:
            text, image_urls, prompt_chars = self._parse_messages(messages)
        except (TypeError, AttributeError, KeyError):
            return self._bad("malformed 'messages'")
        self.stats.images += len(image_urls)

        digests: list[dict[str, Any]] = []
        if self._needs_digests and image_urls:
            digests = [_image_digest(u) for u in image_urls]

        fault = self._pick_fault(n, text, messages)

        if cfg.log_requests:
            self.log.append(
                {
                    "n": n,
                    "fault": fault,
                    "images": digests,
                    "body": self._redact_images(req, iter(digests)),
                }
            )

        if fault == "close":
            return _Response(0, action="close"), "close"
        if fault == "stall":
            return _Response(0, action="stall"), "stall"
        if cfg.delay_s or cfg.jitter_s:
            delay = cfg.delay_s + (self._jitter_rng.uniform(0.0, cfg.jitter_s) if cfg.jitter_s else 0.0)
            await asyncio.sleep(delay)
        rid = f"req_ctxsafe_{n}"
        if fault == "429":
            return (
                _Response(
                    429,
                    _error_body(
                        "Rate limit reached for requests (ctxsafe test server).",
                        "requests",
                        "rate_limit_exceeded",
                    ),
                    (*self._static_429_headers, ("x-request-id", rid)),
                ),
                "429",
            )
        if fault == "500":
            return _Response(
                500,
                _error_body("The server had an error while processing your request.", "server_error", None),
                (("x-request-id", rid),),
            ), "500"
        if fault == "503":
            return _Response(
                503,
                _error_body("The engine is currently overloaded, please try again later.", "server_error", None),
                (("x-request-id", rid),),
            ), "503"

        content: str | None
        content, finish = self._reply(text, digests)
        if fault == "content_filter":
            content, finish = None, "content_filter"
        elif fault == "length":
            content, finish = (content or "")[: max(1, len(content or "") // 2)], "length"
        max_tokens = req.get("max_completion_tokens") or req.get("max_tokens")
        if (
            finish == "stop"
            and content
            and isinstance(max_tokens, int)
            and max_tokens > 0
            and _tokens(len(content)) > max_tokens
        ):
            content, finish = content[: max_tokens * 4], "length"
        n_req = req.get("n")
        n_choices = n_req if isinstance(n_req, int) and 0 < n_req <= 128 else 1
        completion_tokens = _tokens(len(content)) if content else 0
        prompt_tokens = _tokens(prompt_chars) + cfg.image_tokens * len(image_urls)
        model = req.get("model") if isinstance(req.get("model"), str) else cfg.model
        message = {"role": "assistant", "content": content, "refusal": None}
        payload = {
            "id": f"chatcmpl-ctxsafe-{n}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {"index": i, "message": message, "logprobs": None, "finish_reason": finish} for i in range(n_choices)
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens * n_choices,
                "total_tokens": prompt_tokens + completion_tokens * n_choices,
            },
            "system_fingerprint": "fp_ctxsafe",
        }
        out = _dumps(payload)
        if fault == "malformed":
            # Truncated mid-object: always invalid JSON, yet status 200 and application/json.
            return _Response(200, out[: len(out) // 2], (("x-request-id", rid),)), "malformed"
        return _Response(200, out, (("x-request-id", rid),)), (fault or "ok")

    @staticmethod
    def _parse_messages(messages: list[Any]) -> _Parsed:
        """Text and image URLs of the last user message, plus total text length for usage."""
        chars = 0
        last_user: dict[str, Any] | None = None
        for m in messages:
            c = m.get("content")
            if isinstance(c, str):
                chars += len(c)
            elif isinstance(c, list):
                for p in c:
                    if p.get("type") == "text":
                        chars += len(p.get("text", ""))
            if m.get("role") == "user":
                last_user = m
        if last_user is None:
            return "", [], chars
        c = last_user.get("content")
        if isinstance(c, str):
            return c, [], chars
        texts: list[str] = []
        urls: list[str] = []
        if isinstance(c, list):
            for p in c:
                kind = p.get("type")
                if kind == "text":
                    texts.append(str(p.get("text", "")))
                elif kind == "image_url":
                    iu = p["image_url"]
                    urls.append(str(iu["url"] if isinstance(iu, dict) else iu))
        return "\n".join(texts), urls, chars

    def _pick_fault(self, n: int, text: str, messages: list[Any]) -> str | None:
        fault = self.config.schedule.get(n)
        if fault is not None:
            return fault
        if self._content_faults:
            for i, (rx, cf) in enumerate(self._content_faults):
                if rx.search(text) is None:
                    continue
                if cf.times is None:
                    return cf.fault
                key = (i, hashlib.sha256(json.dumps(messages, sort_keys=True).encode()).hexdigest())
                seen = self._seen.get(key, 0) + 1
                self._seen[key] = seen
                if seen <= cf.times:
                    return cf.fault
                break  # first matching rule decides; this prompt has used up its failures
        if self._fault_table:
            r = self._rng.random()
            acc = 0.0
            for kind, p in self._fault_table:
                acc += p
                if r < acc:
                    return kind
        return None

    def _reply(self, text: str, digests: list[dict[str, Any]]) -> tuple[str | None, str]:
        for rx, rule in self._rules:
            if rx.search(text) is None:
                continue
            if rule.image_sha256 is not None and not any(d.get("sha256") == rule.image_sha256 for d in digests):
                continue
            return rule.reply, rule.finish_reason
        if self.config.reply is not None:
            return self.config.reply, "stop"
        return "echo: " + text[: self.config.echo_max_chars], "stop"

    @staticmethod
    def _redact_images(req: dict[str, Any], digests: Any) -> dict[str, Any]:
        """A copy of the request with each user-image URL replaced by its digest (keeps the log small).

        Only the last user message's images were digested; other image URLs are dropped likewise.
        """
        msgs = req.get("messages", [])
        last_user = max((i for i, m in enumerate(msgs) if m.get("role") == "user"), default=-1)
        out_msgs: list[Any] = []
        for i, m in enumerate(msgs):
            c = m.get("content")
            if not isinstance(c, list):
                out_msgs.append(m)
                continue
            parts: list[Any] = []
            for p in c:
                if p.get("type") == "image_url":
                    d = next(digests, None) if i == last_user else None
                    iu = p.get("image_url")
                    new_iu: dict[str, Any] = dict(d) if d is not None else {"url": "<not digested>"}
                    if isinstance(iu, dict) and "detail" in iu:
                        new_iu["detail"] = iu["detail"]
                    parts.append({"type": "image_url", "image_url": new_iu})
                else:
                    parts.append(p)
            out_msgs.append({**m, "content": parts})
        return {**req, "messages": out_msgs}


# --------------------------------------------------------------------------------------------------
# Handles: thread and subprocess
# --------------------------------------------------------------------------------------------------


class BaseHandle:
    """Control API shared by both ways to run the server; talks to it over loopback HTTP."""

    port: int

    @property
    def base_url(self) -> str:
        """What to pass as ``base_url`` to ``openai.OpenAI`` / ``AsyncOpenAI``."""
        return f"http://{HOST}:{self.port}/v1"

    @property
    def root_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def _call(self, method: str, path: str, body: bytes | None = None, timeout_s: float = 10.0) -> Any:
        conn = http.client.HTTPConnection(HOST, self.port, timeout=timeout_s)
        try:
            hdrs = {"content-type": "application/json"} if body is not None else {}
            conn.request(method, path, body=body, headers=hdrs)
            resp = conn.getresponse()
            data = resp.read()
        finally:
            conn.close()
        if resp.status != 200:
            raise RuntimeError(f"{method} {path} -> {resp.status}: {data[:500]!r}")
        return json.loads(data)

    def stats(self) -> dict[str, Any]:
        """Counters: requests and connections (API traffic; /_* calls are control_requests),
        chat_completions, images, in_flight, max_in_flight, outcomes {ok, 429, ..., bad_request}."""
        result: dict[str, Any] = self._call("GET", "/_stats")
        return result

    def reset(self) -> None:
        """Zero counters, clear the log and content-fault memory, reseed the fault RNG."""
        self._call("POST", "/_reset")

    def log(self) -> list[dict[str, Any]]:
        """Received chat requests ``{n, fault, images, body}`` (needs ``log_requests=True``)."""
        result: list[dict[str, Any]] = self._call("GET", "/_log")
        return result

    def configure(self, config: ServerConfig) -> None:
        """Swap the running server's config (and reset its counters)."""
        self._call("POST", "/_config", config.model_dump_json().encode())

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class ServerHandle(BaseHandle):
    """The server on its own event loop in a daemon thread; the test's loop (if any) stays free."""

    def __init__(
        self,
        config: ServerConfig | None = None,
        *,
        port: int = 0,
        ready_timeout_s: float = 10.0,
        max_seconds: float | None = None,
    ) -> None:
        self.server = MockOpenAIServer(config)
        self.port = 0
        self._max_seconds = max_seconds
        self._loop = asyncio.new_event_loop()
        self._stop_event: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(port,), name="ctxsafe-openai-server", daemon=True)
        self._thread.start()
        if not self._ready.wait(ready_timeout_s):
            self.stop()
            raise TimeoutError(f"test server did not start within {ready_timeout_s}s")
        if self._error is not None:
            self._thread.join(ready_timeout_s)
            raise RuntimeError("test server failed to start") from self._error

    def _run(self, port: int) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._main(port))
        finally:
            self._loop.close()

    async def _main(self, port: int) -> None:
        self._stop_event = asyncio.Event()
        try:
            self.port = await self.server.start(port)
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop_event.wait(), self._max_seconds)
        await self.server.stop()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop the server and join its thread; idempotent."""
        ev = self._stop_event
        if ev is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):  # loop closed between the check and the call
                self._loop.call_soon_threadsafe(ev.set)
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout_s)


def serve_in_thread(
    config: ServerConfig | None = None,
    *,
    port: int = 0,
    ready_timeout_s: float = 10.0,
    max_seconds: float | None = None,
) -> ServerHandle:
    """Start the server in a background thread; the handle is also a context manager that stops it."""
    return ServerHandle(config, port=port, ready_timeout_s=ready_timeout_s, max_seconds=max_seconds)


class SubprocessHandle(BaseHandle):
    """The server in its own Python process (no shared event loop or GIL with the caller)."""

    def __init__(self, proc: subprocess.Popen[bytes], port: int, stderr_file: Any) -> None:
        self.proc = proc
        self.port = port
        self._stderr_file = stderr_file

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stderr_text(self) -> str:
        """What the server wrote to stderr so far (for failure messages)."""
        f = self._stderr_file
        if f is None or f.closed:
            return ""
        f.flush()
        f.seek(0)
        return f.read().decode(errors="replace")  # type: ignore[no-any-return]

    def stop(self, timeout_s: float = 5.0) -> None:
        """SIGTERM, wait, then SIGKILL if needed; idempotent."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout_s)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        if self._stderr_file is not None and not self._stderr_file.closed:
            self._stderr_file.close()


def start_subprocess(
    config: ServerConfig | None = None,
    *,
    port: int = 0,
    ready_timeout_s: float = 20.0,
    max_seconds: float = 3600.0,
    python: str | None = None,
) -> SubprocessHandle:
    """Launch ``python -m ctxsafe.testing.openai_server`` and wait for its READY line.

    The child also exits after ``max_seconds`` or when this process dies, so nothing lingers.
    """
    cfg = config or ServerConfig()
    src_root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ)
    env["PYTHONPATH"] = src_root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    cmd = [
        python or sys.executable,
        "-m",
        "ctxsafe.testing.openai_server",
        "--port",
        str(port),
        "--config-json",
        cfg.model_dump_json(),
        "--max-seconds",
        str(max_seconds),
        "--parent-pid",
        str(os.getpid()),
    ]
    stderr_file = tempfile.TemporaryFile()  # noqa: SIM115 - owned by the handle; a file, not a pipe: a chatty child can never block on it
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=stderr_file, stdin=subprocess.DEVNULL, env=env)
    handle = SubprocessHandle(proc, 0, stderr_file)
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    buf = b""
    deadline = time.monotonic() + ready_timeout_s
    try:
        while b"\n" not in buf:  # bounded by the deadline and by the child's EOF
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"test server subprocess not READY within {ready_timeout_s}s")
            readable, _, _ = select.select([fd], [], [], remaining)
            if not readable:
                continue
            chunk = os.read(fd, 4096)
            if not chunk:
                raise RuntimeError(f"test server subprocess exited early (rc={proc.wait(5)})")
            buf += chunk
        line = buf.split(b"\n", 1)[0].decode().strip()
        m = re.fullmatch(r"READY http://127\.0\.0\.1:(\d+)/v1", line)
        if m is None:
            raise RuntimeError(f"unexpected first line from test server: {line!r}")
        handle.port = int(m.group(1))
    except BaseException as exc:
        err = handle.stderr_text()
        handle.stop()
        if isinstance(exc, Exception) and err:
            raise RuntimeError(f"{exc}\n--- server stderr ---\n{err}") from exc
        raise
    return handle


# --------------------------------------------------------------------------------------------------
# CLI: python -m ctxsafe.testing.openai_server
# --------------------------------------------------------------------------------------------------


async def _serve_cli(config: ServerConfig, port: int, max_seconds: float, parent_pid: int | None) -> None:
    server = MockOpenAIServer(config)
    await server.start(port)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    async def watch_parent() -> None:
        while not stop.is_set():  # bounded by stop, itself set by max_seconds at the latest
            if os.getppid() != parent_pid:
                stop.set()
                return
            await asyncio.sleep(1.0)

    watcher = asyncio.create_task(watch_parent()) if parent_pid is not None else None
    print(f"READY {server.base_url}", flush=True)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), max_seconds if max_seconds > 0 else None)
    stop.set()
    if watcher is not None:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
    await server.stop()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m ctxsafe.testing.openai_server``; prints ``READY <base_url>``."""
    ap = argparse.ArgumentParser(
        prog="python -m ctxsafe.testing.openai_server",
        description="Fault-injecting OpenAI-compatible test server (binds 127.0.0.1 only).",
    )
    ap.add_argument("--port", type=int, default=0, help="0 = a free port")
    ap.add_argument("--config", type=Path, help="ServerConfig as a JSON file")
    ap.add_argument("--config-json", help="ServerConfig as a JSON string")
    ap.add_argument("--max-seconds", type=float, default=3600.0, help="exit after this long (0 = never)")
    ap.add_argument("--parent-pid", type=int, default=None, help="exit when this parent process is gone")
    args = ap.parse_args(argv)
    if args.config is not None and args.config_json is not None:
        ap.error("give --config or --config-json, not both")
    if args.config is not None:
        config = ServerConfig.model_validate_json(args.config.read_bytes())
    elif args.config_json is not None:
        config = ServerConfig.model_validate_json(args.config_json)
    else:
        config = ServerConfig()
    asyncio.run(_serve_cli(config, args.port, args.max_seconds, args.parent_pid))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
