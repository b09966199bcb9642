"""OpenAI chat completions on the wire, also under Azure OpenAI's deployment paths and ``api-key`` header."""

from __future__ import annotations

import re
import time
from typing import Any

from ctxsafe.testing.http_core import dumps, openai_error_body
from ctxsafe.testing.script import BadRequest, Prompt, image_digest
from ctxsafe.testing.server_config import FinishReason

_AZURE_PATH = re.compile(r"^/openai/deployments/([^/]+)/chat/completions$")
_PATHS = frozenset(("/v1/chat/completions", "/chat/completions", "/openai/v1/chat/completions"))
_ERROR_TYPES = {
    "bad_request": ("invalid_request_error", None),
    "unauthorized": ("invalid_request_error", "invalid_api_key"),
    "not_found": ("invalid_request_error", "model_not_found"),
    "rate_limit": ("requests", "rate_limit_exceeded"),
    "server_error": ("server_error", None),
    "overloaded": ("server_error", None),
    "unsupported": ("server_error", None),
}


def parse_chat_messages(messages: list[Any]) -> tuple[str, list[str], int, bool]:
    """Text and image URLs of the last user message, total text length, and whether any image was sent."""
    chars = 0
    any_image = False
    last_user: dict[str, Any] | None = None
    for m in messages:
        c = m.get("content")
        if isinstance(c, str):
            chars += len(c)
        elif isinstance(c, list):
            for p in c:
                if p.get("type") == "text":
                    chars += len(p.get("text", ""))
                elif p.get("type") == "image_url":
                    any_image = True
        if m.get("role") == "user":
            last_user = m
    if last_user is None:
        return "", [], chars, any_image
    c = last_user.get("content")
    if isinstance(c, str):
        return c, [], chars, any_image
    texts: list[str] = []
    urls: list[str] = []
    if isinstance(c, list):
        for p in c:
            kind = p.get("type")
            if kind == "text":
                texts.append(str(p.get("text", "")))
            elif kind == "image_url":
                iu = p["image_url"]
                urls.append(str(iu["url"] if isinstance(iu, dict) else iu))
    return "\n".join(texts), urls, chars, any_image


class OpenAIChatWire:
    """``POST /v1/chat/completions``; Azure's ``/openai/deployments/{name}/chat/completions`` takes the
    deployment name as the model."""

    name = "openai-chat"

    def match(self, method: str, path: str) -> bool:
        return path in _PATHS or _AZURE_PATH.match(path) is not None

    def authorized(self, headers: dict[str, str], api_key: str) -> bool:
        return headers.get("authorization") == f"Bearer {api_key}" or headers.get("api-key") == api_key

    def parse(self, req: dict[str, Any], path: str) -> Prompt:
        messages = req.get("messages")
        if not isinstance(messages, list) or not messages:
            raise BadRequest("'messages' must be a non-empty array")
        if req.get("stream"):
            raise BadRequest("streaming is not supported by the ctxsafe test server")
        try:
            text, urls, chars, any_image = parse_chat_messages(messages)
        except (TypeError, AttributeError, KeyError):
            raise BadRequest("malformed 'messages'") from None
        azure = _AZURE_PATH.match(path)
        model = azure.group(1) if azure else req.get("model")
        n_req = req.get("n")
        return Prompt(text=text, image_urls=urls, prompt_chars=chars,
                      max_tokens=req.get("max_completion_tokens") or req.get("max_tokens"),
                      model=model if isinstance(model, str) else None, fault_key=messages,
                      n=n_req if isinstance(n_req, int) and 0 < n_req <= 128 else 1, has_images=any_image)

    def log_body(self, req: dict[str, Any], digests: list[dict[str, Any]]) -> dict[str, Any]:
        """Each image URL replaced by its digest (the last user message's are already computed)."""
        it = iter(digests)
        msgs = req.get("messages", [])
        last_user = max((i for i, m in enumerate(msgs) if m.get("role") == "user"), default=-1)
        out_msgs: list[Any] = []
        for i, m in enumerate(msgs):
            c = m.get("content")
            if not isinstance(c, list):
                out_msgs.append(m)
                continue
            parts: list[Any] = []
            for p in c:
                if p.get("type") == "image_url":
                    iu = p.get("image_url")
                    d = next(it, None) if i == last_user else None
                    if d is None:
                        d = image_digest(str(iu.get("url", "") if isinstance(iu, dict) else iu))
                    new_iu: dict[str, Any] = dict(d)
                    if isinstance(iu, dict) and "detail" in iu:
                        new_iu["detail"] = iu["detail"]
                    parts.append({"type": "image_url", "image_url": new_iu})
                else:
                    parts.append(p)
            out_msgs.append({**m, "content": parts})
        return {**req, "messages": out_msgs}

    def error(self, status: int, kind: str, message: str) -> bytes:
        type_, code = _ERROR_TYPES.get(kind, ("server_error", None))
        return openai_error_body(message, type_, code)

    def blocked(self, n: int, prompt: Prompt) -> tuple[int, bytes]:
        """Azure's answer to a prompt its content filter refuses: HTTP 400, code ``content_filter``."""
        return 400, openai_error_body(
            "The response was filtered due to the prompt triggering the content management policy.",
            "invalid_request_error", "content_filter")

    def completion(self, n: int, prompt: Prompt, content: str | None, finish: FinishReason,
                   usage: tuple[int, int]) -> bytes:
        prompt_tokens, completion_tokens = usage
        message = {"role": "assistant", "content": content, "refusal": None}
        return dumps({
            "id": f"chatcmpl-ctxsafe-{n}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": prompt.model or "ctxsafe-mock",
            "choices": [{"index": i, "message": message, "logprobs": None, "finish_reason": finish}
                        for i in range(prompt.n)],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens * prompt.n,
                      "total_tokens": prompt_tokens + completion_tokens * prompt.n},
            "system_fingerprint": "fp_ctxsafe",
        })
