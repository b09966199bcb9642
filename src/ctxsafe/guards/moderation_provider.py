"""The OpenAI moderation endpoint behind the Provider protocol, through the official `openai` SDK.

`complete` sends the message's text and images as moderation inputs and returns the first result as
JSON text, so the engine's Caller caches, retries and records it like any other call.
"""

from __future__ import annotations

import openai

from ctxsafe.images import ImageStore
from ctxsafe.providers.base import Completion, GenParams, ProviderError
from ctxsafe.providers.openai_compat import openai_error
from ctxsafe.redact import redact, register_secret
from ctxsafe.schema import ImagePart, Message, TextPart


class ModerationProvider:
    is_reference = False

    def __init__(self, model: str, *, base_url: str | None, api_key: str | None, timeout_s: float = 60.0,
                 max_concurrency: int = 16, key_env: str | None = None) -> None:
        register_secret(api_key)
        self.key_env = key_env
        self.model = model
        self.base_url = base_url or "https://api.openai.com/v1"
        self.name = f"openai-moderation:{model}"
        self.identity = redact(f"openai-moderation|{self.base_url}|{model}")
        self.max_concurrency = max_concurrency
        self._client = openai.AsyncOpenAI(api_key=api_key or "EMPTY", base_url=self.base_url, max_retries=0,
                                          timeout=timeout_s)

    async def complete(self, messages: list[Message], params: GenParams, images: ImageStore) -> Completion:
        inputs: list[dict[str, object]] = []
        for m in messages:
            for p in m.parts:
                if isinstance(p, ImagePart):
                    inputs.append({"type": "image_url", "image_url": {"url": images.data_url(p)}})
                elif isinstance(p, TextPart) and p.text:
                    inputs.append({"type": "text", "text": p.text})
        try:
            resp = await self._client.moderations.create(model=self.model, input=inputs)  # type: ignore[arg-type]
        except (openai.APIError, ValueError) as exc:  # the SDK's errors, mapped as for every openai model
            raise openai_error(exc, self.name, self.key_env) from None
        if not resp.results:
            raise ProviderError("malformed moderation response: no results", retryable=True)
        return Completion(text=resp.results[0].model_dump_json(by_alias=True), finish_reason="stop")

    async def aclose(self) -> None:
        await self._client.close()
