"""Several endpoints for one model: load spread over replicas, per-endpoint concurrency, failover, and an
unhealthy replica taken out (with a fake clock, so nothing here depends on timing)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from ctxsafe.images import ImageStore
from ctxsafe.providers.base import GenParams, Provider, ProviderError
from ctxsafe.providers.registry import Endpoint, make_provider
from ctxsafe.providers.replicas import Replicas
from ctxsafe.schema import Message
from ctxsafe.testing.openai_server import ServerConfig, ServerHandle

ServerFactory = Callable[..., ServerHandle]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _pool(*servers: ServerHandle, concurrency: int = 16, clock: FakeClock | None = None) -> Replicas:
    provider = make_provider("openai:mock", Endpoint(base_url=",".join(s.base_url for s in servers),
                                                     concurrency=concurrency, timeout_s=5.0))
    assert isinstance(provider, Replicas)
    if clock is not None:
        provider._clock = clock
    return provider


async def _ask(pool: Provider, text: str = "hello") -> str | None:
    c = await pool.complete([Message.user(text)], GenParams(), ImageStore())
    return c.text


async def test_load_spreads_and_each_endpoint_keeps_its_own_limit(openai_server: ServerFactory) -> None:
    a = openai_server(reply="from a", delay_s=0.05)
    b = openai_server(reply="from b", delay_s=0.05)
    pool = _pool(a, b, concurrency=2)
    assert pool.max_concurrency == 4
    try:
        answers = await asyncio.gather(*(_ask(pool, f"q{i}") for i in range(24)))
    finally:
        await pool.aclose()
    assert sorted(set(answers)) == ["from a", "from b"]
    for server in (a, b):
        stats = server.stats()
        assert stats["chat_completions"] >= 6, stats  # neither replica is starved
        assert stats["max_in_flight"] <= 2, stats  # per-endpoint concurrency holds
    assert a.stats()["chat_completions"] + b.stats()["chat_completions"] == 24


async def test_failing_replica_is_taken_out_then_given_one_trial(openai_server: ServerFactory) -> None:
    bad = openai_server(random_faults={"500": 1.0})
    good = openai_server(reply="ok")
    clock = FakeClock()
    pool = _pool(bad, good, clock=clock)
    try:
        answers = [await _ask(pool, f"q{i}") for i in range(12)]
        assert answers == ["ok"] * 12  # every failure moved at once to the healthy replica
        assert bad.stats()["chat_completions"] == 3  # three strikes, then out
        assert [h["out"] for h in pool.health()] == [True, False]
        clock.now += 31.0  # the cool-down has passed: one trial request, which fails again
        assert [await _ask(pool, f"r{i}") for i in range(6)] == ["ok"] * 6
        assert bad.stats()["chat_completions"] == 4
        bad.configure(ServerConfig(reply="ok"))  # the replica recovers
        clock.now += 31.0
        assert [await _ask(pool, f"s{i}") for i in range(6)] == ["ok"] * 6
        assert bad.stats()["chat_completions"] >= 2  # back in rotation after a good trial
    finally:
        await pool.aclose()


async def test_unreachable_replica_fails_over_and_all_down_raises(openai_server: ServerFactory) -> None:
    dead = openai_server()
    dead_url = dead.base_url
    dead.stop()
    good = openai_server(reply="ok")
    provider = make_provider("openai:mock", Endpoint(base_url=f"{dead_url},{good.base_url}", timeout_s=5.0))
    assert isinstance(provider, Replicas)
    try:
        assert await _ask(provider) == "ok"
    finally:
        await provider.aclose()
    alone = make_provider("vllm/m", Endpoint(base_url=f"{dead_url},{dead_url.replace('/v1', '/x/v1')}"))
    with pytest.raises(ProviderError) as info:
        await _ask(alone)
    assert info.value.retryable
    await alone.aclose()


async def test_permanent_errors_are_not_failed_over(openai_server: ServerFactory) -> None:
    a = openai_server(api_key="k-only-a-knows")
    b = openai_server(reply="should not be reached")
    pool = _pool(a, b)
    try:
        pool._turn = -1  # start with replica a
        with pytest.raises(ProviderError) as info:
            await _ask(pool)
        assert not info.value.retryable and "401" in str(info.value)
    finally:
        await pool.aclose()
    assert a.stats()["chat_completions"] + b.stats()["chat_completions"] == 1


def test_identity_covers_every_replica_in_any_order() -> None:
    one = make_provider("openai:m", Endpoint(base_url="http://127.0.0.1:1/v1,http://127.0.0.1:2/v1"))
    two = make_provider("openai:m", Endpoint(base_url="http://127.0.0.1:2/v1, http://127.0.0.1:1/v1"))
    assert one.identity == two.identity and "127.0.0.1:1" in one.identity and "127.0.0.1:2" in one.identity
