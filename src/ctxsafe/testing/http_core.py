"""The HTTP/1.1 layer of the local test server: raw asyncio streams, keep-alive, Content-Length bodies.

Kept apart from what the server answers so that each wire format (OpenAI, Anthropic, Gemini, ...)
only maps JSON to JSON; binding 127.0.0.1 only, it is a test fixture, never a network service.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from dataclasses import dataclass
from typing import Any, Literal

from ctxsafe.testing.server_config import HOST

_MAX_HEAD_BYTES = 1 << 20

REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    411: "Length Required",
    413: "Payload Too Large",
    429: "Too Many Requests",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    501: "Not Implemented",
    503: "Service Unavailable",
    529: "Overloaded",
}


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def openai_error_body(message: str, type_: str, code: str | None) -> bytes:
    """The OpenAI error envelope, also used for transport-level errors of every wire format."""
    return dumps({"error": {"message": message, "type": type_, "param": None, "code": code}})


@dataclass(slots=True)
class Response:
    status: int
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    action: Literal["send", "close", "stall"] = "send"


class HttpServer:
    """Serves connections and hands each complete request to :meth:`route` (subclasses answer)."""

    keepalive_timeout_s: float = 30.0
    max_body_bytes: int = 64 << 20
    stall_s: float = 30.0

    def __init__(self) -> None:
        self._server: asyncio.Server | None = None
        self._conn_tasks: set[asyncio.Task[None]] = set()
        self.port = 0

    async def route(self, method: str, path: str, query: str, headers: dict[str, str], body: bytes) -> Response:
        raise NotImplementedError

    def count_request(self, path: str, first_on_connection: bool) -> bool:
        """Count a request; return whether it counted as API traffic (subclasses keep the stats)."""
        return False

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
            print(f"ctxsafe test server: connection error: {exc!r}", file=sys.stderr)
        finally:
            self._conn_tasks.discard(task)
            writer.close()

    async def _serve_connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        counted = False  # connections/requests count API traffic only, not /_stats polling
        # Bounded: each iteration waits at most keepalive_timeout_s, and stop() cancels the task.
        while True:
            try:
                async with asyncio.timeout(self.keepalive_timeout_s):
                    head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.LimitOverrunError:
                await self._send(
                    writer,
                    Response(431, openai_error_body("headers too large", "invalid_request_error", None)),
                    False,
                )
                return
            lines = head[:-4].decode("latin-1").split("\r\n")
            parts = lines[0].split(" ")
            if len(parts) != 3:
                await self._send(
                    writer,
                    Response(400, openai_error_body("bad request line", "invalid_request_error", None)),
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
                    Response(501, openai_error_body("chunked bodies unsupported", "invalid_request_error", None)),
                    False,
                )
                return
            try:
                length = int(headers.get("content-length", "0"))
            except ValueError:
                length = -1
            if length < 0 or length > self.max_body_bytes:
                status = 400 if length < 0 else 413
                await self._send(
                    writer,
                    Response(status, openai_error_body("bad body length", "invalid_request_error", None)),
                    False,
                )
                return
            body = b""
            if length and headers.get("expect", "").lower() == "100-continue":
                writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")  # curl waits for this on big bodies
            if length:
                async with asyncio.timeout(self.keepalive_timeout_s):
                    body = await reader.readexactly(length)
            path, _, query = target.partition("?")
            counted = self.count_request(path, not counted) or counted
            resp = await self.route(method, path, query, headers, body)
            if resp.action == "close":
                return
            if resp.action == "stall":
                # Hold the connection silently until the client gives up (EOF) or stall_s passes.
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.stall_s):
                        await reader.read(1 << 16)
                return
            await self._send(writer, resp, keep_alive)
            if not keep_alive:
                return

    @staticmethod
    async def _send(writer: asyncio.StreamWriter, resp: Response, keep_alive: bool) -> None:
        head = [
            f"HTTP/1.1 {resp.status} {REASONS.get(resp.status, 'Status')}",
            "content-type: application/json",
            f"content-length: {len(resp.body)}",
            "connection: keep-alive" if keep_alive else "connection: close",
        ]
        head.extend(f"{k}: {v}" for k, v in resp.headers)
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + resp.body)
        await writer.drain()
