"""Concurrency that adapts to rate limits: halve on a 429, grow by one after a window of successes.

A fixed limit either wastes capacity (too low) or draws a storm of 429s and backoff sleeps (too
high). This is additive-increase / multiplicative-decrease, as TCP does: one decrease per window
of requests (429s from requests sent before the last decrease do not count again), and the limit
never exceeds the configured concurrency nor falls below one.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import TypeVar

from ctxsafe.providers.base import ProviderError

T = TypeVar("T")


class AdaptiveLimit:
    """The number of requests one provider may have in flight, adjusted from their outcomes."""

    def __init__(self, ceiling: int, floor: int = 1) -> None:
        self.ceiling = max(1, ceiling)
        self.floor = max(1, min(floor, self.ceiling))
        self.limit = self.ceiling
        self.in_flight = 0
        self.decreases = 0
        self.rate_limited = 0
        self._epoch = 0
        self._successes = 0
        self._cond: asyncio.Condition | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _condition(self) -> asyncio.Condition:
        loop = asyncio.get_running_loop()
        if self._cond is None or self._loop is not loop:  # created inside the loop that uses it
            self._cond, self._loop = asyncio.Condition(), loop
        return self._cond

    async def run(self, call: Callable[[], Awaitable[T]]) -> T:
        """Run one attempt inside the limit and learn from how it ended."""
        cond = self._condition()
        async with cond:
            await cond.wait_for(lambda: self.in_flight < self.limit)
            self.in_flight += 1
            epoch = self._epoch
        limited = False
        try:
            return await call()
        except ProviderError as exc:
            limited = exc.rate_limited
            raise
        finally:
            async with cond:
                self.in_flight -= 1
                self._learn(epoch, limited)
                cond.notify_all()

    def _learn(self, epoch: int, limited: bool) -> None:
        if limited:
            self.rate_limited += 1
            if epoch == self._epoch:  # the first 429 of this window
                self.limit = max(self.floor, self.limit // 2)
                self._epoch += 1
                self._successes = 0
                self.decreases += 1
            return
        self._successes += 1
        if self._successes >= self.limit and self.limit < self.ceiling:
            self.limit += 1
            self._successes = 0


def limit_for(provider: object, ceiling: int) -> AdaptiveLimit:
    """One limit per provider object, shared by every Caller that uses it (model and judge roles alike)."""
    limit = getattr(provider, "_ctxsafe_adaptive_limit", None)
    if not isinstance(limit, AdaptiveLimit):
        limit = AdaptiveLimit(ceiling)
        with contextlib.suppress(AttributeError):  # a provider with __slots__ gets a limit per Caller instead
            provider._ctxsafe_adaptive_limit = limit  # type: ignore[attr-defined]
    return limit
