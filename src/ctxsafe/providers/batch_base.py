"""What a provider's batch API must offer the engine: encode one request, submit many, report the
batch's status, and map each item's result to the same Completion or ProviderError as a direct call."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from ctxsafe.images import ImageStore
from ctxsafe.providers.base import Completion, GenParams, ProviderError
from ctxsafe.schema import Message

ItemResult = Completion | ProviderError
"""One request's outcome inside a batch: an answer (content filter and truncation included) or an error."""


@dataclass(frozen=True)
class BatchStatus:
    """Where a submitted batch stands, in the provider's own words."""

    ended: bool
    status: str
    counts: str = ""
    """The provider's request counts, for the progress line (e.g. "3 succeeded, 1 errored")."""
    missing: ProviderError | None = None
    """Once ended: the error of every request the batch returned no result for (expired, failed, cancelled)."""


class BatchAPI(Protocol):
    """One model's batch endpoint (OpenAI Batch API, Anthropic Message Batches)."""

    kind: str
    max_requests: int
    max_bytes: int

    def item(self, custom_id: str, messages: list[Message], params: GenParams, images: ImageStore) -> dict[str, Any]:
        """One request as a line of the batch (JSON-able); `custom_id` matches its result."""
        ...

    async def submit(self, items: list[dict[str, Any]]) -> str:
        """Create the batch; its id. Raises ProviderError (a refusal for a bad key)."""
        ...

    async def status(self, batch_id: str) -> BatchStatus:
        ...

    async def results(self, batch_id: str) -> dict[str, ItemResult]:
        """Every result the ended batch holds, by custom id."""
        ...
