"""Claude through the official `anthropic` SDK: system prompt apart, base64 image blocks in any user turn.

`stop_reason: refusal` (Anthropic's safety system ended the turn) is a content-filter outcome,
`max_tokens` is truncation; the SDK's own retries are off so ctxsafe records every attempt.
"""

from __future__ import annotations

from typing import Any

import anthropic

from ctxsafe.images import ImageStore
from ctxsafe.providers.base import Completion, GenParams, ProviderError
from ctxsafe.providers.batch_base import BatchAPI
from ctxsafe.providers.capabilities import ANTHROPIC, Capabilities
from ctxsafe.providers.hosted import Hosted
from ctxsafe.providers.http_errors import status_error, transport_error
from ctxsafe.redact import redact
from ctxsafe.schema import ImagePart, Message, Usage

DEFAULT_MAX_TOKENS = 4096
"""The Messages API requires max_tokens; used when a run sets none (recorded with the parameters)."""
_FINISH = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "refusal": "content_filter",
           "model_context_window_exceeded": "length"}


def to_anthropic(messages: list[Message], images: ImageStore) -> tuple[str | None, list[dict[str, Any]]]:
    """(system text, messages): images become base64 blocks where they stand among the text."""
    system = "\n\n".join(m.text_content() for m in messages if m.role == "system") or None
    out: list[dict[str, Any]] = []
    for m in messages:
        if m.role == "system":
            continue
        blocks: list[dict[str, Any]] = []
        for p in m.parts:
            if isinstance(p, ImagePart):
                blocks.append({"type": "image", "source": {"type": "base64", "media_type": p.media_type,
                                                           "data": images.base64_of(p)}})
            elif p.text:
                blocks.append({"type": "text", "text": p.text})
        out.append({"role": m.role, "content": blocks})
    return system, out


def anthropic_error(exc: Exception, provider: str, key_env: str | None) -> ProviderError:
    """One mapping of the `anthropic` SDK's exceptions, shared by direct calls and message batches."""
    if isinstance(exc, anthropic.APITimeoutError):
        return ProviderError("request timed out", retryable=True)
    if isinstance(exc, anthropic.APIConnectionError):
        return transport_error(exc)
    if isinstance(exc, anthropic.APIStatusError):
        return status_error(exc.status_code, exc.message, exc.response.headers, provider=provider, key_env=key_env)
    return ProviderError(redact(f"malformed response body: {exc}"), retryable=True)


def message_completion(resp: Any) -> Completion:
    """A Messages API reply (sent alone, or one result of a message batch) as our Completion."""
    text = "".join(getattr(b, "text", "") for b in resp.content if getattr(b, "type", None) == "text")
    stop = resp.stop_reason or ""
    finish = _FINISH.get(stop, stop or None)
    return Completion(text=text if text or finish != "content_filter" else None, finish_reason=finish,
                      usage=Usage(input_tokens=resp.usage.input_tokens, output_tokens=resp.usage.output_tokens),
                      served_model=getattr(resp, "model", None) or None)


class AnthropicProvider(Hosted):
    """A Claude model on the Messages API (or any server that speaks it)."""

    def __init__(self, model: str, *, base_url: str | None, api_key: str | None, timeout_s: float = 120.0,
                 max_concurrency: int = 16, capabilities: Capabilities | None = None,
                 key_env: str | None = None) -> None:
        base = base_url or "https://api.anthropic.com"
        super().__init__(model=model, name=f"anthropic:{model}", base_url=base, identity=f"anthropic|{base}|{model}",
                         api_key=api_key, key_env=key_env, max_concurrency=max_concurrency,
                         capabilities=capabilities or ANTHROPIC)
        self._client = anthropic.AsyncAnthropic(api_key=api_key or "EMPTY", base_url=self.base_url, max_retries=0,
                                                timeout=timeout_s)

    def request(self, messages: list[Message], params: GenParams, images: ImageStore) -> dict[str, Any]:
        """The keyword arguments of ``messages.create``; `seed` and `response_format` have no equivalent.

        Recent SDKs no longer name the sampling parameters; they still go in the body, where models
        that take them honour them, so a run's decoding settings are never silently dropped.
        """
        system, msgs = to_anthropic(messages, images)
        kw: dict[str, Any] = {"model": self.model, "messages": msgs,
                              "max_tokens": params.max_tokens or DEFAULT_MAX_TOKENS}
        if system is not None:
            kw["system"] = system
        sampling = {k: v for k, v in (("temperature", params.temperature), ("top_p", params.top_p)) if v is not None}
        if sampling:
            kw["extra_body"] = sampling
        return kw

    async def complete(self, messages: list[Message], params: GenParams, images: ImageStore) -> Completion:
        try:
            resp = await self._client.messages.create(**self.request(messages, params, images))
        except (anthropic.APIError, ValueError) as exc:
            raise anthropic_error(exc, self.name, self.key_env) from None
        return message_completion(resp)

    @property
    def client(self) -> anthropic.AsyncAnthropic:
        """The SDK client, shared by this model's batch API (same base URL, key and timeouts)."""
        return self._client

    def batch_api(self) -> BatchAPI:
        """Message Batches for this model (`--batch`)."""
        from ctxsafe.providers.batch_anthropic import AnthropicBatches

        return AnthropicBatches(self)

    async def aclose(self) -> None:
        await self._client.close()
