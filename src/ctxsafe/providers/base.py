"""The provider protocol: one async call that turns messages into a completion or a typed error."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from ctxsafe.images import ImageStore
from ctxsafe.schema import Message, Usage


@dataclass(frozen=True)
class GenParams:
    """Decoding settings; part of every cache key and recorded with the run."""

    temperature: float | None = 0.0
    max_tokens: int | None = None
    seed: int | None = None
    top_p: float | None = None
    response_format: dict[str, Any] | None = field(default=None, hash=False)
    """Provider structured output, e.g. {"type": "json_object"}; None (the default) leaves it out of
    the request and of the cache key, so keys made before this field existed stay valid."""

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass(frozen=True)
class Completion:
    """One answer. `served_model` and `fingerprint` are what the API says served it (the dated snapshot
    behind an alias, OpenAI's `system_fingerprint`), kept so a verdict can name the model that gave it."""

    text: str | None
    finish_reason: str | None
    usage: Usage = field(default_factory=Usage)
    served_model: str | None = None
    fingerprint: str | None = None


class ProviderError(Exception):
    """A failed call, classified once so that the engine never guesses.

    `retryable`: transient (429, 5xx, timeouts), retried with backoff; `retry_after` is the server's hint;
    `rate_limited` (HTTP 429) also tells the adaptive concurrency limit to back off.
    `refused`: no request can succeed (bad key, no permission, unknown model): the run stops at once.
    `unreachable`: the server was not reached at all (connection refused, DNS); fatal on the first call.
    Anything else (400-class, unsupported input) is permanent for this request: recorded, not retried.
    """

    def __init__(self, message: str, *, retryable: bool, retry_after: float | None = None, refused: bool = False,
                 unreachable: bool = False, rate_limited: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable and not refused
        self.retry_after = retry_after
        self.refused = refused
        self.unreachable = unreachable
        self.rate_limited = rate_limited


class Provider(Protocol):
    """Anything that can answer a conversation. `identity` keys the cache and never holds secrets."""

    name: str
    identity: str
    is_reference: bool
    max_concurrency: int

    async def complete(self, messages: list[Message], params: GenParams, images: ImageStore) -> Completion:
        ...

    async def aclose(self) -> None:
        ...
