"""Any OpenAI-compatible chat-completions server (OpenAI, vLLM, SGLang, Ollama, llama.cpp, OpenRouter).

Calls go through the official `openai` SDK with its own retries off: ctxsafe retries itself so
that every attempt, wait and final outcome is recorded.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import openai

from ctxsafe.images import ImageStore
from ctxsafe.providers.base import Completion, GenParams, ProviderError, status_error
from ctxsafe.redact import redact, register_secret
from ctxsafe.schema import ImagePart, Message, Usage


def _retry_after(headers: Mapping[str, str] | None) -> float | None:
    if headers is None:
        return None
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return float(ms) / 1000.0
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value:
        try:
            return float(value)
        except ValueError:
            return None
    return None


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


class OpenAICompatible:
    """A chat model behind an OpenAI-compatible endpoint."""

    is_reference = False

    def __init__(self, model: str, *, base_url: str | None, api_key: str | None, timeout_s: float = 120.0,
                 max_concurrency: int = 16, label: str = "openai", key_env: str | None = None) -> None:
        register_secret(api_key)
        self.key_env = key_env
        self.model = model
        self.base_url = base_url or "https://api.openai.com/v1"
        self.name = f"{label}:{model}"
        # The identity is stored (run config, request bodies): a key pasted into the URL must not ride along.
        self.identity = redact(f"openai-chat|{self.base_url}|{model}")
        self.max_concurrency = max_concurrency
        self._client = openai.AsyncOpenAI(
            api_key=api_key or "EMPTY", base_url=self.base_url, max_retries=0, timeout=timeout_s)

    async def complete(self, messages: list[Message], params: GenParams, images: ImageStore) -> Completion:
        try:
            resp = await self._client.chat.completions.create(
                model=self.model, messages=to_openai_messages(messages, images),  # type: ignore[arg-type]
                **params.as_dict(),
            )
        except openai.RateLimitError as exc:
            raise ProviderError(redact(f"rate limited (429): {exc}"), retryable=True,
                                retry_after=_retry_after(exc.response.headers)) from None
        except openai.APITimeoutError:
            raise ProviderError("request timed out", retryable=True) from None
        except openai.APIConnectionError as exc:
            raise ProviderError(redact(f"connection error ({self.base_url}): {exc}"), retryable=True,
                                unreachable=True) from None
        except openai.APIStatusError as exc:
            err = status_error(exc.status_code, exc.message, provider=self.name, key_env=self.key_env,
                               retry_after=_retry_after(exc.response.headers))
            raise ProviderError(redact(str(err)), retryable=err.retryable, retry_after=err.retry_after,
                                refused=err.refused) from None
        except (json.JSONDecodeError, openai.APIResponseValidationError, ValueError) as exc:
            raise ProviderError(redact(f"malformed response body: {exc}"), retryable=True) from None
        if not getattr(resp, "choices", None):
            raise ProviderError("malformed response: no choices", retryable=True)
        choice = resp.choices[0]
        usage = resp.usage
        return Completion(
            text=choice.message.content if choice.message is not None else None,
            finish_reason=choice.finish_reason,
            usage=Usage(input_tokens=usage.prompt_tokens if usage else None,
                        output_tokens=usage.completion_tokens if usage else None),
        )

    async def aclose(self) -> None:
        await self._client.close()
