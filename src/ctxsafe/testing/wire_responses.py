"""The OpenAI Responses API on the wire: ``POST /v1/responses`` with ``input`` items and ``instructions``;
truncation and content filters arrive as ``status: incomplete`` with ``incomplete_details.reason``."""

from __future__ import annotations

import time
from typing import Any

from ctxsafe.testing.http_core import dumps, openai_error_body
from ctxsafe.testing.script import BadRequest, Prompt
from ctxsafe.testing.server_config import FinishReason
from ctxsafe.testing.wire import digest_payloads
from ctxsafe.testing.wire_openai import OpenAIChatWire


class ResponsesWire:
    """Non-streaming ``responses.create`` with text and ``input_image`` data URLs."""

    name = "openai-responses"

    def match(self, method: str, path: str) -> bool:
        return path in ("/v1/responses", "/responses", "/openai/v1/responses")

    def authorized(self, headers: dict[str, str], api_key: str) -> bool:
        return OpenAIChatWire().authorized(headers, api_key)

    def parse(self, req: dict[str, Any], path: str) -> Prompt:
        items = req.get("input")
        if isinstance(items, str):
            items = [{"role": "user", "content": items}]
        if not isinstance(items, list) or not items:
            raise BadRequest("'input' must be a string or a non-empty array")
        if req.get("stream"):
            raise BadRequest("streaming is not supported by the ctxsafe test server")
        chars = len(req["instructions"]) if isinstance(req.get("instructions"), str) else 0
        text, urls, any_image = "", [], False
        try:
            for item in items:
                content = item["content"]
                parts = [{"type": "input_text", "text": content}] if isinstance(content, str) else content
                texts, images = [], []
                for p in parts:
                    if p["type"] in ("input_text", "output_text"):
                        texts.append(str(p["text"]))
                        chars += len(str(p["text"]))
                    elif p["type"] == "input_image":
                        images.append(str(p["image_url"]))
                    else:
                        raise BadRequest(f"unknown content type {p['type']!r}")
                any_image = any_image or bool(images)
                if item["role"] == "user":
                    text, urls = "\n".join(texts), images
        except (TypeError, KeyError):
            raise BadRequest("malformed 'input'") from None
        return Prompt(text=text, image_urls=urls, prompt_chars=chars, max_tokens=req.get("max_output_tokens"),
                      model=req.get("model"), fault_key=items, has_images=any_image)

    def log_body(self, req: dict[str, Any], digests: list[dict[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = digest_payloads(req)
        return out

    def error(self, status: int, kind: str, message: str) -> bytes:
        return OpenAIChatWire().error(status, kind, message)

    def blocked(self, n: int, prompt: Prompt) -> tuple[int, bytes]:
        return 400, openai_error_body("Your request was flagged by the content filter.", "invalid_request_error",
                                      "content_filter")

    def completion(self, n: int, prompt: Prompt, content: str | None, finish: FinishReason,
                   usage: tuple[int, int]) -> bytes:
        incomplete = {"length": "max_output_tokens", "content_filter": "content_filter"}.get(finish)
        output = [] if content is None else [{
            "type": "message", "id": f"msg_ctxsafe_{n}", "status": "incomplete" if incomplete else "completed",
            "role": "assistant", "content": [{"type": "output_text", "text": content, "annotations": []}]}]
        return dumps({
            "id": f"resp_ctxsafe_{n}", "object": "response", "created_at": int(time.time()),
            "status": "incomplete" if incomplete else "completed",
            "incomplete_details": {"reason": incomplete} if incomplete else None,
            "error": None, "model": prompt.model, "output": output, "instructions": None,
            "parallel_tool_calls": True, "tool_choice": "auto", "tools": [], "temperature": None, "top_p": None,
            "usage": {"input_tokens": usage[0], "input_tokens_details": {"cached_tokens": 0},
                      "output_tokens": usage[1], "output_tokens_details": {"reasoning_tokens": 0},
                      "total_tokens": usage[0] + usage[1]},
        })
