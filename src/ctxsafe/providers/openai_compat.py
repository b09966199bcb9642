"""Any OpenAI-compatible chat-completions server (OpenAI, vLLM, SGLang, Ollama, llama.cpp, LM Studio,
OpenRouter, Together) and Azure OpenAI, through the official `openai` SDK.

The SDK's own retries are off: ctxsafe retries itself so that every attempt, wait and final
outcome is recorded.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import openai
from openai.types.chat import ChatCompletion

from ctxsafe.images import ImageStore
from ctxsafe.providers.base import Completion, GenParams, ProviderError
from ctxsafe.providers.batch_base import BatchAPI
from ctxsafe.providers.capabilities import Capabilities
from ctxsafe.providers.hosted import Hosted
from ctxsafe.providers.http_errors import status_error, transport_error
from ctxsafe.redact import redact
from ctxsafe.schema import ImagePart, Message, Usage

T = TypeVar("T")


def to_openai_messages(messages: list[Message], images: ImageStore) -> list[dict[str, Any]]:
    """Images become data URLs; text-only messages stay plain strings for the widest compatibility."""
    out: list[dict[str, Any]] = []
    for m in messages:
        if m.role != "user" or not any(isinstance(p, ImagePart) for p in m.parts):
            out.append({"role": m.role, "content": m.text_content()})
            continue
        content: list[dict[str, Any]] = []
        for p in m.parts:
            if isinstance(p, ImagePart):
                content.append({"type": "image_url", "image_url": {"url": images.data_url(p)}})
            else:
                content.append({"type": "text", "text": p.text})
        out.append({"role": m.role, "content": content})
    return out


def is_content_filter(exc: openai.APIStatusError) -> bool:
    """Azure (and OpenAI moderation) refuse a flagged prompt with HTTP 400 and code ``content_filter``."""
    body = exc.body if isinstance(exc.body, dict) else {}
    inner = body.get("error", body) if isinstance(body.get("error", body), dict) else body
    return exc.status_code == 400 and (getattr(exc, "code", None) == "content_filter"
                                       or inner.get("code") == "content_filter")


def openai_error(exc: Exception, provider: str | None = None, key_env: str | None = None) -> ProviderError:
    """One mapping of the `openai` SDK's exceptions, shared by chat completions, Azure and Responses."""
    if isinstance(exc, openai.APITimeoutError):
        return ProviderError("request timed out", retryable=True)
    if isinstance(exc, openai.APIConnectionError):
        return transport_error(exc)
    if isinstance(exc, openai.APIStatusError):
        return status_error(exc.status_code, exc.message, exc.response.headers, provider=provider, key_env=key_env)
    return ProviderError(redact(f"malformed response body: {exc}"), retryable=True)


CHAT_OPTIONS: openai.RequestOptions = {"security": {"bearer_auth": True}}
"""What `chat.completions.create` passes for a chat request: the key as a bearer token (same client, same auth)."""

FILTERED = Completion(text=None, finish_reason="content_filter")
"""A prompt the provider's content filter refused: an outcome, not an error."""


async def sdk_call(call: Callable[[], Awaitable[T]], provider: str, key_env: str | None) -> T | None:
    """One `openai` SDK request: None when the provider filtered the prompt (HTTP 400 `content_filter`),
    any other failure mapped once by `openai_error` (shared by chat completions, Azure and Responses)."""
    try:
        return await call()
    except openai.APIStatusError as exc:
        if is_content_filter(exc):
            return None
        raise openai_error(exc, provider, key_env) from None
    except (openai.APIError, json.JSONDecodeError, ValueError) as exc:
        raise openai_error(exc, provider, key_env) from None


def chat_request(model: str, messages: list[Message], params: GenParams, images: ImageStore) -> dict[str, Any]:
    """The body of one chat-completions request (sent alone, or as one line of a batch)."""
    return {"model": model, "messages": to_openai_messages(messages, images), **params.as_dict()}


def chat_completion(resp: Any) -> Completion:
    """A chat completion (the SDK's object, or one parsed from a batch's output) as our Completion."""
    if not getattr(resp, "choices", None):
        raise ProviderError("malformed response: no choices", retryable=True)
    choice = resp.choices[0]
    usage = resp.usage
    message = choice.message
    refusal = getattr(message, "refusal", None) if message is not None else None
    text = message.content if message is not None else None
    return Completion(
        text=text if text is not None or refusal is None else refusal,
        finish_reason="refusal" if refusal and not text else choice.finish_reason,
        usage=Usage(input_tokens=usage.prompt_tokens if usage else None,
                    output_tokens=usage.completion_tokens if usage else None),
        served_model=getattr(resp, "model", None) or None,
        fingerprint=getattr(resp, "system_fingerprint", None) or None,
    )


class OpenAICompatible(Hosted):
    """A chat model behind an OpenAI-compatible endpoint (or an Azure deployment, given its client)."""

    def __init__(self, model: str, *, base_url: str | None, api_key: str | None, timeout_s: float = 120.0,
                 max_concurrency: int = 16, label: str = "openai", capabilities: Capabilities | None = None,
                 client: openai.AsyncOpenAI | None = None, identity: str | None = None,
                 key_env: str | None = None) -> None:
        base = base_url or "https://api.openai.com/v1"
        super().__init__(model=model, name=f"{label}:{model}", base_url=base,
                         identity=identity or f"openai-chat|{base}|{model}", api_key=api_key, key_env=key_env,
                         max_concurrency=max_concurrency, capabilities=capabilities or Capabilities())
        self._client = client or openai.AsyncOpenAI(
            api_key=api_key or "EMPTY", base_url=self.base_url, max_retries=0, timeout=timeout_s)

    async def complete(self, messages: list[Message], params: GenParams, images: ImageStore) -> Completion:
        """Sent with the client's own `post` (its auth, pool, errors and response parsing), not `create`: `create`
        re-walks the body against the SDK's TypedDict annotations, the largest CPU cost of a call, to convert
        values our JSON-ready body never holds (tested to send the same bytes and parse the same reply)."""
        body = chat_request(self.model, messages, params, images)
        resp = await sdk_call(lambda: self._client.post("/chat/completions", body=body, cast_to=ChatCompletion,
                                                        options=CHAT_OPTIONS), self.name, self.key_env)
        return FILTERED if resp is None else chat_completion(resp)

    @property
    def client(self) -> openai.AsyncOpenAI:
        """The SDK client, shared by this model's batch API (same base URL, key and timeouts)."""
        return self._client

    def batch_api(self) -> BatchAPI | None:
        """OpenAI's Batch API for an `openai:` model (`--batch`); None for the other families (and Azure)."""
        if not self.name.startswith("openai:"):
            return None
        from ctxsafe.providers.batch_openai import OpenAIBatches

        return OpenAIBatches(self)

    async def aclose(self) -> None:
        await self._client.close()
