"""What a wire format must say to plug into the test server: its routes, auth, request and reply shapes."""

from __future__ import annotations

from typing import Any, Protocol

from ctxsafe.testing.script import Prompt, image_digest
from ctxsafe.testing.server_config import FinishReason

ErrorKind = str
"""One of: bad_request, unauthorized, not_found, rate_limit, server_error, overloaded, unsupported."""


class Wire(Protocol):
    """One provider's wire format; the server owns faults, stats and the log, the wire only maps JSON."""

    name: str

    def match(self, method: str, path: str) -> bool:
        """Whether this request is a generation request of this wire format."""
        ...

    def authorized(self, headers: dict[str, str], api_key: str) -> bool:
        ...

    def parse(self, req: dict[str, Any], path: str) -> Prompt:
        """Reduce the request to a Prompt; raise BadRequest when it breaks the format."""
        ...

    def log_body(self, req: dict[str, Any], digests: list[dict[str, Any]]) -> dict[str, Any]:
        """The request for the log, image payloads replaced by their digests (keeps the log small)."""
        ...

    def error(self, status: int, kind: ErrorKind, message: str) -> bytes:
        ...

    def blocked(self, n: int, prompt: Prompt) -> tuple[int, bytes]:
        """The provider's answer when its safety system refuses the prompt itself."""
        ...

    def completion(self, n: int, prompt: Prompt, content: str | None, finish: FinishReason,
                   usage: tuple[int, int]) -> bytes:
        ...


def digest_payloads(node: Any) -> Any:
    """A copy of a JSON tree with each base64 image payload replaced by its digest.

    Payloads are found by shape (data URLs, Anthropic ``source.data``, Gemini ``inline_data.data``),
    so one walker serves every wire format that does not need the OpenAI log's exact layout.
    """
    if isinstance(node, dict):
        media = node.get("media_type") or node.get("mime_type") or node.get("mimeType")
        if isinstance(node.get("data"), str) and isinstance(media, str):
            return {k: (image_digest(f"data:{media};base64,{v}") if k == "data" else v) for k, v in node.items()}
        return {k: digest_payloads(v) for k, v in node.items()}
    if isinstance(node, list):
        return [digest_payloads(v) for v in node]
    if isinstance(node, str) and node.startswith("data:") and ";base64," in node[:100]:
        return image_digest(node)
    return node
