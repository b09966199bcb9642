"""Anthropic's Message Batches (half price, answered within 24 hours): `messages.batches.create` with the
run's requests, `retrieve` until `processing_status` is `ended`, then `results`. A succeeded item maps
exactly as a direct reply does (refusal, truncation); errored, canceled and expired items are errors."""

from __future__ import annotations

from typing import Any

import anthropic

from ctxsafe.images import ImageStore
from ctxsafe.providers.anthropic_native import AnthropicProvider, anthropic_error, message_completion
from ctxsafe.providers.base import GenParams, ProviderError
from ctxsafe.providers.batch_base import BatchStatus, ItemResult, SDKBatches
from ctxsafe.schema import Message

_STATUS_OF = {"invalid_request_error": 400, "authentication_error": 401, "permission_error": 403,
              "not_found_error": 404, "request_too_large": 413, "rate_limit_error": 429, "api_error": 500,
              "overloaded_error": 529}
"""An errored item's error type as the HTTP status a direct call would have got (one classification)."""


class AnthropicBatches(SDKBatches[AnthropicProvider]):
    """The Message Batches API of one `anthropic:` model, on that provider's own client."""

    kind = "anthropic"
    max_requests = 100_000
    max_bytes = 240 * 1024 * 1024
    """A batch may hold 256 MB of requests; a margin keeps it safely under."""
    sdk_errors = (anthropic.APIError, ValueError)

    def item(self, custom_id: str, messages: list[Message], params: GenParams, images: ImageStore) -> dict[str, Any]:
        kw = self.provider.request(messages, params, images)
        sampling = kw.pop("extra_body", {})  # a batch's params are plain JSON: sampling goes beside the rest
        return {"custom_id": custom_id, "params": {**kw, **sampling}}

    def map_error(self, exc: Exception) -> ProviderError:
        return anthropic_error(exc, self.provider.name, self.provider.key_env)

    async def submit(self, items: list[dict[str, Any]]) -> str:
        with self.sdk_calls():
            batch = await self.provider.client.messages.batches.create(requests=items)  # type: ignore[arg-type]
        return batch.id

    async def status(self, batch_id: str) -> BatchStatus:
        with self.sdk_calls():
            batch = await self.provider.client.messages.batches.retrieve(batch_id)
        rc = batch.request_counts
        counts = (f"{rc.processing} processing, {rc.succeeded} succeeded, {rc.errored} errored, "
                  f"{rc.canceled} canceled, {rc.expired} expired")
        if batch.processing_status != "ended":
            return BatchStatus(False, batch.processing_status, counts)
        return BatchStatus(True, "ended", counts, ProviderError(
            f"batch {batch_id} ended without a result for this request", retryable=True))

    async def results(self, batch_id: str) -> dict[str, ItemResult]:
        out: dict[str, ItemResult] = {}
        with self.sdk_calls():
            async for entry in await self.provider.client.messages.batches.results(batch_id):
                out[entry.custom_id] = self._result(entry.result)
        return out

    def _result(self, result: Any) -> ItemResult:
        kind = result.type
        if kind == "succeeded":
            return message_completion(result.message)
        if kind == "errored":
            err = result.error.error
            return self.item_error(_STATUS_OF.get(err.type, 500), err.message)
        if kind == "expired":
            return ProviderError("batch item expired before it was processed", retryable=True)
        return ProviderError(f"batch item {kind}", retryable=False)
