"""A local, fault-injecting test server for every provider wire format, and its command line.

Why it exists: provider code, retries, timeouts and judges must be exercised against the real
wire format (so the official SDKs run unchanged), with scripted model behaviour and reproducible
faults, without network access or API keys. One server speaks OpenAI chat completions (and Azure's
deployment paths), the OpenAI Responses API, Anthropic Messages and Gemini ``generateContent``.

This module keeps the historical import path and the ``python -m ctxsafe.testing.openai_server``
entry point; the pieces live in ``server_config`` (what it does), ``script`` (faults and replies),
``wire_*`` (one module per wire format), ``server`` (stats, log, routing), ``http_core`` (HTTP)
and ``handles`` (thread and subprocess forms).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
from collections.abc import Sequence
from pathlib import Path

from ctxsafe.testing.handles import BaseHandle, ServerHandle, SubprocessHandle, serve_in_thread, start_subprocess
from ctxsafe.testing.server import MockOpenAIServer, MockServer
from ctxsafe.testing.server_config import HOST, ContentFault, FaultKind, FinishReason, ReplyRule, ServerConfig

__all__ = [
    "HOST",
    "BaseHandle",
    "ContentFault",
    "FaultKind",
    "FinishReason",
    "MockOpenAIServer",
    "MockServer",
    "ReplyRule",
    "ServerConfig",
    "ServerHandle",
    "SubprocessHandle",
    "main",
    "serve_in_thread",
    "start_subprocess",
]


async def _serve_cli(config: ServerConfig, port: int, max_seconds: float, parent_pid: int | None) -> None:
    server = MockServer(config)
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
