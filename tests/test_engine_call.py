"""The Caller: identical requests are paid once, whether answered before or still in flight."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from ctxsafe.engine.call import Caller
from ctxsafe.engine.retry import RetryPolicy
from ctxsafe.engine.store import RunStore
from ctxsafe.images import ImageStore
from ctxsafe.providers.base import GenParams
from ctxsafe.providers.openai_compat import OpenAICompatible
from ctxsafe.schema import Message
from ctxsafe.testing.openai_server import ContentFault, ServerConfig, ServerHandle


async def _twice(caller: Caller, text: str) -> list[str | None]:
    msgs = [Message.user(text)]
    results = await asyncio.gather(caller.complete(msgs), caller.complete(msgs))
    for r in results:
        caller.remember(r)
    return [r.completion.text if r.completion else r.error for r in results]


def test_identical_requests_in_flight_share_one_call(tmp_path: Path,
                                                     openai_server: Callable[..., ServerHandle]) -> None:
    server = openai_server(ServerConfig(reply="the answer", delay_s=0.2))
    store = RunStore(tmp_path / "s.sqlite")

    async def main() -> tuple[list[str | None], list[str | None], int, int]:
        provider = OpenAICompatible("mock", base_url=server.base_url, api_key="k")
        caller = Caller(provider, GenParams(), store, ImageStore())
        first = await _twice(caller, "same question")
        second = await _twice(caller, "same question")  # now from the cache
        await provider.aclose()
        return first, second, caller.calls_made, caller.cache_hits

    first, second, calls, hits = asyncio.run(main())
    assert first == second == ["the answer", "the answer"]
    assert calls == 1 and hits == 3 and server.stats()["requests"] == 1
    store.close()


def test_a_shared_failure_is_an_error_for_both_and_not_cached(tmp_path: Path,
                                                              openai_server: Callable[..., ServerHandle]) -> None:
    server = openai_server(ServerConfig(delay_s=0.1, content_faults=[ContentFault(pattern="bad", fault="500",
                                                                                  times=None)]))
    store = RunStore(tmp_path / "s.sqlite")

    async def main() -> list[str | None]:
        provider = OpenAICompatible("mock", base_url=server.base_url, api_key="k")
        caller = Caller(provider, GenParams(), store, ImageStore(), RetryPolicy(max_attempts=2, base_s=0.01))
        out = await _twice(caller, "bad question")
        await provider.aclose()
        return out

    out = asyncio.run(main())
    assert all(o is not None and "HTTP 500" in o for o in out)
    assert server.stats()["requests"] == 2  # one call, retried once; the twin waited for it
    store.close()
