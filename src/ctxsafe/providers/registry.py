"""Turn a `provider:model` spec from the command line into a provider object."""

from __future__ import annotations

import os
from dataclasses import dataclass

from ctxsafe.errors import ConfigError
from ctxsafe.providers.base import Provider
from ctxsafe.providers.openai_compat import OpenAICompatible
from ctxsafe.providers.reference import REFERENCE_MODELS

# Conventional defaults so `vllm:Qwen/Qwen2-VL-7B` works without a base URL flag.
OPENAI_COMPATIBLE_DEFAULTS: dict[str, tuple[str | None, str]] = {
    "openai": (None, "OPENAI_API_KEY"),
    "vllm": ("http://localhost:8000/v1", "VLLM_API_KEY"),
    "sglang": ("http://localhost:30000/v1", "SGLANG_API_KEY"),
    "ollama": ("http://localhost:11434/v1", "OLLAMA_API_KEY"),
    "llamacpp": ("http://localhost:8080/v1", "LLAMACPP_API_KEY"),
    "openrouter": ("https://openrouter.ai/api/v1", "OPENROUTER_API_KEY"),
}


@dataclass(frozen=True)
class Endpoint:
    """Where and how to reach a hosted model; the key is named by its env var, never stored."""

    base_url: str | None = None
    api_key_env: str | None = None
    timeout_s: float = 120.0
    concurrency: int = 16


def make_provider(spec: str, endpoint: Endpoint | None = None) -> Provider:
    """`ref:always-comply`, `openai:gpt-4o`, `vllm:MODEL`, ... -> provider."""
    endpoint = endpoint or Endpoint()
    family, sep, model = spec.partition(":")
    if not sep or not model:
        raise ConfigError(f"model spec {spec!r} must look like provider:model (e.g. openai:gpt-4o, ref:always-refuse)")
    if family == "ref":
        if model not in REFERENCE_MODELS:
            raise ConfigError(f"unknown reference model {model!r}; choose from {sorted(REFERENCE_MODELS)}")
        return REFERENCE_MODELS[model]()
    if family in OPENAI_COMPATIBLE_DEFAULTS:
        default_url, default_env = OPENAI_COMPATIBLE_DEFAULTS[family]
        base_url = endpoint.base_url or (os.environ.get("OPENAI_BASE_URL") if family == "openai" else None) \
            or default_url
        key_env = endpoint.api_key_env or default_env
        return OpenAICompatible(model, base_url=base_url, api_key=os.environ.get(key_env),
                                timeout_s=endpoint.timeout_s, max_concurrency=endpoint.concurrency,
                                label=family, key_env=key_env)
    raise ConfigError(f"unknown provider {family!r} in {spec!r}; known: ref, "
                      + ", ".join(sorted(OPENAI_COMPATIBLE_DEFAULTS)))
