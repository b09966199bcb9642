"""Several endpoints serving one model (replicas behind a list of base URLs), seen as one provider.

Requests go to the healthy replica with the fewest requests in flight, each replica keeps its own
concurrency limit, and a replica that fails with connection errors, timeouts or 5xx several times
in a row is taken out for a cool-down, then given one trial request. A failed request moves at
once to another healthy replica before the engine's own backoff is used.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ctxsafe.images import ImageStore
from ctxsafe.providers.base import Completion, GenParams, Provider, ProviderError
from ctxsafe.providers.capabilities import Capabilities
from ctxsafe.schema import Message


@dataclass
class Replica:
    """One endpoint's state: its own concurrency limit, load and health."""

    provider: Provider
    limit: int
    in_flight: int = 0
    failures: int = 0
    """Consecutive failures; reset by any success."""
    down_until: float = 0.0
    calls: int = 0
    errors: int = 0
    sem: asyncio.Semaphore = field(init=False)

    def __post_init__(self) -> None:
        self.sem = asyncio.Semaphore(self.limit)

    def healthy(self, now: float) -> bool:
        return now >= self.down_until


class Replicas:
    """A provider over several endpoints of one model; its identity covers them all (one cache)."""

    is_reference = False

    def __init__(self, replicas: Sequence[Provider], *, max_failures: int = 3, cooldown_s: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not replicas:
            raise ValueError("Replicas needs at least one endpoint")
        self.replicas = [Replica(p, p.max_concurrency) for p in replicas]
        first = replicas[0]
        self.name = first.name
        self.identity = "replicas[" + ",".join(sorted(p.identity for p in replicas)) + "]"
        self.max_concurrency = sum(r.limit for r in self.replicas)
        self.capabilities: Capabilities = getattr(first, "capabilities", Capabilities())
        self.max_failures = max_failures
        self.cooldown_s = cooldown_s
        self._clock = clock
        self._turn = 0

    def pick(self, exclude: set[int]) -> int:
        """The healthy replica least loaded for its limit (ties in turn); if none is healthy, the one back
        soonest; -1 when every replica was tried."""
        now = self._clock()
        rest = [i for i in range(len(self.replicas)) if i not in exclude]
        if not rest:
            return -1
        healthy = [i for i in rest if self.replicas[i].healthy(now)]
        if not healthy:
            return min(rest, key=lambda i: self.replicas[i].down_until)
        self._turn += 1
        n = len(self.replicas)
        return min(healthy, key=lambda i: (self.replicas[i].in_flight / self.replicas[i].limit,
                                           (i - self._turn) % n))

    async def complete(self, messages: list[Message], params: GenParams, images: ImageStore) -> Completion:
        tried: set[int] = set()
        last: ProviderError | None = None
        while (i := self.pick(tried)) >= 0:
            tried.add(i)
            r = self.replicas[i]
            r.in_flight += 1  # queued requests count as load, so the next pick prefers another replica
            try:
                async with r.sem:
                    r.calls += 1
                    result = await r.provider.complete(messages, params, images)
            except ProviderError as exc:
                r.errors += 1
                if not exc.retryable or exc.retry_after is not None:
                    raise  # a permanent error, or a rate limit whose wait the engine's backoff honours
                r.failures += 1
                if r.failures >= self.max_failures:
                    r.down_until = self._clock() + self.cooldown_s
                    r.failures = self.max_failures - 1  # after the cool-down: one trial, then out again
                last = exc
                continue
            finally:
                r.in_flight -= 1
            r.failures = 0
            r.down_until = 0.0
            return result
        assert last is not None  # every replica was tried, and each one failed
        raise last

    def health(self) -> list[dict[str, object]]:
        """Per replica: identity, calls, errors and whether it is out now (for summaries and tests)."""
        now = self._clock()
        return [{"identity": r.provider.identity, "calls": r.calls, "errors": r.errors, "out": not r.healthy(now)}
                for r in self.replicas]

    async def aclose(self) -> None:
        for r in self.replicas:
            await r.provider.aclose()
