"""Anthropic Messages on the wire: ``POST /v1/messages``, ``x-api-key``, content blocks, ``stop_reason``."""

from __future__ import annotations

from typing import Any

from ctxsafe.testing.http_core import dumps
from ctxsafe.testing.script import BadRequest, Prompt
from ctxsafe.testing.server_config import FinishReason
from ctxsafe.testing.wire import digest_payloads

_ERROR_TYPES = {
    "bad_request": "invalid_request_error",
    "unauthorized": "authentication_error",
    "not_found": "not_found_error",
    "rate_limit": "rate_limit_error",
    "server_error": "api_error",
    "overloaded": "overloaded_error",
    "unsupported": "invalid_request_error",
}
_STOP = {"stop": "end_turn", "length": "max_tokens", "content_filter": "refusal"}


def _text_of(content: Any) -> tuple[str, list[str], int]:
    if isinstance(content, str):
        return content, [], len(content)
    texts: list[str] = []
    urls: list[str] = []
    for block in content:
        if block["type"] == "text":
            texts.append(str(block["text"]))
        elif block["type"] == "image":
            src = block["source"]
            if src["type"] != "base64":
                raise BadRequest(f"image source type {src['type']!r} is not supported by the ctxsafe test server")
            urls.append(f"data:{src['media_type']};base64,{src['data']}")
        else:
            raise BadRequest(f"unknown content block type {block['type']!r}")
    text = "\n".join(texts)
    return text, urls, len(text)


class AnthropicWire:
    """The Messages API as the ``anthropic`` SDK speaks it (non-streaming)."""

    name = "anthropic"

    def match(self, method: str, path: str) -> bool:
        return path == "/v1/messages"

    def authorized(self, headers: dict[str, str], api_key: str) -> bool:
        return headers.get("x-api-key") == api_key or headers.get("authorization") == f"Bearer {api_key}"

    def parse(self, req: dict[str, Any], path: str) -> Prompt:
        messages = req.get("messages")
        if not isinstance(messages, list) or not messages:
            raise BadRequest("messages: field required")
        if not isinstance(req.get("max_tokens"), int):
            raise BadRequest("max_tokens: field required")
        if req.get("stream"):
            raise BadRequest("streaming is not supported by the ctxsafe test server")
        system = req.get("system")
        chars = len(system) if isinstance(system, str) else 0
        text, urls, any_image = "", [], False
        try:
            for m in messages:
                if m["role"] not in ("user", "assistant"):
                    raise BadRequest(f"messages: unexpected role {m['role']!r}")
                t, u, c = _text_of(m["content"])
                chars += c
                any_image = any_image or bool(u)
                if m["role"] == "user":
                    text, urls = t, u
        except (TypeError, KeyError):
            raise BadRequest("malformed 'messages'") from None
        return Prompt(text=text, image_urls=urls, prompt_chars=chars, max_tokens=req["max_tokens"],
                      model=req.get("model"), fault_key=messages, has_images=any_image)

    def log_body(self, req: dict[str, Any], digests: list[dict[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = digest_payloads(req)
        return out

    def error(self, status: int, kind: str, message: str) -> bytes:
        return dumps({"type": "error", "error": {"type": _ERROR_TYPES.get(kind, "api_error"), "message": message}})

    def blocked(self, n: int, prompt: Prompt) -> tuple[int, bytes]:
        """Anthropic has no prompt-level block: its safety system ends the turn with ``refusal``."""
        return 200, self.completion(n, prompt, None, "content_filter", (0, 0))

    def completion(self, n: int, prompt: Prompt, content: str | None, finish: FinishReason,
                   usage: tuple[int, int]) -> bytes:
        return dumps({
            "id": f"msg_ctxsafe_{n}",
            "type": "message",
            "role": "assistant",
            "model": prompt.model,
            "content": [{"type": "text", "text": content}] if content else [],
            "stop_reason": _STOP[finish],
            "stop_sequence": None,
            "usage": {"input_tokens": usage[0], "output_tokens": usage[1]},
        })
