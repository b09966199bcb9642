"""Ways to run the test server: a background thread (tests) or a separate process (benchmarks).

Both handles share one control API over loopback HTTP (stats, reset, log, configure), so a test
reads the same numbers whichever form it started.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import os
import re
import select
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from ctxsafe.testing.server import MockServer
from ctxsafe.testing.server_config import HOST, ServerConfig


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
        self.server = MockServer(config)
        self.port = 0
        self._max_seconds = max_seconds
        self._loop = asyncio.new_event_loop()
        self._stop_event: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(port,), name="ctxsafe-test-server", daemon=True)
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
