"""Turn a model spec from the command line into a provider object.

Both spellings users already know are accepted: `provider:model` (ctxsafe's own) and
`provider/model` (Inspect, LiteLLM). The model part may itself hold `/` or `:`
(`vllm/Qwen/Qwen2-VL-7B`, `ollama:llama3.2:3b`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from ctxsafe.engine import dry_run
from ctxsafe.engine.dry_run import Estimator
from ctxsafe.errors import ConfigError
from ctxsafe.providers.base import Provider
from ctxsafe.providers.capabilities import OPENAI, TEXT_ONLY, Capabilities
from ctxsafe.providers.reference import REFERENCE_MODELS
from ctxsafe.providers.replicas import Replicas
from ctxsafe.providers.specs import LOCAL_FAMILIES, NATIVE_KEYS, OPENAI_COMPATIBLE_DEFAULTS, check_spec, split_spec
from ctxsafe.redact import register_secret

DEFAULT_AZURE_API_VERSION = "2024-10-21"


@dataclass(frozen=True)
class Endpoint:
    """Where and how to reach a hosted model; the key is named by its env var, never stored."""

    base_url: str | None = None
    """One URL, or several separated by commas: replicas of the same model."""
    api_key_env: str | None = None
    timeout_s: float = 120.0
    concurrency: int = 16
    api_version: str | None = None
    """Azure OpenAI's API version (default: $OPENAI_API_VERSION, else a GA version)."""
    text_only: bool = False
    """Declare the model text-only: a run with image cases then stops before its first call."""
    device: str | None = None
    """Where local (`hf:`, `gguf:`) models run: `cpu`, `cuda`, `cuda:1`, ...; default: a GPU if torch sees one."""
    chat_template: str | None = None
    """A Jinja chat template file for a local model whose own files carry none (e.g. a base-model GGUF)."""


@contextmanager
def _extra(name: str) -> Iterator[None]:
    """Native SDKs are optional extras, imported only when used (they cost seconds of start-up)."""
    try:
        yield
    except ImportError as exc:
        raise ConfigError(f"this provider needs the {exc.name} package: pip install 'ctxsafe[{name}]'") from None


def _key_env(endpoint: Endpoint, default_env: str, *fallbacks: str) -> str:
    """The env var holding the key: the first of the chosen one and its fallbacks that is set, else the chosen one."""
    names = (endpoint.api_key_env or default_env, *fallbacks)
    return next((name for name in names if os.environ.get(name)), names[0])


def _azure(deployment: str, endpoint: Endpoint, caps: Capabilities) -> Provider:
    azure_endpoint = endpoint.base_url or os.environ.get("AZURE_OPENAI_ENDPOINT")
    if not azure_endpoint:
        raise ConfigError(f"azure:{deployment} needs an endpoint: --base-url https://NAME.openai.azure.com "
                          "or $AZURE_OPENAI_ENDPOINT")
    version = endpoint.api_version or os.environ.get("OPENAI_API_VERSION") or DEFAULT_AZURE_API_VERSION
    key_env = _key_env(endpoint, NATIVE_KEYS["azure"])
    key = os.environ.get(key_env) or None
    register_secret(key)
    import openai

    from ctxsafe.providers.openai_compat import OpenAICompatible

    client = openai.AsyncAzureOpenAI(azure_endpoint=azure_endpoint, azure_deployment=deployment, api_version=version,
                                     api_key=key or "EMPTY", max_retries=0, timeout=endpoint.timeout_s)
    return OpenAICompatible(deployment, base_url=azure_endpoint, api_key=key, timeout_s=endpoint.timeout_s,
                            max_concurrency=endpoint.concurrency, label="azure", capabilities=caps, client=client,
                            identity=f"azure-openai|{azure_endpoint}|{deployment}|{version}", key_env=key_env)


def _local(family: str, model: str, endpoint: Endpoint, caps: Capabilities | None) -> Provider:
    """`hf:FOLDER_OR_HUB_ID` or `gguf:FILE`, run in-process; `--concurrency` is the largest batch."""
    from ctxsafe.providers.local_hf import LocalHF, LocalSource, require_local

    require_local()
    template = None
    if endpoint.chat_template is not None:
        try:
            template = Path(endpoint.chat_template).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read the chat template {endpoint.chat_template}: {exc.strerror}") from None
    source = LocalSource.parse(model, gguf=family == "gguf", chat_template=template)
    return LocalHF(source, name=f"{family}:{model}", device=endpoint.device, max_batch=endpoint.concurrency,
                   capabilities=caps)


def make_provider(spec: str, endpoint: Endpoint | None = None) -> Provider:
    """`ref:always-comply`, `openai:gpt-4o`, `anthropic/claude-...`, `google:gemini-...`, `azure:DEPLOYMENT`,
    `vllm:MODEL`, ... -> provider (one that sends nothing under `--dry-run`)."""
    provider = _make_provider(spec, endpoint)
    return Estimator(provider) if dry_run.active() else provider


def _make_provider(spec: str, endpoint: Endpoint | None = None) -> Provider:
    endpoint = endpoint or Endpoint()
    family, model = split_spec(spec)
    urls = [u.strip() for u in (endpoint.base_url or "").split(",") if u.strip()]
    if len(urls) > 1:  # replicas of one model: spread, fail over, keep each endpoint's concurrency
        return Replicas([_make_provider(spec, replace(endpoint, base_url=u)) for u in urls])
    if family == "ref":
        check_spec(spec)
        return REFERENCE_MODELS[model]()
    text_only = TEXT_ONLY if endpoint.text_only else None
    if family in LOCAL_FAMILIES:
        return _local(family, model, endpoint, text_only)
    if family == "anthropic":
        with _extra("anthropic"):
            from ctxsafe.providers.anthropic_native import AnthropicProvider
        key_env = _key_env(endpoint, NATIVE_KEYS[family])
        return AnthropicProvider(model, base_url=endpoint.base_url or os.environ.get("ANTHROPIC_BASE_URL"),
                                 api_key=os.environ.get(key_env) or None, timeout_s=endpoint.timeout_s,
                                 max_concurrency=endpoint.concurrency, capabilities=text_only, key_env=key_env)
    if family in ("google", "gemini"):
        with _extra("google"):
            from ctxsafe.providers.gemini import GeminiProvider
        key_env = _key_env(endpoint, "GEMINI_API_KEY", "GOOGLE_API_KEY")
        return GeminiProvider(model, base_url=endpoint.base_url, api_key=os.environ.get(key_env) or None,
                              timeout_s=endpoint.timeout_s, max_concurrency=endpoint.concurrency,
                              capabilities=text_only, key_env=key_env)
    if family == "azure":
        return _azure(model, endpoint, text_only or OPENAI)
    if family == "openai-responses":
        from ctxsafe.providers.openai_responses import OpenAIResponses

        key_env = _key_env(endpoint, NATIVE_KEYS[family])
        return OpenAIResponses(model, base_url=endpoint.base_url or os.environ.get("OPENAI_BASE_URL"),
                               api_key=os.environ.get(key_env) or None, timeout_s=endpoint.timeout_s,
                               max_concurrency=endpoint.concurrency, capabilities=text_only, key_env=key_env)
    default_url, default_env = OPENAI_COMPATIBLE_DEFAULTS[family]
    base_url = endpoint.base_url or (os.environ.get("OPENAI_BASE_URL") if family == "openai" else None) \
        or default_url
    caps = text_only or (OPENAI if family == "openai" and not endpoint.base_url else Capabilities())
    key_env = endpoint.api_key_env or default_env
    from ctxsafe.providers.openai_compat import OpenAICompatible  # the SDK costs ~2 s of start-up: load it when used

    return OpenAICompatible(model, base_url=base_url, api_key=os.environ.get(key_env),
                            timeout_s=endpoint.timeout_s, max_concurrency=endpoint.concurrency, label=family,
                            capabilities=caps, key_env=key_env)
