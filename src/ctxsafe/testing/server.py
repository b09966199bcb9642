"""The local, fault-injecting test server: control endpoints, stats, the log, and one generation path
shared by every wire format (OpenAI chat and Azure, OpenAI Responses, Anthropic Messages, Gemini)."""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from ctxsafe.testing.batch_service import BatchService
from ctxsafe.testing.http_core import HttpServer, Response, dumps, openai_error_body
from ctxsafe.testing.script import BadRequest, Script, image_digest
from ctxsafe.testing.server_config import HOST, ServerConfig
from ctxsafe.testing.wire import Wire
from ctxsafe.testing.wire_anthropic import AnthropicWire
from ctxsafe.testing.wire_gemini import GeminiWire
from ctxsafe.testing.wire_openai import OpenAIChatWire
from ctxsafe.testing.wire_responses import ResponsesWire


@dataclass(slots=True)
class _Stats:
    requests: int = 0
    control_requests: int = 0
    chat_completions: int = 0
    images: int = 0
    connections: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    batches: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    wires: dict[str, int] = field(default_factory=dict)
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
            "batches": self.batches,
            "outcomes": dict(self.outcomes),
            "wires": dict(self.wires),
            "uptime_s": round(time.monotonic() - self.started, 3),
        }


def _ok(obj: Any) -> Response:
    return Response(200, dumps(obj))


class MockServer(HttpServer):
    """The server itself; lives on one event loop. Use the handles in ``handles`` unless embedding it."""

    def __init__(self, config: ServerConfig | None = None) -> None:
        super().__init__()
        self.stats = _Stats()
        self.wires: list[Wire] = [OpenAIChatWire(), ResponsesWire(), AnthropicWire(), GeminiWire()]
        self.batch = BatchService(lambda wire, path, headers, body: self._generate(wire, path, "", headers, body),
                                  lambda: f"http://{HOST}:{self.port}")
        self.configure(config or ServerConfig())

    # -- state ---------------------------------------------------------------------------------
    def configure(self, config: ServerConfig) -> None:
        """Replace the config and reset counters (a test can re-script a running server)."""
        self.config = config
        self.keepalive_timeout_s = config.keepalive_timeout_s
        self.max_body_bytes = config.max_body_bytes
        self.stall_s = config.stall_s
        self.script = Script(config)
        self.batch.configure(config)
        self._static_429_headers = self._make_429_headers()
        self.reset()

    def reset(self) -> None:
        """Zero counters, clear the log and content-fault memory, reseed the fault RNG."""
        self.stats = _Stats(in_flight=self.stats.in_flight)
        self.log: deque[dict[str, Any]] = deque(maxlen=self.config.log_max)
        self.script.reset()

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

    def count_request(self, path: str, first_on_connection: bool) -> bool:
        if path.startswith("/_"):
            self.stats.control_requests += 1
            return False
        self.stats.requests += 1
        if first_on_connection:
            self.stats.connections += 1
        return True

    # -- routing -------------------------------------------------------------------------------
    async def route(self, method: str, path: str, query: str, headers: dict[str, str], body: bytes) -> Response:
        batch = await self.batch.route(method, path, headers, body)
        if batch is not None:
            if method == "POST" and path in ("/v1/batches", "/v1/messages/batches") and batch.status == 200:
                self.stats.batches += 1
            return batch
        for wire in self.wires:
            if wire.match(method, path):
                if method != "POST":
                    return Response(405, wire.error(405, "bad_request", "use POST"))
                return await self._generate(wire, path, query, headers, body)
        if path in ("/v1/models", "/models") and method == "GET":
            return _ok({"object": "list", "data": [
                {"id": m, "object": "model", "created": 0, "owned_by": "ctxsafe"} for m in self.config.models]})
        if path.startswith("/v1/models/") and method == "GET":
            mid = path[len("/v1/models/"):]
            if mid in self.config.models:
                return _ok({"id": mid, "object": "model", "created": 0, "owned_by": "ctxsafe"})
            return Response(404, openai_error_body(f"model {mid!r} not found", "invalid_request_error",
                                                   "model_not_found"))
        return self._control(method, path, body)

    def _control(self, method: str, path: str, body: bytes) -> Response:
        if path == "/_stats" and method == "GET":
            return _ok(self.stats.as_dict())
        if path == "/_reset" and method == "POST":
            self.reset()
            return _ok({"ok": True})
        if path == "/_log" and method == "GET":
            if not self.config.log_requests:
                return Response(404, openai_error_body("request logging is off (log_requests=false)",
                                                       "invalid_request_error", None))
            return _ok(list(self.log))
        if path == "/_config" and method == "GET":
            return Response(200, self.config.model_dump_json().encode())
        if path == "/_config" and method == "POST":
            try:
                cfg = ServerConfig.model_validate_json(body)
            except ValueError as exc:
                return Response(400, openai_error_body(str(exc), "invalid_request_error", None))
            self.configure(cfg)
            return _ok({"ok": True})
        return Response(404, openai_error_body(f"no route {method} {path}", "invalid_request_error", None))

    # -- generation (any wire format) ------------------------------------------------------------
    async def _generate(self, wire: Wire, path: str, query: str, headers: dict[str, str], body: bytes) -> Response:
        st = self.stats
        st.chat_completions += 1
        st.wires[wire.name] = st.wires.get(wire.name, 0) + 1
        n = st.chat_completions
        st.in_flight += 1
        st.max_in_flight = max(st.max_in_flight, st.in_flight)
        try:
            resp, outcome = await self._generate_inner(wire, n, path, query, headers, body)
        finally:
            st.in_flight -= 1
        st.count(outcome)
        return resp

    async def _generate_inner(self, wire: Wire, n: int, path: str, query: str, headers: dict[str, str],
                              body: bytes) -> tuple[Response, str]:
        cfg = self.config
        if cfg.api_key is not None and not wire.authorized(headers, cfg.api_key):
            return Response(401, wire.error(401, "unauthorized", "Incorrect API key provided")), "unauthorized"
        try:
            req = json.loads(body)
            if not isinstance(req, dict):
                raise BadRequest("request body must be a JSON object")
            prompt = wire.parse(req, path)
        except ValueError:
            return Response(400, wire.error(400, "bad_request", "request body is not valid JSON")), "bad_request"
        except BadRequest as exc:
            return Response(400, wire.error(400, "bad_request", str(exc))), "bad_request"
        if prompt.model is None:
            prompt.model = cfg.model
        if cfg.served_model is not None:  # the reply names the snapshot that "served" the request
            prompt.model = cfg.served_model
        self.stats.images += len(prompt.image_urls)
        digests = [image_digest(u) for u in prompt.image_urls] if self.script.needs_digests else []
        fault = self.script.pick_fault(n, prompt)
        if fault is None and cfg.max_concurrent is not None and self.stats.in_flight > cfg.max_concurrent:
            fault = "429"  # over the provider's concurrency limit
        if cfg.log_requests:
            self.log.append({"n": n, "fault": fault, "wire": wire.name, "path": path, "query": query,
                             "images": digests, "body": wire.log_body(req, digests)})
        if fault == "close":
            return Response(0, action="close"), "close"
        if fault == "stall":
            return Response(0, action="stall"), "stall"
        if cfg.delay_s or cfg.jitter_s:
            await asyncio.sleep(self.script.delay_s())
        rid = (("x-request-id", f"req_ctxsafe_{n}"),)
        if fault == "429":
            msg = "Rate limit reached for requests (ctxsafe test server)."
            return Response(429, wire.error(429, "rate_limit", msg), (*self._static_429_headers, *rid)), "429"
        if fault == "500":
            return Response(500, wire.error(500, "server_error",
                                            "The server had an error while processing your request."), rid), "500"
        if fault == "503":
            return Response(503, wire.error(503, "overloaded",
                                            "The engine is currently overloaded, please try again later."), rid), "503"
        if cfg.reject_images and prompt.has_images:
            return Response(500, wire.error(500, "unsupported", "image input is not supported"), rid), "unsupported"
        if fault == "blocked":
            status, payload = wire.blocked(n, prompt)
            return Response(status, payload, rid), "blocked"
        content, finish = self.script.reply(prompt, digests, fault)
        out = wire.completion(n, prompt, content, finish, self.script.usage(prompt, content))
        if fault == "malformed":
            # Truncated mid-object: always invalid JSON, yet status 200 and application/json.
            return Response(200, out[: len(out) // 2], rid), "malformed"
        return Response(200, out, rid), (fault or "ok")


MockOpenAIServer = MockServer
"""The name this server had when it spoke only the OpenAI wire format."""
