"""OpenAI's Batch API (half price, answered within 24 hours): the run's chat-completions requests go as
one JSONL file (`files.create`), then `batches.create`, `batches.retrieve` until the batch ends, and
`files.content` of its output and error files. Each line maps exactly as a direct call's reply does."""

from __future__ import annotations

import json
from typing import Any

import openai
from openai.types.chat import ChatCompletion

from ctxsafe.images import ImageStore
from ctxsafe.providers.base import Completion, GenParams, ProviderError
from ctxsafe.providers.batch_base import BatchStatus, ItemResult, SDKBatches
from ctxsafe.providers.openai_compat import OpenAICompatible, chat_completion, chat_request, openai_error
from ctxsafe.redact import redact
from ctxsafe.schema import Message

ENDPOINT = "/v1/chat/completions"
_ENDED = {"completed", "expired", "failed", "cancelled"}


class OpenAIBatches(SDKBatches[OpenAICompatible]):
    """The Batch API of one `openai:` model, on that provider's own client (same base URL and key)."""

    kind = "openai"
    max_requests = 50_000
    max_bytes = 190 * 1024 * 1024
    """The input file limit is 200 MB; a margin keeps the JSONL safely under it."""
    sdk_errors = (openai.APIError, ValueError)

    def item(self, custom_id: str, messages: list[Message], params: GenParams, images: ImageStore) -> dict[str, Any]:
        return {"custom_id": custom_id, "method": "POST", "url": ENDPOINT,
                "body": chat_request(self.provider.model, messages, params, images)}

    def map_error(self, exc: Exception) -> ProviderError:
        return openai_error(exc, self.provider.name, self.provider.key_env)

    async def submit(self, items: list[dict[str, Any]]) -> str:
        data = "".join(json.dumps(i, ensure_ascii=False, separators=(",", ":")) + "\n" for i in items).encode()
        with self.sdk_calls():
            file = await self.provider.client.files.create(file=("ctxsafe-batch.jsonl", data), purpose="batch")
            batch = await self.provider.client.batches.create(input_file_id=file.id,
                                                              endpoint="/v1/chat/completions",
                                                              completion_window="24h")
        return batch.id

    async def status(self, batch_id: str) -> BatchStatus:
        with self.sdk_calls():
            batch = await self.provider.client.batches.retrieve(batch_id)
        rc = batch.request_counts
        counts = "" if rc is None else f"{rc.completed} completed, {rc.failed} failed of {rc.total}"
        if batch.status not in _ENDED:
            return BatchStatus(False, batch.status, counts)
        why = "; ".join(redact(f"{e.code}: {e.message}") for e in (batch.errors.data or [])) if batch.errors else ""
        missing = ProviderError(f"batch {batch_id} {batch.status} without answering this request"
                              + (f" ({why})" if why else ""), retryable=batch.status == "expired")
        return BatchStatus(True, batch.status, counts, missing)

    async def results(self, batch_id: str) -> dict[str, ItemResult]:
        out: dict[str, ItemResult] = {}
        with self.sdk_calls():
            batch = await self.provider.client.batches.retrieve(batch_id)
            for file_id in (batch.output_file_id, batch.error_file_id):
                if file_id:
                    content = await self.provider.client.files.content(file_id)
                    for line in content.text.splitlines():
                        if line.strip():
                            row = json.loads(line)
                            out[str(row["custom_id"])] = self._line(row)
        return out

    def _line(self, row: dict[str, Any]) -> ItemResult:
        """One output or error line, mapped as the synchronous path maps the same reply or error."""
        response = row.get("response")
        if not isinstance(response, dict):
            err = row.get("error") or {}
            expired = err.get("code") == "batch_expired"
            return ProviderError(redact(f"batch item {'expired' if expired else 'failed'}: "
                                      f"{err.get('code')}: {err.get('message')}"), retryable=expired)
        body = response.get("body") or {}
        status = int(response.get("status_code") or 500)
        if status == 200:
            try:
                return chat_completion(ChatCompletion.model_validate(body))
            except ProviderError as exc:
                return exc
            except ValueError as exc:
                return ProviderError(redact(f"malformed batch result: {exc}"), retryable=True)
        err = body.get("error")
        inner: dict[str, Any] = err if isinstance(err, dict) else {}
        if status == 400 and inner.get("code") == "content_filter":
            return Completion(text=None, finish_reason="content_filter")
        return self.item_error(status, str(inner.get("message") or body))
