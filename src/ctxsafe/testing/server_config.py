"""What the local test server does: scripted replies and reproducible faults, for every wire format.

A pydantic model so that the thread and subprocess forms of the server (and a running server's
``/_config`` endpoint) share one validated, JSON-serialisable description.
"""

from __future__ import annotations

import re
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

HOST = "127.0.0.1"
"""The only address the server ever binds: it is a test fixture, never a network service."""

FaultKind = Literal["429", "500", "503", "stall", "close", "malformed", "content_filter", "length", "blocked"]
"""``content_filter`` filters the answer; ``blocked`` refuses the prompt itself (Azure's HTTP 400
``content_filter``, Gemini's ``promptFeedback.blockReason``, a Responses ``content_filter`` error)."""
FinishReason = Literal["stop", "length", "content_filter"]



def _check_regex(pattern: str) -> str:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"invalid regex {pattern!r}: {exc}") from exc
    return pattern


class ReplyRule(BaseModel):
    """Scripted model behaviour: if ``pattern`` matches the last user message's text, answer ``reply``.

    ``image_sha256`` additionally requires one of that message's images to have this digest, so a
    test can make the same question behave differently with a safe and an unsafe image.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    pattern: str = Field(description="re.search over the text parts of the last user message")
    reply: str | None = Field(description="assistant content; null only makes sense with content_filter")
    finish_reason: FinishReason = "stop"
    image_sha256: str | None = None

    @field_validator("pattern")
    @classmethod
    def _valid_regex(cls, v: str) -> str:
        return _check_regex(v)


class ContentFault(BaseModel):
    """Fail requests whose last user text matches ``pattern``: the first ``times`` times each distinct
    prompt (the whole ``messages`` array, images included) is seen, then let it through.

    ``times=None`` fails every matching request. This is what retry tests need: a retried request
    carries the same messages, so it fails N times and then succeeds.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    pattern: str = ""
    fault: FaultKind
    times: int | None = Field(default=1, ge=0)

    @field_validator("pattern")
    @classmethod
    def _valid_regex(cls, v: str) -> str:
        return _check_regex(v)


class ServerConfig(BaseModel):
    """Everything the server does; JSON-serialisable so the subprocess form gets the same config.

    The script is wire-agnostic: the same rules and faults apply whichever wire format (OpenAI
    chat, Azure, Responses, Anthropic, Gemini) a request arrives in. Fault precedence per request:
    ``schedule`` (by 1-based request number since start or reset), then ``content_faults`` (first
    match), then ``random_faults``. Replies: first matching ``rules`` entry, else ``reply``, else
    ``"echo: " + last user text`` (truncated).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = "ctxsafe-mock"
    served_model: str | None = Field(default=None, description="answer naming this model instead of the one "
                                     "asked for, as a provider does when an alias is served by a dated snapshot")
    models: list[str] = Field(default_factory=lambda: ["ctxsafe-mock"])
    reply: str | None = Field(default=None, description="fixed reply; None = echo mode")
    echo_max_chars: int = Field(default=200, ge=0)
    rules: list[ReplyRule] = Field(default_factory=list)
    delay_s: float = Field(default=0.0, ge=0.0)
    jitter_s: float = Field(default=0.0, ge=0.0, description="extra uniform(0, jitter_s) latency, seeded")
    schedule: dict[int, FaultKind] = Field(default_factory=dict)
    content_faults: list[ContentFault] = Field(default_factory=list)
    random_faults: dict[FaultKind, float] = Field(
        default_factory=dict, description="probability of each fault per request; sum <= 1"
    )
    seed: int = 0
    retry_after_s: float | None = Field(default=1.0, ge=0.0, description="Retry-After header on 429")
    retry_after_ms: int | None = Field(default=None, ge=0, description="retry-after-ms header on 429")
    stall_s: float = Field(default=30.0, ge=0.0, description="how long a stall holds the connection")
    api_key: str | None = Field(default=None, description="if set, require the wire format's key header "
                                "(Authorization: Bearer, api-key, x-api-key or x-goog-api-key)")
    image_tokens: int = Field(default=85, ge=0, description="prompt tokens counted per image")
    log_requests: bool = False
    log_max: int = Field(default=10_000, ge=1)
    keepalive_timeout_s: float = Field(default=30.0, gt=0.0)
    max_body_bytes: int = Field(default=64 << 20, gt=0)
    max_concurrent: int | None = Field(default=None, ge=1, description="answer 429 to a request that arrives "
                                       "while this many are already in flight (a provider's concurrency limit)")
    batch_polls: int = Field(default=1, ge=0, description="status requests a batch answers in_progress to "
                             "before it ends (on the next one); no clock is involved")
    batch_expire_pattern: str | None = Field(default=None, description="batch items whose messages (as JSON) "
                                             "match this regex expire instead of being answered")
    batch_expire_times: int | None = Field(default=1, ge=0, description="how many times each distinct prompt "
                                           "expires before it is answered (None: always)")
    reject_images: bool = Field(default=False, description="answer any request with an image with HTTP 500 "
                                "'image input is not supported', as a text-only llama.cpp server does")

    @field_validator("batch_expire_pattern")
    @classmethod
    def _valid_expire_regex(cls, v: str | None) -> str | None:
        return None if v is None else _check_regex(v)

    @model_validator(mode="after")
    def _check_random_faults(self) -> Self:
        total = 0.0
        for kind, p in self.random_faults.items():
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"random_faults[{kind!r}] must be in [0, 1], got {p}")
            total += p
        if total > 1.0 + 1e-9:
            raise ValueError(f"random_faults probabilities sum to {total} > 1")
        for n in self.schedule:
            if n < 1:
                raise ValueError(f"schedule keys are 1-based request numbers, got {n}")
        return self
