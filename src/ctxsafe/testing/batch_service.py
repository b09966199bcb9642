"""The batch endpoints of the test server: OpenAI's Batch API (files + batches) and Anthropic's Message
Batches, each item answered by the same script (replies, faults) as a synchronous request.

Time never drives a batch: a batch stays `in_progress` for `batch_polls` status requests and ends on
the next one, so a client's polling is tested without waiting on a clock. Items whose last user text
matches `batch_expire_pattern` expire (the first `batch_expire_times` times that prompt is batched).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

from ctxsafe.testing.http_core import Response, dumps, openai_error_body
from ctxsafe.testing.server_config import ServerConfig
from ctxsafe.testing.wire import Wire
from ctxsafe.testing.wire_anthropic import AnthropicWire
from ctxsafe.testing.wire_openai import OpenAIChatWire

Generate = Callable[[Wire, str, dict[str, str], bytes], Awaitable[Response]]
"""Answers one synchronous request: (wire, path, headers, body) -> response (the server's own path)."""

_OPENAI_BATCH = re.compile(r"^/v1/batches/([^/]+)$")
_OPENAI_FILE = re.compile(r"^/v1/files/([^/]+)/content$")
_ANTHROPIC_BATCH = re.compile(r"^/v1/messages/batches/([^/]+)$")
_ANTHROPIC_RESULTS = re.compile(r"^/v1/messages/batches/([^/]+)/results$")
CHAT_PATH = "/v1/chat/completions"


@dataclass
class _Batch:
    id: str
    kind: str
    """'openai' or 'anthropic'."""
    items: list[tuple[str, dict[str, Any]]]
    """(custom_id, request body) in submission order."""
    headers: dict[str, str]
    created: datetime
    input_file_id: str = ""
    polls: int = 0
    ended: bool = False
    results: list[dict[str, Any]] = field(default_factory=list)
    status: str = "in_progress"
    output_file_id: str | None = None
    error_file_id: str | None = None


def _now() -> datetime:
    return datetime.now(UTC)


def _openai_error(status: int, message: str, code: str | None = None) -> Response:
    return Response(status, openai_error_body(message, "invalid_request_error", code))


def _anthropic_error(status: int, kind: str, message: str) -> Response:
    return Response(status, dumps({"type": "error", "error": {"type": kind, "message": message}}))


def _multipart(headers: dict[str, str], body: bytes) -> dict[str, bytes]:
    """The fields of a multipart/form-data body (what `files.create` sends)."""
    head = f"Content-Type: {headers.get('content-type', '')}\r\n\r\n".encode("latin-1")
    msg = BytesParser(policy=HTTP).parsebytes(head + body)
    out: dict[str, bytes] = {}
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str) and isinstance(payload, bytes):
            out[name] = payload
    return out


class BatchService:
    """Files and batches of both providers, kept in memory for the server's lifetime."""

    def __init__(self, generate: Generate, root_url: Callable[[], str]) -> None:
        self._generate = generate
        self._root_url = root_url
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, _Batch] = {}
        self.created = 0
        self._expired_seen: dict[str, int] = {}
        self.config = ServerConfig()
        self._openai = OpenAIChatWire()
        self._anthropic = AnthropicWire()

    def configure(self, config: ServerConfig) -> None:
        self.config = config
        self._expired_seen.clear()

    async def route(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Response | None:
        """The answer to a batch or file request, or None when the path is not one."""
        if path == "/v1/messages/batches" or path.startswith("/v1/messages/batches/"):
            if self.config.api_key is not None and not self._anthropic.authorized(headers, self.config.api_key):
                return _anthropic_error(401, "authentication_error", "invalid x-api-key")
            return await self._anthropic_route(method, path, headers, body)
        if path in ("/v1/files", "/v1/batches") or path.startswith(("/v1/files/", "/v1/batches/")):
            if self.config.api_key is not None and not self._openai.authorized(headers, self.config.api_key):
                return _openai_error(401, "Incorrect API key provided", "invalid_api_key")
            return await self._openai_route(method, path, headers, body)
        return None

    # -- OpenAI ----------------------------------------------------------------------------------
    async def _openai_route(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Response:
        if path == "/v1/files" and method == "POST":
            fields = _multipart(headers, body)
            if fields.get("purpose") != b"batch" or "file" not in fields:
                return _openai_error(400, "a batch input file needs purpose=batch and a file")
            fid = f"file-ctxsafe-{len(self.files) + 1}"
            self.files[fid] = fields["file"]
            return Response(200, dumps({"id": fid, "object": "file", "bytes": len(fields["file"]),
                                        "created_at": int(_now().timestamp()), "filename": "batch.jsonl",
                                        "purpose": "batch", "status": "processed"}))
        m = _OPENAI_FILE.match(path)
        if m and method == "GET":
            data = self.files.get(m.group(1))
            return Response(200, data) if data is not None else _openai_error(404, f"no file {m.group(1)}")
        if path == "/v1/batches" and method == "POST":
            return self._openai_create(json.loads(body), headers)
        m = _OPENAI_BATCH.match(path)
        if m and method == "GET":
            batch = self.batches.get(m.group(1))
            if batch is None or batch.kind != "openai":
                return _openai_error(404, f"no batch {m.group(1)}")
            await self._advance(batch)
            return Response(200, dumps(self._openai_view(batch)))
        return _openai_error(404, f"no route {method} {path}")

    def _openai_create(self, req: dict[str, Any], headers: dict[str, str]) -> Response:
        data = self.files.get(str(req.get("input_file_id")))
        if data is None:
            return _openai_error(400, f"no input file {req.get('input_file_id')}")
        if req.get("endpoint") != CHAT_PATH or req.get("completion_window") != "24h":
            return _openai_error(400, "endpoint must be /v1/chat/completions and completion_window 24h")
        items: list[tuple[str, dict[str, Any]]] = []
        for line in data.decode("utf-8").splitlines():
            if not line.strip():
                continue
            row = json.loads(line)
            if row.get("method") != "POST" or row.get("url") != CHAT_PATH or not isinstance(row.get("body"), dict):
                return _openai_error(400, f"line {len(items) + 1}: method POST, url {CHAT_PATH} and a body needed")
            items.append((str(row["custom_id"]), row["body"]))
        if len({cid for cid, _ in items}) != len(items):
            return _openai_error(400, "custom_id values must be unique within a batch")
        batch = self._new("batch_ctxsafe", "openai", items, headers)
        batch.input_file_id = str(req["input_file_id"])
        return Response(200, dumps(self._openai_view(batch)))

    def _openai_view(self, b: _Batch) -> dict[str, Any]:
        failed = sum(1 for r in b.results if r.get("error") or (r.get("response") or {}).get("status_code") != 200)
        done_at = int(_now().timestamp()) if b.ended else None
        return {"id": b.id, "object": "batch", "endpoint": CHAT_PATH, "errors": None,
                "input_file_id": b.input_file_id, "completion_window": "24h", "status": b.status,
                "output_file_id": b.output_file_id, "error_file_id": b.error_file_id,
                "created_at": int(b.created.timestamp()), "in_progress_at": int(b.created.timestamp()),
                "expires_at": int((b.created + timedelta(hours=24)).timestamp()),
                "completed_at": done_at if b.status == "completed" else None,
                "expired_at": done_at if b.status == "expired" else None,
                "request_counts": {"total": len(b.items), "completed": len(b.results) - failed if b.ended else 0,
                                   "failed": failed}, "metadata": None}

    # -- Anthropic -------------------------------------------------------------------------------
    async def _anthropic_route(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Response:
        if path == "/v1/messages/batches" and method == "POST":
            req = json.loads(body)
            items = [(str(r["custom_id"]), dict(r["params"])) for r in req.get("requests", [])]
            if not items or len({cid for cid, _ in items}) != len(items):
                return _anthropic_error(400, "invalid_request_error", "requests must be non-empty, custom_id unique")
            batch = self._new("msgbatch_ctxsafe", "anthropic", items, headers)
            return Response(200, dumps(self._anthropic_view(batch)))
        m = _ANTHROPIC_RESULTS.match(path)
        if m and method == "GET":
            done = self.batches.get(m.group(1))
            if done is None or not done.ended:
                return _anthropic_error(404, "not_found_error", f"no results for {m.group(1)}")
            return Response(200, b"".join(dumps(r) + b"\n" for r in done.results))
        m = _ANTHROPIC_BATCH.match(path)
        if m and method == "GET":
            found = self.batches.get(m.group(1))
            if found is None or found.kind != "anthropic":
                return _anthropic_error(404, "not_found_error", f"no batch {m.group(1)}")
            await self._advance(found)
            return Response(200, dumps(self._anthropic_view(found)))
        return _anthropic_error(404, "not_found_error", f"no route {method} {path}")

    def _anthropic_view(self, b: _Batch) -> dict[str, Any]:
        counts = {"processing": 0 if b.ended else len(b.items), "succeeded": 0, "errored": 0, "canceled": 0,
                  "expired": 0}
        for r in b.results:
            counts[r["result"]["type"]] += 1
        return {"id": b.id, "type": "message_batch", "processing_status": "ended" if b.ended else "in_progress",
                "request_counts": counts, "created_at": b.created.isoformat(),
                "expires_at": (b.created + timedelta(hours=24)).isoformat(),
                "ended_at": _now().isoformat() if b.ended else None, "cancel_initiated_at": None,
                "archived_at": None,
                "results_url": f"{self._root_url()}/v1/messages/batches/{b.id}/results" if b.ended else None}

    # -- both ------------------------------------------------------------------------------------
    def _new(self, prefix: str, kind: str, items: list[tuple[str, dict[str, Any]]],
             headers: dict[str, str]) -> _Batch:
        self.created += 1
        batch = _Batch(f"{prefix}_{self.created}", kind, items, dict(headers), _now())
        self.batches[batch.id] = batch
        return batch

    def _expires(self, body: dict[str, Any]) -> bool:
        pattern = self.config.batch_expire_pattern
        if pattern is None:
            return False
        text = json.dumps(body.get("messages", []), sort_keys=True)
        if re.search(pattern, text) is None:
            return False
        key = hashlib.sha256(text.encode()).hexdigest()
        seen = self._expired_seen[key] = self._expired_seen.get(key, 0) + 1
        times = self.config.batch_expire_times
        return times is None or seen <= times

    async def _advance(self, batch: _Batch) -> None:
        """A status request: the batch ends (every item answered) once it has been polled `batch_polls` times."""
        batch.polls += 1
        if batch.ended or batch.polls <= self.config.batch_polls:
            return
        for custom_id, body in batch.items:
            batch.results.append(await self._item(batch, custom_id, body))
        batch.ended = True
        if batch.kind == "openai":
            ok = [r for r in batch.results if r.get("response") and r["response"]["status_code"] == 200]
            bad = [r for r in batch.results if r not in ok]
            batch.output_file_id = self._file(ok)
            batch.error_file_id = self._file(bad)
            batch.status = "expired" if any((r.get("error") or {}).get("code") == "batch_expired"
                                            for r in bad) else "completed"

    def _file(self, rows: list[dict[str, Any]]) -> str | None:
        if not rows:
            return None
        fid = f"file-ctxsafe-{len(self.files) + 1}"
        self.files[fid] = b"".join(dumps(r) + b"\n" for r in rows)
        return fid

    async def _item(self, batch: _Batch, custom_id: str, body: dict[str, Any]) -> dict[str, Any]:
        openai_kind = batch.kind == "openai"
        if self._expires(body):
            if openai_kind:
                return {"id": f"batch_req_{custom_id[:12]}", "custom_id": custom_id, "response": None,
                        "error": {"code": "batch_expired",
                                  "message": "This request could not be executed before the completion window "
                                             "expired."}}
            return {"custom_id": custom_id, "result": {"type": "expired"}}
        wire: Wire = self._openai if openai_kind else self._anthropic
        resp = await self._generate(wire, CHAT_PATH if openai_kind else "/v1/messages", batch.headers,
                                    dumps(body))
        status = resp.status if resp.action == "send" else 500
        try:
            payload = json.loads(resp.body) if resp.action == "send" else None
        except ValueError:
            payload = None
        if payload is None:  # a dropped connection or a torn body inside a batch is the provider's error
            status = 500
            payload = (json.loads(openai_error_body("internal error", "server_error", None)) if openai_kind
                       else {"type": "error", "error": {"type": "api_error", "message": "internal error"}})
        if openai_kind:
            return {"id": f"batch_req_{custom_id[:12]}", "custom_id": custom_id,
                    "response": {"status_code": status, "request_id": f"req_{custom_id[:12]}", "body": payload},
                    "error": None}
        if status == 200:
            return {"custom_id": custom_id, "result": {"type": "succeeded", "message": payload}}
        return {"custom_id": custom_id, "result": {"type": "errored", "error": payload}}
