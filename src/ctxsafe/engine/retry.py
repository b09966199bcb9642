"""Exponential backoff with full jitter that honours the server's Retry-After, up to a limit."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from ctxsafe.providers.base import ProviderError

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6
    base_s: float = 1.0
    cap_s: float = 60.0
    max_retry_after_s: float = 300.0

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        """Wait before attempt `attempt + 1`: the server's hint if given, else jittered backoff."""
        backoff = rng.uniform(0.0, min(self.cap_s, self.base_s * (2 ** (attempt - 1))))
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_retry_after_s) + rng.uniform(0.0, self.base_s * 0.1)
        return backoff


async def with_retries(call: Callable[[], Awaitable[T]], policy: RetryPolicy,
                       rng: random.Random | None = None) -> tuple[T | None, ProviderError | None, int]:
    """Run `call`; retry transient ProviderErrors only; return (value, last error, attempts), never raising them.

    Permanent errors (400-class, unsupported input) and refusals (401/403/404) are never retried:
    the same request cannot succeed, and repeating a refused one only hammers the provider.
    """
    rng = rng or random.Random()
    attempt = 0
    while True:
        attempt += 1
        try:
            return await call(), None, attempt
        except ProviderError as exc:
            if not exc.retryable or attempt >= policy.max_attempts:
                return None, exc, attempt
            await asyncio.sleep(policy.delay(attempt, exc.retry_after, rng))
