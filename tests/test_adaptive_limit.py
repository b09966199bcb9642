"""The adaptive concurrency limit: halves once per window on 429, grows by one after a window of
successes, never above the configured concurrency nor below one; the Caller routes attempts through it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from ctxsafe.engine.adaptive import AdaptiveLimit
from ctxsafe.engine.call import Caller
from ctxsafe.engine.retry import RetryPolicy
from ctxsafe.engine.store import RunStore
from ctxsafe.images import ImageStore
from ctxsafe.providers.base import GenParams, ProviderError
from ctxsafe.providers.openai_compat import OpenAICompatible
from ctxsafe.schema import Message
from ctxsafe.testing.openai_server import ServerConfig, ServerHandle


async def _ok() -> str:
    return "ok"


async def _limited() -> str:
    raise ProviderError("rate limited (429)", retryable=True, rate_limited=True)


async def _other() -> str:
    raise ProviderError("HTTP 500", retryable=True)


async def test_halves_once_per_window_and_grows_back() -> None:
    lim = AdaptiveLimit(8)
    gate = asyncio.Event()

    async def blocked_then_limited() -> str:
        await gate.wait()
        raise ProviderError("rate limited (429)", retryable=True, rate_limited=True)

    # Three requests of the same window are rate-limited: one decrease, not three.
    tasks = [asyncio.create_task(lim.run(blocked_then_limited)) for _ in range(3)]
    await asyncio.sleep(0)
    assert lim.in_flight == 3
    gate.set()
    for t in tasks:
        with pytest.raises(ProviderError):
            await t
    assert (lim.limit, lim.decreases, lim.rate_limited) == (4, 1, 3)
    with pytest.raises(ProviderError):
        await lim.run(_other)  # a 500 is not a rate limit: no decrease
    assert lim.limit == 4
    for _ in range(4):
        await lim.run(_ok)
    assert lim.limit == 5  # a window of successes adds one
    for _ in range(200):
        await lim.run(_ok)
    assert lim.limit == 8  # never above the ceiling
    for _ in range(10):
        with pytest.raises(ProviderError):
            await lim.run(_limited)
    assert lim.limit == 1  # never below one


async def test_the_limit_bounds_requests_in_flight() -> None:
    lim = AdaptiveLimit(4)
    lim.limit = 1
    seen: list[tuple[int, int]] = []

    async def slow() -> str:
        seen.append((lim.in_flight, lim.limit))
        await asyncio.sleep(0.01)
        return "ok"

    assert await asyncio.gather(*(lim.run(slow) for _ in range(12))) == ["ok"] * 12
    assert all(in_flight <= limit for in_flight, limit in seen)
    assert seen[0] == (1, 1) and max(f for f, _ in seen) > 1  # started at one, grew with successes


def test_caller_backs_off_on_429_and_all_requests_succeed(
        tmp_path: Path, openai_server: Callable[..., ServerHandle]) -> None:
    server = openai_server(ServerConfig(reply="ok", delay_s=0.02, max_concurrent=2, retry_after_s=None))
    store = RunStore(tmp_path / "s.sqlite")

    async def main() -> tuple[int, int]:
        provider = OpenAICompatible("mock", base_url=server.base_url, api_key=None)
        caller = Caller(provider, GenParams(), store, ImageStore(), RetryPolicy(max_attempts=50, base_s=0.01,
                                                                                cap_s=0.1), 16)
        results = await asyncio.gather(*(caller.complete([Message.user(f"q{i}")]) for i in range(40)))
        await provider.aclose()
        assert caller.adaptive is not None
        return sum(r.completion is not None for r in results), caller.adaptive.decreases

    done, decreases = asyncio.run(main())
    store.close()
    assert done == 40
    assert server.stats()["outcomes"].get("429", 0) >= 1  # the server's limit was hit ...
    assert decreases >= 1  # ... and the limit backed off
