"""`--batch`: a provider whose calls go through its batch API, behind the same `complete` as a direct call.

Why a provider and not a separate engine phase: every path that calls a model (rollouts, defenses,
LLM judges) goes through the Caller, so its cache, store, outcomes and cost accounting stay the same;
the batcher only changes how requests travel. Requests that arrive together are held until no more
come (the engine's workers are all waiting), then submitted as one batch (several if it exceeds the
provider's limits) and answered when it ends. A turn k+1 exists only once turn k is answered, so a
multi-turn suite sends one batch per turn; a single-turn suite sends one.

Each submitted batch and its requests are recorded in the run store before polling starts, and
each result when the batch ends: a killed run, re-run, re-attaches to the batch in flight (no second
submission, no second bill) and takes its results from the store.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sys
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any

from ctxsafe.engine.call import canonical_request
from ctxsafe.engine.dry_run import Estimator
from ctxsafe.engine.store import RunStore
from ctxsafe.errors import ConfigError
from ctxsafe.images import ImageStore
from ctxsafe.providers.base import Completion, GenParams, Provider, ProviderError
from ctxsafe.providers.batch_base import BatchAPI, ItemResult
from ctxsafe.providers.capabilities import capabilities_of
from ctxsafe.providers.specs import split_spec
from ctxsafe.schema import Message, Usage

MAX_PENDING = 10_000
"""Requests gathered before a submission (the Caller's concurrency under --batch); more go in later batches."""
SETTLE_TICKS = 20
"""Event-loop passes without a new request after which the gathering is over (no clock involved)."""
DEFAULT_POLL_S = 30.0

Sleep = Callable[[float], Awaitable[Any]]
Notify = Callable[[str], None]


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def request_key(identity: str, params: GenParams, messages: list[Message]) -> str:
    """A request's key in the batch ledger (and its custom id): images by hash, so cheap to compute."""
    return hashlib.sha256(canonical_request(identity, "batch", params, messages).encode("utf-8")).hexdigest()


def encode_result(result: ItemResult) -> str:
    if isinstance(result, ProviderError):
        return json.dumps({"error": str(result), "retryable": result.retryable, "refused": result.refused})
    return json.dumps({"completion": {**asdict(result), "usage": result.usage.model_dump()}})


def decode_result(text: str) -> ItemResult:
    row = json.loads(text)
    if "error" in row:
        return ProviderError(row["error"], retryable=row["retryable"], refused=row["refused"])
    c = row["completion"]
    return Completion(c["text"], c["finish_reason"], Usage(**c["usage"]), c["served_model"], c["fingerprint"])


class BatchingProvider:
    """`inner`'s identity and name (so the cache is shared with direct calls), its requests sent by `api`."""

    batch = True

    def __init__(self, inner: Provider, api: BatchAPI, store: RunStore, *, poll_s: float = DEFAULT_POLL_S,
                 sleep: Sleep = asyncio.sleep, notify: Notify = _stderr) -> None:
        self.inner = inner
        self.api = api
        self.store = store
        self.name = inner.name
        self.identity = inner.identity
        self.is_reference = False
        self.max_concurrency = min(api.max_requests, MAX_PENDING)
        self.capabilities = capabilities_of(inner)
        self.poll_s = poll_s
        self._sleep = sleep
        self._notify = notify
        self._waiters: dict[str, list[asyncio.Future[ItemResult]]] = {}
        self._queue: dict[str, tuple[list[Message], GenParams, ImageStore]] = {}
        self._gatherer: asyncio.Task[None] | None = None
        self._followers: dict[str, asyncio.Task[None]] = {}
        self.submitted: list[str] = []
        """Batch ids this provider submitted (a re-attached batch is not one of them)."""

    async def complete(self, messages: list[Message], params: GenParams, images: ImageStore) -> Completion:
        key = request_key(self.identity, params, messages)
        fut: asyncio.Future[ItemResult] = asyncio.get_running_loop().create_future()
        waiting = self._waiters.setdefault(key, [])
        waiting.append(fut)
        if len(waiting) == 1:  # the first asker of this request decides where its answer comes from
            found = self.store.batch_item(self.identity, key)
            if found is not None and found.result is not None:
                self._resolve(key, decode_result(found.result), forget=True)
            elif found is not None and not found.ended:
                self._follow(found.batch_id)  # submitted by an earlier process: re-attach, never resubmit
            else:
                self._queue[key] = (messages, params, images)
                if self._gatherer is None:
                    self._gatherer = asyncio.create_task(self._gather())
        result = await fut
        if isinstance(result, ProviderError):
            raise result
        return result

    def _resolve(self, key: str, result: ItemResult, *, forget: bool) -> None:
        """Answer everyone waiting for `key`; an error the batch gave for it is dropped from the ledger, so a
        retry goes into a new batch (a transient failure to reach the batch keeps it in flight)."""
        for fut in self._waiters.pop(key, []):
            if not fut.done():
                fut.set_result(result)
        if forget and isinstance(result, ProviderError):
            self.store.forget_batch_item(self.identity, key)

    async def _settle(self) -> None:
        """Wait until requests stop arriving: SETTLE_TICKS passes of the event loop without a new one."""
        quiet = 0
        while quiet < SETTLE_TICKS:
            before = len(self._queue)
            await asyncio.sleep(0)
            quiet = quiet + 1 if len(self._queue) == before else 0

    async def _gather(self) -> None:
        try:
            while self._queue:
                await self._settle()
                pending, self._queue = self._queue, {}
                for chunk in self._chunks(pending):
                    await self._submit(chunk)
        finally:
            self._gatherer = None

    def _chunks(self, pending: dict[str, tuple[list[Message], GenParams, ImageStore]],
                ) -> list[list[tuple[str, dict[str, Any]]]]:
        """The requests as batch items, split to respect the provider's count and size limits."""
        chunks: list[list[tuple[str, dict[str, Any]]]] = [[]]
        size = 0
        for key, (messages, params, images) in pending.items():
            item = self.api.item(key, messages, params, images)
            n = len(json.dumps(item, ensure_ascii=False))
            if chunks[-1] and (len(chunks[-1]) >= self.api.max_requests or size + n > self.api.max_bytes):
                chunks.append([])
                size = 0
            chunks[-1].append((key, item))
            size += n
        return [c for c in chunks if c]

    async def _submit(self, chunk: list[tuple[str, dict[str, Any]]]) -> None:
        keys = [k for k, _ in chunk]
        try:
            batch_id = await self.api.submit([item for _, item in chunk])
        except ProviderError as exc:
            if exc.unreachable:  # nothing of the batch was sent: stop the run (re-running resumes it)
                exc = ProviderError(f"{self.name}: cannot reach the batch endpoint ({exc})", retryable=False,
                                    refused=True)
            for k in keys:
                self._resolve(k, exc, forget=False)
            return
        self.store.record_batch(batch_id, self.identity, self.api.kind, keys)
        self.submitted.append(batch_id)
        self._notify(f"{self.name}: batch {batch_id} submitted ({len(keys)} requests)")
        self._follow(batch_id)

    def _follow(self, batch_id: str) -> None:
        if batch_id not in self._followers:
            self._followers[batch_id] = asyncio.create_task(self._poll(batch_id))

    async def _poll(self, batch_id: str) -> None:
        """Poll until the batch ends, store every result, then answer whoever waits for them."""
        try:
            last = None
            while True:
                status = await self.api.status(batch_id)
                if status.ended:
                    break
                if status.status != last:
                    self.store.set_batch_state(batch_id, status.status)
                    self._notify(f"{self.name}: batch {batch_id} {status.status}"
                                 + (f" ({status.counts})" if status.counts else ""))
                    last = status.status
                await self._sleep(self.poll_s)
            got = await self.api.results(batch_id)
        except ProviderError as exc:  # the batch stays in flight: a retry re-attaches to it
            for key in self.store.batch_keys(batch_id):
                self._resolve(key, exc, forget=False)
            return
        finally:
            self._followers.pop(batch_id, None)
        missing = status.missing or ProviderError(f"batch {batch_id} returned no result for this request",
                                                  retryable=True)
        results = {k: got.get(k, missing) for k in self.store.batch_keys(batch_id)}
        self.store.finish_batch(batch_id, status.status, {k: encode_result(r) for k, r in results.items()})
        self._notify(f"{self.name}: batch {batch_id} {status.status}" + (f" ({status.counts})" if status.counts
                                                                          else ""))
        for key, result in results.items():
            if key in self._waiters:
                self._resolve(key, result, forget=True)

    async def aclose(self) -> None:
        tasks = [t for t in (self._gatherer, *self._followers.values()) if t is not None]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.inner.aclose()


BATCH_FAMILIES = ("openai", "anthropic")


def check_batch_spec(spec: str, base_url: str | None) -> None:
    """Refuse `--batch` for a model without a batch API before any data is loaded (as `batched` would later)."""
    family, _ = split_spec(spec)
    if family not in BATCH_FAMILIES or (base_url is not None and "," in base_url):
        raise ConfigError(f"{spec} has no batch API: --batch works with openai: and anthropic: models "
                          "(one endpoint each)")


def batch_api(provider: Provider) -> BatchAPI | None:
    """The provider's batch API (`openai:` and `anthropic:` models have one), else None."""
    make: Callable[[], BatchAPI | None] | None = getattr(provider, "batch_api", None)
    return None if make is None else make()


def batched(provider: Provider, store: RunStore, poll_s: float = DEFAULT_POLL_S) -> Provider:
    """`provider` sending through its batch API (under --dry-run: an estimator charging batch prices).

    Raises ConfigError for a model without a batch API (only `openai:` and `anthropic:` have one)."""
    inner = provider.inner if isinstance(provider, Estimator) else provider
    api = batch_api(inner)
    if api is None:
        raise ConfigError(f"{provider.name} has no batch API: --batch works with openai: and anthropic: models "
                          "(one endpoint each)")
    if isinstance(provider, Estimator):
        provider.batch = True
        return provider
    return BatchingProvider(provider, api, store, poll_s=poll_s)
