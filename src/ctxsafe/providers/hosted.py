"""The fields every hosted provider (one reached over an HTTP API with a key) sets up the same way.

Why: the OpenAI-compatible, Responses, Anthropic and Gemini providers each repeated these lines, and
their order matters: the key is registered for redaction before anything could print or store it,
and the identity, which is stored, is redacted.
"""

from __future__ import annotations

from ctxsafe.providers.capabilities import Capabilities
from ctxsafe.redact import redact, register_secret


class Hosted:
    is_reference = False

    def __init__(self, *, model: str, name: str, base_url: str, identity: str, api_key: str | None,
                 key_env: str | None, max_concurrency: int, capabilities: Capabilities) -> None:
        register_secret(api_key)
        self.key_env = key_env
        """The env var the key came from: a refusal names it (never the key)."""
        self.model = model
        self.base_url = base_url
        self.name = name
        self.identity = redact(identity)
        """Keys the cache and is stored (run config, request bodies): a key pasted into a URL must not ride along."""
        self.max_concurrency = max_concurrency
        self.capabilities = capabilities
