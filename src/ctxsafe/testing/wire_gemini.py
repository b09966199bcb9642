"""Gemini on the wire: ``POST /v1beta/models/{model}:generateContent``, ``x-goog-api-key``, parts and
``finishReason``; a blocked prompt answers with ``promptFeedback.blockReason`` and no candidates."""

from __future__ import annotations

import re
from typing import Any

from ctxsafe.testing.http_core import dumps
from ctxsafe.testing.script import BadRequest, Prompt
from ctxsafe.testing.server_config import FinishReason
from ctxsafe.testing.wire import digest_payloads

_PATH = re.compile(r"^/v1(?:beta|alpha)?/models/([^/:]+):generateContent$")
_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
           405: "INVALID_ARGUMENT", 429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}
_FINISH = {"stop": "STOP", "length": "MAX_TOKENS", "content_filter": "SAFETY"}


def _get(d: dict[str, Any], camel: str, snake: str) -> Any:
    return d.get(camel, d.get(snake))


class GeminiWire:
    """The Gemini Developer API as the ``google-genai`` SDK speaks it (camelCase JSON)."""

    name = "gemini"

    def match(self, method: str, path: str) -> bool:
        return _PATH.match(path) is not None

    def authorized(self, headers: dict[str, str], api_key: str) -> bool:
        return headers.get("x-goog-api-key") == api_key

    def parse(self, req: dict[str, Any], path: str) -> Prompt:
        m = _PATH.match(path)
        contents = req.get("contents")
        if m is None or not isinstance(contents, list) or not contents:
            raise BadRequest("contents must be a non-empty array")
        chars = 0
        system = _get(req, "systemInstruction", "system_instruction")
        if isinstance(system, dict):
            chars += sum(len(p.get("text", "")) for p in system.get("parts", []))
        text, urls, any_image = "", [], False
        try:
            for c in contents:
                if c.get("role") not in ("user", "model"):
                    raise BadRequest(f"contents: role must be 'user' or 'model', got {c.get('role')!r}")
                texts, images = [], []
                for p in c["parts"]:
                    inline = _get(p, "inlineData", "inline_data")
                    if inline is not None:
                        images.append(f"data:{_get(inline, 'mimeType', 'mime_type')};base64,{inline['data']}")
                    elif "text" in p:
                        texts.append(str(p["text"]))
                        chars += len(str(p["text"]))
                any_image = any_image or bool(images)
                if c["role"] == "user":
                    text, urls = "\n".join(texts), images
        except (TypeError, KeyError, AttributeError):
            raise BadRequest("malformed 'contents'") from None
        gen = _get(req, "generationConfig", "generation_config") or {}
        return Prompt(text=text, image_urls=urls, prompt_chars=chars,
                      max_tokens=_get(gen, "maxOutputTokens", "max_output_tokens"), model=m.group(1),
                      fault_key=contents, has_images=any_image)

    def log_body(self, req: dict[str, Any], digests: list[dict[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = digest_payloads(req)
        return out

    def error(self, status: int, kind: str, message: str) -> bytes:
        return dumps({"error": {"code": status, "message": message, "status": _STATUS.get(status, "UNKNOWN")}})

    def blocked(self, n: int, prompt: Prompt) -> tuple[int, bytes]:
        return 200, dumps({"promptFeedback": {"blockReason": "SAFETY"},
                           "usageMetadata": {"promptTokenCount": 0, "totalTokenCount": 0},
                           "modelVersion": prompt.model, "responseId": f"ctxsafe-{n}"})

    def completion(self, n: int, prompt: Prompt, content: str | None, finish: FinishReason,
                   usage: tuple[int, int]) -> bytes:
        candidate: dict[str, Any] = {"finishReason": _FINISH[finish], "index": 0}
        if content:
            candidate["content"] = {"role": "model", "parts": [{"text": content}]}
        if finish == "content_filter":
            candidate["safetyRatings"] = [{"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH",
                                           "blocked": True}]
        return dumps({
            "candidates": [candidate],
            "usageMetadata": {"promptTokenCount": usage[0], "candidatesTokenCount": usage[1],
                              "totalTokenCount": usage[0] + usage[1]},
            "modelVersion": prompt.model,
            "responseId": f"ctxsafe-{n}",
        })
