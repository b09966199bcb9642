"""The one path by which any request reaches a provider: cache lookup, bounded concurrency, retries.

A request is keyed by its exact content (provider identity, decoding parameters, messages with
image hashes), so an identical request is never paid for twice, across runs and across roles.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from ctxsafe.engine import budget
from ctxsafe.engine.adaptive import limit_for
from ctxsafe.engine.retry import RetryPolicy, with_retries
from ctxsafe.engine.store import RunStore
from ctxsafe.engine.store_rows import CachedResponse
from ctxsafe.errors import ConfigError, ProviderRefusedError
from ctxsafe.images import ImageStore
from ctxsafe.providers.base import Completion, GenParams, Provider, ProviderError
from ctxsafe.redact import redact, redact_secrets
from ctxsafe.schema import ImagePart, Message, Outcome, TurnRecord, Usage


def canonical_request(identity: str, namespace: str, params: GenParams, messages: list[Message]) -> str:
    """A stable JSON text of the request: images by sha256, never by bytes (and never a key)."""
    msgs: list[Any] = []
    for m in messages:
        parts: list[Any] = []
        for p in m.parts:
            if isinstance(p, ImagePart):
                parts.append({"image": p.sha256, "media_type": p.media_type})
            else:
                parts.append(p.text)
        msgs.append([m.role, parts])
    return json.dumps({"provider": identity, "ns": namespace, "params": params.as_dict(), "messages": msgs},
                      sort_keys=True, separators=(",", ":"), ensure_ascii=False)


_SURROGATE = re.compile("[\ud800-\udfff]")


def clean_reply(text: str | None) -> str | None:
    """A reply as it is stored, shown and sent back as history: configured secrets masked, and lone UTF-16
    surrogates (not Unicode text; SQLite cannot store them) replaced by U+FFFD. Nothing else changes."""
    if text is None:
        return None
    return _SURROGATE.sub("\ufffd", redact_secrets(text))


def error_text(exc: ProviderError, attempts: int) -> str:
    suffix = f" (after {attempts} attempts)" if attempts > 1 else ""
    return _SURROGATE.sub("\ufffd", redact(f"{exc}{suffix}"))


def outcome_of(finish_reason: str | None) -> Outcome:
    return "content_filter" if finish_reason == "content_filter" else "ok"


@dataclass(frozen=True)
class CallResult:
    key: str
    body: str
    completion: Completion | None
    error: str | None
    cached: bool
    attempts: int
    latency_s: float

    @property
    def outcome(self) -> Outcome:
        if self.completion is None:
            return "error"
        return outcome_of(self.completion.finish_reason)

    def served(self) -> dict[str, Any]:
        """The Judgement fields that say which model answered and whether the answer came from the cache."""
        c = self.completion
        return {"served_model": None if c is None else c.served_model,
                "served_fingerprint": None if c is None else c.fingerprint, "cached": self.cached}


class Caller:
    """Binds a provider to its parameters, the store (cache) and a retry policy."""

    def __init__(self, provider: Provider, params: GenParams, store: RunStore, images: ImageStore,
                 retry: RetryPolicy | None = None, concurrency: int | None = None, namespace: str = "",
                 adaptive: bool = True, before_first: Callable[[], Awaitable[None]] | None = None) -> None:
        self.provider = provider
        self.before_first = before_first
        """Awaited once before this caller's first fresh request (the run's judge pre-flight): a fully
        cached resume sends nothing, and a bad judge key stops the run before anything is paid for."""
        self.params = params
        self.store = store
        self.images = images
        self.retry = retry or RetryPolicy()
        self.namespace = namespace
        self.concurrency = provider.max_concurrency if concurrency is None else concurrency
        if self.concurrency < 1:
            raise ConfigError(f"concurrency must be at least 1, got {self.concurrency}")
        self._sem = asyncio.Semaphore(self.concurrency)
        self._first = asyncio.Lock()
        self._reached = False
        # A batch provider gathers requests into one submission: its first request must not go alone (that
        # would cost a whole batch round trip); the submission itself reports a bad key or an unreachable
        # endpoint. `before_first` (the judge's direct pre-flight) still runs before it.
        self._batch = bool(getattr(provider, "batch", False))
        # Each attempt also passes the provider's adaptive limit, which halves on 429 and grows back.
        self.adaptive = limit_for(provider, self.concurrency) if adaptive else None
        self._rng = random.Random()
        self._inflight: dict[str, asyncio.Future[CallResult]] = {}
        self.calls_made = 0
        self.cache_hits = 0

    async def complete(self, messages: list[Message], params: GenParams | None = None) -> CallResult:
        """Answer from the cache when this exact request was answered before; else call with retries.

        `params` overrides the bound decoding settings for this call (e.g. a policy sampling candidates).
        """
        params = params or self.params
        body = canonical_request(self.provider.identity, self.namespace, params, messages)
        key = hashlib.sha256(body.encode("utf-8")).hexdigest()
        hit = self.store.cache_get(key)
        if hit is not None:
            self.cache_hits += 1
            return CallResult(key, body, Completion(hit.response, hit.finish_reason, hit.usage, hit.served_model,
                                                    hit.fingerprint), None, True, 0, 0.0)
        shared = self._inflight.get(key)
        if shared is not None:  # an identical request is on its way (e.g. twins sharing turns 1-2)
            self.cache_hits += 1
            return replace(await asyncio.shield(shared), cached=True, attempts=0, latency_s=0.0)
        pending: asyncio.Future[CallResult] = asyncio.get_running_loop().create_future()
        self._inflight[key] = pending
        try:
            async with self._sem:
                meter = budget.current()
                if meter is not None:
                    meter.check()  # no new call once the budget is spent
                result = None
                if not self._reached:
                    async with self._first:  # the pre-flight: an endpoint's first request goes alone,
                        if not self._reached:  # then those that waited for it go together
                            if self.before_first is not None:
                                await self.before_first()
                            if not self._batch:
                                result = await self._call(key, body, messages, params)
                            self._reached = True
                if result is None:
                    result = await self._call(key, body, messages, params)
                if meter is not None:
                    meter.charge(self.namespace or "model", self.provider.name,
                                 result.completion.usage if result.completion is not None else None,
                                 batch=getattr(self.provider, "batch", False))
            pending.set_result(result)
            return result
        finally:
            del self._inflight[key]
            if not pending.done():
                pending.cancel()

    async def preflight(self) -> None:
        """Reach the endpoint once, with a one-token request: a refusal (wrong key, no permission, unknown
        model) or an unreachable server stops the run here. The runner makes it the model's `before_first`
        for the judge, so a bad judge key fails before the model under test is paid for. Not cached: a
        cached answer would prove nothing about today's key. Any other failure is left to the real calls."""
        if self._reached:
            return
        async with self._first:
            if not self._reached:
                params = replace(self.params, max_tokens=1, response_format=None)
                result = await self._call("preflight", "", [Message.user("Reply with OK.")], params)
                meter = budget.current()
                if meter is not None:
                    meter.charge(self.namespace or "model", self.provider.name,
                                 result.completion.usage if result.completion is not None else None)
                self._reached = True

    async def _call(self, key: str, body: str, messages: list[Message], params: GenParams) -> CallResult:
        """One request with retries. A refusal (bad key, no permission, unknown model), or an endpoint that
        cannot be reached by its first request, stops the run: sending the rest would only fail the same way."""
        start = time.perf_counter()
        self.calls_made += 1
        value, exc, attempts = await with_retries(lambda: self._attempt(messages, params), self.retry, self._rng)
        latency = time.perf_counter() - start
        if exc is not None and (exc.refused or (exc.unreachable and not self._reached)):
            reason = str(exc) if exc.refused else f"cannot reach the endpoint ({exc})"
            if not reason.startswith(f"{self.provider.name}:"):
                reason = f"{self.provider.name}: {reason}"
            raise ProviderRefusedError(f"{redact(reason)}; the run was stopped") from None
        if value is not None and value.text is not None:
            value = replace(value, text=clean_reply(value.text))
        return CallResult(key, body, value, None if exc is None else error_text(exc, attempts), False, attempts,
                          latency)

    async def _attempt(self, messages: list[Message], params: GenParams) -> Completion:
        if self.adaptive is None:
            return await self.provider.complete(messages, params, self.images)
        return await self.adaptive.run(lambda: self.provider.complete(messages, params, self.images))

    def remember(self, result: CallResult) -> None:
        """Cache a fresh successful answer (callers that record a turn do it in the turn's transaction)."""
        if not result.cached and result.outcome == "ok" and result.completion is not None:
            c = result.completion
            self.store.cache_put(result.key, result.body,
                                 CachedResponse(c.text, c.finish_reason, c.usage, c.served_model, c.fingerprint))

    async def turn(self, run_id: str, case_id: str, step: str, index: int, messages: list[Message],
                   params: GenParams | None = None) -> TurnRecord:
        """Make (or reuse) one call and commit it as a turn record before returning."""
        res = await self.complete(messages, params)
        c = res.completion
        rec = TurnRecord(
            run_id=run_id, case_id=case_id, step=step, index=index, request_hash=res.key,
            response=None if c is None else (c.text or ""), finish_reason=None if c is None else c.finish_reason,
            outcome=res.outcome, error=res.error, usage=c.usage if c is not None else Usage(),
            latency_s=res.latency_s, cached=res.cached, attempts=res.attempts)
        fresh_ok = not res.cached and res.outcome == "ok"
        self.store.record_turn(rec, res.body, cache_key=res.key if fresh_ok else None,
                               served=(None, None) if c is None else (c.served_model, c.fingerprint))
        return rec
