"""Gemini through the official `google-genai` SDK: system instruction apart, inline image parts,
assistant turns with the `model` role.

A prompt blocked by `promptFeedback.blockReason` or an answer stopped for safety (SAFETY,
PROHIBITED_CONTENT, BLOCKLIST, SPII, IMAGE_SAFETY, RECITATION) is a content-filter outcome;
MAX_TOKENS is truncation. The SDK's retries stay off (one attempt) so ctxsafe records every try.
"""

from __future__ import annotations

from typing import Any

from google import genai
from google.genai import errors, types

from ctxsafe.images import ImageStore
from ctxsafe.providers.base import Completion, GenParams, ProviderError
from ctxsafe.providers.capabilities import GEMINI, Capabilities
from ctxsafe.providers.hosted import Hosted
from ctxsafe.providers.http_errors import status_error, transport_error
from ctxsafe.redact import redact
from ctxsafe.schema import ImagePart, Message, Usage

_FILTERED = frozenset(("SAFETY", "PROHIBITED_CONTENT", "BLOCKLIST", "SPII", "IMAGE_SAFETY", "RECITATION",
                       "IMAGE_PROHIBITED_CONTENT"))


def to_gemini(messages: list[Message], images: ImageStore) -> tuple[str | None, list[types.Content]]:
    """(system instruction, contents) with each image as inline bytes where it stands."""
    system = "\n\n".join(m.text_content() for m in messages if m.role == "system") or None
    contents: list[types.Content] = []
    for m in messages:
        if m.role == "system":
            continue
        parts: list[types.Part] = []
        for p in m.parts:
            if isinstance(p, ImagePart):
                parts.append(types.Part(inline_data=types.Blob(mime_type=p.media_type, data=images.bytes_of(p))))
            elif p.text:
                parts.append(types.Part(text=p.text))
        contents.append(types.Content(role="model" if m.role == "assistant" else "user", parts=parts))
    return system, contents


def _finish_name(value: Any) -> str:
    return str(getattr(value, "value", value) or "")


class GeminiProvider(Hosted):
    """A Gemini model on the Gemini Developer API (or any server that speaks it)."""

    def __init__(self, model: str, *, base_url: str | None, api_key: str | None, timeout_s: float = 120.0,
                 max_concurrency: int = 16, capabilities: Capabilities | None = None,
                 key_env: str | None = None) -> None:
        base = base_url or "https://generativelanguage.googleapis.com"
        super().__init__(model=model, name=f"google:{model}", base_url=base, identity=f"gemini|{base}|{model}",
                         api_key=api_key, key_env=key_env, max_concurrency=max_concurrency,
                         capabilities=capabilities or GEMINI)
        self._client = genai.Client(api_key=api_key or "EMPTY", http_options=types.HttpOptions(
            base_url=self.base_url, timeout=int(timeout_s * 1000), retry_options=types.HttpRetryOptions(attempts=1)))

    def config(self, system: str | None, params: GenParams) -> types.GenerateContentConfig:
        json_out = params.response_format is not None and params.response_format.get("type") == "json_object"
        return types.GenerateContentConfig(
            system_instruction=system, temperature=params.temperature, max_output_tokens=params.max_tokens,
            top_p=params.top_p, seed=params.seed, response_mime_type="application/json" if json_out else None)

    async def complete(self, messages: list[Message], params: GenParams, images: ImageStore) -> Completion:
        system, contents = to_gemini(messages, images)
        try:
            resp = await self._client.aio.models.generate_content(
                model=self.model, contents=contents, config=self.config(system, params))
        except errors.APIError as exc:
            headers = getattr(getattr(exc, "response", None), "headers", None)
            raise status_error(int(exc.code or 0), str(exc.message or exc.status or ""), headers,
                               provider=self.name, key_env=self.key_env) from None
        except ValueError as exc:
            raise ProviderError(redact(f"malformed response body: {exc}"), retryable=True) from None
        except Exception as exc:
            if type(exc).__module__.split(".")[0].startswith("httpx") or isinstance(exc, (OSError, TimeoutError)):
                raise transport_error(exc) from None
            raise
        meta = resp.usage_metadata
        usage = Usage(input_tokens=meta.prompt_token_count if meta else None,
                      output_tokens=meta.candidates_token_count if meta else None)
        served = getattr(resp, "model_version", None) or None
        feedback = resp.prompt_feedback
        if feedback is not None and feedback.block_reason is not None:
            return Completion(text=None, finish_reason="content_filter", usage=usage, served_model=served)
        if not resp.candidates:
            raise ProviderError("malformed response: no candidates and no block reason", retryable=True)
        cand = resp.candidates[0]
        reason = _finish_name(cand.finish_reason)
        parts = cand.content.parts if cand.content is not None and cand.content.parts else []
        text = "".join(p.text for p in parts if p.text and not p.thought)
        if reason in _FILTERED:
            return Completion(text=text or None, finish_reason="content_filter", usage=usage, served_model=served)
        finish = {"STOP": "stop", "MAX_TOKENS": "length"}.get(reason, reason.lower() or None)
        return Completion(text=text, finish_reason=finish, usage=usage, served_model=served)

    async def aclose(self) -> None:
        await self._client.aio.aclose()
