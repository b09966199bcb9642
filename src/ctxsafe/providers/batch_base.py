"""What a provider's batch API must offer the engine: encode one request, submit many, report the
batch's status, and map each item's result to the same Completion or ProviderError as a direct call."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from ctxsafe.images import ImageStore
from ctxsafe.providers.base import Completion, GenParams, ProviderError
from ctxsafe.providers.http_errors import status_error
from ctxsafe.schema import Message

if TYPE_CHECKING:
    from ctxsafe.providers.hosted import Hosted

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


P = TypeVar("P", bound="Hosted")


class SDKBatches(Generic[P]):
    """What the SDK-backed batch APIs share: the provider whose client, name and key env they use, and one
    translation of the SDK's errors, so a failed batch call or item reads exactly as the direct call's would."""

    sdk_errors: tuple[type[Exception], ...] = ()
    """The exceptions of the SDK's own calls (and of reading their replies) that `sdk_calls` maps."""

    def __init__(self, provider: P) -> None:
        self.provider = provider

    def map_error(self, exc: Exception) -> ProviderError:
        """The provider family's one mapping of an SDK exception (`openai_error`, `anthropic_error`)."""
        raise NotImplementedError

    @contextmanager
    def sdk_calls(self) -> Iterator[None]:
        """Around the SDK calls: any of `sdk_errors` leaves as the mapped ProviderError."""
        try:
            yield
        except self.sdk_errors as exc:
            raise self.map_error(exc) from None

    def item_error(self, status: int, message: str) -> ProviderError:
        """A batch item's error as the HTTP status a direct call would have got (one classification)."""
        return status_error(status, message, provider=self.provider.name, key_env=self.provider.key_env)
