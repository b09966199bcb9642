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
    text: str | None
    finish_reason: str | None
    usage: Usage = field(default_factory=Usage)


class ProviderError(Exception):
    """A failed call. `retryable` errors are retried with backoff; `retry_after` is the server's hint;
    `rate_limited` (HTTP 429) also tells the adaptive concurrency limit to back off."""

    def __init__(self, message: str, *, retryable: bool, retry_after: float | None = None,
                 rate_limited: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after
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
