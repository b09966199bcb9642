"""OpenAI models that need the Responses API (`responses.create`): system prompt as `instructions`,
`input_image` data URLs, assistant turns as assistant input messages.

`status: incomplete` carries why: `max_output_tokens` is truncation, `content_filter` a filtered
answer; a `refusal` content item is the model's refusal, kept as its text.
"""

from __future__ import annotations

from typing import Any

import openai

from ctxsafe.images import ImageStore
from ctxsafe.providers.base import Completion, GenParams, ProviderError
from ctxsafe.providers.capabilities import OPENAI, Capabilities
from ctxsafe.providers.hosted import Hosted
from ctxsafe.providers.openai_compat import FILTERED, sdk_call
from ctxsafe.redact import redact
from ctxsafe.schema import ImagePart, Message, Usage


def to_responses_input(messages: list[Message], images: ImageStore) -> tuple[str | None, list[dict[str, Any]]]:
    """(instructions, input items)."""
    system = "\n\n".join(m.text_content() for m in messages if m.role == "system") or None
    items: list[dict[str, Any]] = []
    for m in messages:
        if m.role == "system":
            continue
        if m.role == "assistant":
            items.append({"role": "assistant", "content": m.text_content()})
            continue
        content: list[dict[str, Any]] = []
        for p in m.parts:
            if isinstance(p, ImagePart):
                content.append({"type": "input_image", "image_url": images.data_url(p), "detail": "auto"})
            else:
                content.append({"type": "input_text", "text": p.text})
        items.append({"role": "user", "content": content})
    return system, items


class OpenAIResponses(Hosted):
    """A model on the Responses API; `seed` has no equivalent there and is left out."""

    def __init__(self, model: str, *, base_url: str | None, api_key: str | None, timeout_s: float = 120.0,
                 max_concurrency: int = 16, capabilities: Capabilities | None = None,
                 key_env: str | None = None) -> None:
        base = base_url or "https://api.openai.com/v1"
        super().__init__(model=model, name=f"openai-responses:{model}", base_url=base,
                         identity=f"openai-responses|{base}|{model}", api_key=api_key, key_env=key_env,
                         max_concurrency=max_concurrency, capabilities=capabilities or OPENAI)
        self._client = openai.AsyncOpenAI(api_key=api_key or "EMPTY", base_url=self.base_url, max_retries=0,
                                          timeout=timeout_s)

    def request(self, messages: list[Message], params: GenParams, images: ImageStore) -> dict[str, Any]:
        system, items = to_responses_input(messages, images)
        kw: dict[str, Any] = {"model": self.model, "input": items, "store": False}
        if system is not None:
            kw["instructions"] = system
        if params.max_tokens is not None:
            kw["max_output_tokens"] = params.max_tokens
        if params.temperature is not None:
            kw["temperature"] = params.temperature
        if params.top_p is not None:
            kw["top_p"] = params.top_p
        if params.response_format is not None and params.response_format.get("type") == "json_object":
            kw["text"] = {"format": {"type": "json_object"}}
        return kw

    async def complete(self, messages: list[Message], params: GenParams, images: ImageStore) -> Completion:
        body = self.request(messages, params, images)
        resp = await sdk_call(lambda: self._client.responses.create(**body), self.name, self.key_env)
        if resp is None:
            return FILTERED
        if resp.error is not None:
            raise ProviderError(redact(f"response failed: {resp.error.code}: {resp.error.message}"), retryable=True)
        texts: list[str] = []
        refusal: str | None = None
        for item in resp.output or []:
            for c in getattr(item, "content", None) or []:
                if getattr(c, "type", None) == "output_text":
                    texts.append(c.text)
                elif getattr(c, "type", None) == "refusal":
                    refusal = c.refusal
        usage = Usage(input_tokens=resp.usage.input_tokens if resp.usage else None,
                      output_tokens=resp.usage.output_tokens if resp.usage else None)
        reason = resp.incomplete_details.reason if resp.incomplete_details is not None else None
        served: str | None = getattr(resp, "model", None) or None
        if reason == "content_filter":
            return Completion(text="".join(texts) or None, finish_reason="content_filter", usage=usage,
                              served_model=served)
        if reason == "max_output_tokens":
            return Completion(text="".join(texts), finish_reason="length", usage=usage, served_model=served)
        if refusal is not None and not texts:
            return Completion(text=refusal, finish_reason="refusal", usage=usage, served_model=served)
        return Completion(text="".join(texts), finish_reason="stop", usage=usage, served_model=served)

    async def aclose(self) -> None:
        await self._client.close()
