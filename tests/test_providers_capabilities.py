"""Capabilities known before the run: a text-only model given image cases stops before its first call,
in one line; an endpoint that answers "image input is not supported" is a permanent error, never retried;
declared limits (count, side, format, bytes) are checked per image."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from ctxsafe.engine.call import Caller
from ctxsafe.engine.retry import RetryPolicy
from ctxsafe.engine.store import RunStore
from ctxsafe.exit_codes import ExitCode
from ctxsafe.images import ImageStore
from ctxsafe.providers.base import GenParams
from ctxsafe.providers.capabilities import GEMINI, TEXT_ONLY, Capabilities, image_problem
from ctxsafe.providers.openai_compat import OpenAICompatible
from ctxsafe.schema import ImagePart, Message
from ctxsafe.testing.openai_server import ServerConfig, ServerHandle

ROOT = Path(__file__).resolve().parents[1]


def test_text_only_model_with_image_cases_fails_fast_in_one_line(
        tmp_path: Path, openai_server: Callable[..., ServerHandle]) -> None:
    server = openai_server(ServerConfig(reply="Sure."))
    res = subprocess.run(
        [sys.executable, "-m", "ctxsafe", "run", "mssbench", "--text-only", "--model", "llamacpp:gemma",
         "--base-url", server.base_url, "--store", str(tmp_path / "s.sqlite"), "--out", str(tmp_path / "out"),
         "--no-progress"],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT / "src")}, timeout=300,
        check=False)
    assert res.returncode == 2, res.stdout + res.stderr
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, res.stderr
    assert "model llamacpp:gemma cannot take case" in lines[0] and "accepts text only" in lines[0]
    assert server.stats()["requests"] == 0


def test_unsupported_image_input_is_permanent_and_recorded_with_its_reason(
        tmp_path: Path, openai_server: Callable[..., ServerHandle], png_bytes: bytes) -> None:
    server = openai_server(ServerConfig(reject_images=True, reply="text is fine"))
    images = ImageStore()
    part = images.add_bytes(png_bytes, source="red.png", record="r1")
    store = RunStore(tmp_path / "s.sqlite")

    async def main() -> tuple[str | None, int, str | None]:
        provider = OpenAICompatible("gemma", base_url=server.base_url, api_key=None, label="llamacpp")
        caller = Caller(provider, GenParams(), store, images, RetryPolicy(max_attempts=6, base_s=0.01))
        bad = await caller.complete([Message.user(part, "What is this?")])
        good = await caller.complete([Message.user("Just text.")])
        await provider.aclose()
        return bad.error, bad.attempts, good.completion.text if good.completion else None

    error, attempts, text = asyncio.run(main())
    store.close()
    assert attempts == 1  # permanent: not retried six times
    assert error is not None and "unsupported input" in error and "image input is not supported" in error
    assert text == "text is fine"
    assert server.stats()["outcomes"] == {"unsupported": 1, "ok": 1}


def _image(media_type: str = "image/png", w: int = 100, h: int = 50) -> ImagePart:
    return ImagePart(source="x", sha256="0" * 64, media_type=media_type, width=w, height=h)


def test_declared_limits_are_checked_per_image() -> None:
    assert image_problem(_image(), 1, TEXT_ONLY) == "the model accepts text only"
    assert image_problem(_image(), 1, Capabilities()) is None
    assert "format image/gif" in (image_problem(_image("image/gif"), 1, GEMINI) or "")
    caps = Capabilities(max_images=2, max_side=80, max_image_bytes=1000)
    assert "over the limit of 2" in (image_problem(_image(w=10, h=10), 3, caps) or "")
    assert "80px side limit" in (image_problem(_image(), 1, caps) or "")
    assert "1000-byte limit" in (image_problem(_image(w=10, h=10), 1, caps, size=2000) or "")


def test_error_reasons_reach_the_terminal_and_report(tmp_path: Path,
                                                     openai_server: Callable[..., ServerHandle]) -> None:
    """A text-only server not declared as such: every image case fails once (not six times), and the
    reason is printed by the run and by `report`, not only stored."""
    server = openai_server(ServerConfig(reject_images=True, reply="Sure."))
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    store = tmp_path / "s.sqlite"
    res = subprocess.run(
        [sys.executable, "-m", "ctxsafe", "run", "mssbench", "--model", "llamacpp:gemma", "--base-url",
         server.base_url, "--store", str(store), "--out", str(tmp_path / "out"), "--no-progress"],
        capture_output=True, text=True, env=env, timeout=300, check=False)
    assert res.returncode == ExitCode.FINISHED_WITH_ERRORS, res.stderr
    unsupported = server.stats()["outcomes"]["unsupported"]
    assert unsupported > 0 and server.stats()["outcomes"].get("ok", 0) == 0
    line = next((x for x in res.stdout.splitlines() if f"error: {unsupported} x unsupported input (HTTP 500)" in x
                 and "image input is not supported" in x), None)
    assert line is not None, res.stdout
    assert "cost $0.0000" in res.stdout  # a local server costs nothing, failed calls included
