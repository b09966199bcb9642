"""Model specs (`provider:model` or `provider/model`): the known families and the spelling check.

Why a module of its own: a misspelt model must be refused in a blink, before the CLI imports a suite,
the store or an SDK (issue 12), so this holds names only and imports nothing heavy. Building the
provider itself is `providers.registry`.
"""

from __future__ import annotations

from ctxsafe.errors import ConfigError

# Conventional defaults so `vllm:Qwen/Qwen2-VL-7B` works without a base URL flag.
OPENAI_COMPATIBLE_DEFAULTS: dict[str, tuple[str | None, str]] = {
    "openai": (None, "OPENAI_API_KEY"),
    "vllm": ("http://localhost:8000/v1", "VLLM_API_KEY"),
    "sglang": ("http://localhost:30000/v1", "SGLANG_API_KEY"),
    "ollama": ("http://localhost:11434/v1", "OLLAMA_API_KEY"),
    "llamacpp": ("http://localhost:8080/v1", "LLAMACPP_API_KEY"),
    "lmstudio": ("http://localhost:1234/v1", "LMSTUDIO_API_KEY"),
    "openrouter": ("https://openrouter.ai/api/v1", "OPENROUTER_API_KEY"),
    "together": ("https://api.together.xyz/v1", "TOGETHER_API_KEY"),
}
NATIVE_KEYS: dict[str, str] = {
    "anthropic": "ANTHROPIC_API_KEY",
    "google": "GEMINI_API_KEY",
    "gemini": "GEMINI_API_KEY",
    "azure": "AZURE_OPENAI_API_KEY",
    "openai-responses": "OPENAI_API_KEY",
}
LOCAL_FAMILIES = frozenset({"hf", "gguf"})
FAMILIES = frozenset({"ref", *LOCAL_FAMILIES, *OPENAI_COMPATIBLE_DEFAULTS, *NATIVE_KEYS})
REFERENCE_NAMES = ("always-comply", "always-refuse", "keyword-filter")
"""The offline reference models' names (`providers.reference.REFERENCE_MODELS` holds them, tested equal)."""


def split_spec(spec: str) -> tuple[str, str]:
    """(family, model) from `family:model` or `family/model`; the first separator after a known family wins."""
    for sep in (":", "/"):
        family, found, model = spec.partition(sep)
        if found and model and family in FAMILIES:
            return family, model
    family = spec.partition(":")[0].partition("/")[0]
    if (":" in spec or "/" in spec) and family and family not in FAMILIES:
        raise ConfigError(f"unknown provider {family!r} in {spec!r}; known: {', '.join(sorted(FAMILIES))}")
    raise ConfigError(f"model spec {spec!r} must look like provider:model or provider/model "
                      "(e.g. openai:gpt-4o, anthropic/claude-sonnet-4-5, ref:always-refuse)")


def check_spec(spec: str) -> None:
    """Refuse a misspelt model spec before any data is loaded (the same errors `make_provider` raises)."""
    family, model = split_spec(spec)
    if family == "ref" and model not in REFERENCE_NAMES:
        raise ConfigError(f"unknown reference model {model!r}; choose from {sorted(REFERENCE_NAMES)}")

