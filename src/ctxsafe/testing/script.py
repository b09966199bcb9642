"""The wire-agnostic part of the test server: which fault a request gets and what the model replies.

Every wire format reduces its request to a :class:`Prompt`; the same rules, faults and usage
arithmetic then apply to OpenAI, Azure, Responses, Anthropic and Gemini requests alike.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import random
import re
from dataclasses import dataclass, field
from typing import Any

from ctxsafe.testing.server_config import ContentFault, FinishReason, ReplyRule, ServerConfig


class BadRequest(Exception):
    """The request does not follow its wire format; answered with HTTP 400 in that format."""


@dataclass(slots=True)
class Prompt:
    """What the script needs from any request: the last user turn, sizes and the caps asked for."""

    text: str
    image_urls: list[str]
    """The last user message's images as data URLs (or remote URLs)."""
    prompt_chars: int
    max_tokens: int | None
    model: str | None
    fault_key: Any
    """The conversation as sent (JSON-able); a content fault remembers each distinct one."""
    n: int = 1
    has_images: bool = False
    """Whether any message of the request carries an image (for ``reject_images``)."""
    extra: dict[str, Any] = field(default_factory=dict)


def tokens(chars: int) -> int:
    """A deterministic stand-in for a tokenizer: about four characters per token."""
    return (chars + 3) // 4


def image_digest(url: str) -> dict[str, Any]:
    """sha256 of a data URL's decoded bytes (what tests compare), or the URL itself if remote."""
    if not url.startswith("data:"):
        return {"url": url}
    header, sep, payload = url.partition(",")
    if not sep or not header.endswith(";base64"):
        return {"error": "not a base64 data URL"}
    try:
        raw = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        try:  # the google-genai SDK sends bytes URL-safe encoded, which Gemini also accepts
            raw = base64.b64decode(payload.replace("-", "+").replace("_", "/"), validate=True)
        except (binascii.Error, ValueError):
            return {"error": "invalid base64"}
    return {"sha256": hashlib.sha256(raw).hexdigest(), "media_type": header[5:-7], "bytes": len(raw)}


class Script:
    """Fault choice and scripted replies for one server config; holds the seeded RNGs and fault memory."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self._rules: list[tuple[re.Pattern[str], ReplyRule]] = [(re.compile(r.pattern), r) for r in config.rules]
        self._content_faults: list[tuple[re.Pattern[str], ContentFault]] = [
            (re.compile(f.pattern), f) for f in config.content_faults]
        self.needs_digests = config.log_requests or any(r.image_sha256 for r in config.rules)
        self._fault_table = list(config.random_faults.items())
        self.reset()

    def reset(self) -> None:
        self._seen: dict[tuple[int, str], int] = {}
        self._rng = random.Random(self.config.seed)
        self.jitter_rng = random.Random(self.config.seed + 1)

    def delay_s(self) -> float:
        cfg = self.config
        return cfg.delay_s + (self.jitter_rng.uniform(0.0, cfg.jitter_s) if cfg.jitter_s else 0.0)

    def pick_fault(self, n: int, prompt: Prompt) -> str | None:
        """``schedule`` by request number, then the first matching content fault, then random faults."""
        fault = self.config.schedule.get(n)
        if fault is not None:
            return fault
        for i, (rx, cf) in enumerate(self._content_faults):
            if rx.search(prompt.text) is None:
                continue
            if cf.times is None:
                return cf.fault
            key = (i, hashlib.sha256(json.dumps(prompt.fault_key, sort_keys=True).encode()).hexdigest())
            seen = self._seen.get(key, 0) + 1
            self._seen[key] = seen
            if seen <= cf.times:
                return cf.fault
            break  # first matching rule decides; this prompt has used up its failures
        if self._fault_table:
            r = self._rng.random()
            acc = 0.0
            for kind, p in self._fault_table:
                acc += p
                if r < acc:
                    return kind
        return None

    def reply(self, prompt: Prompt, digests: list[dict[str, Any]],
              fault: str | None) -> tuple[str | None, FinishReason]:
        """The scripted answer after content faults, then the request's own token cap."""
        content, finish = self._scripted(prompt.text, digests)
        if fault == "content_filter":
            content, finish = None, "content_filter"
        elif fault == "length":
            content, finish = (content or "")[: max(1, len(content or "") // 2)], "length"
        cap = prompt.max_tokens
        if finish == "stop" and content and isinstance(cap, int) and cap > 0 and tokens(len(content)) > cap:
            content, finish = content[: cap * 4], "length"
        return content, finish

    def _scripted(self, text: str, digests: list[dict[str, Any]]) -> tuple[str | None, FinishReason]:
        for rx, rule in self._rules:
            if rx.search(text) is None:
                continue
            if rule.image_sha256 is not None and not any(d.get("sha256") == rule.image_sha256 for d in digests):
                continue
            return rule.reply, rule.finish_reason
        if self.config.reply is not None:
            return self.config.reply, "stop"
        return "echo: " + text[: self.config.echo_max_chars], "stop"

    def usage(self, prompt: Prompt, content: str | None) -> tuple[int, int]:
        """(prompt tokens, completion tokens per choice): four characters a token, plus a fixed cost per image."""
        return (tokens(prompt.prompt_chars) + self.config.image_tokens * len(prompt.image_urls),
                tokens(len(content)) if content else 0)
