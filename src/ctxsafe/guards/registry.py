"""`--guard` specs: `ADAPTER=PROVIDER:MODEL[;key=value...]` -> a guard adapter, its provider and its view.

Keys: `view` (last | all | window:N), `images` (images | caption | ocr | none), `captions` / `ocr`
(a JSON file of image sha256 or file name -> text), `policy` (a text file, for the `llm` adapter),
`policies` and `threshold` (ShieldGemma 2), `stage` (input | output | both), `on_error` (stop | block |
pass: what a guarded model does when the guard errs or cannot take the input; default stop),
`base_url`, `key_env`, `max_tokens`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ctxsafe.errors import ConfigError
from ctxsafe.guards.base import Guard
from ctxsafe.guards.llama_guard import LlamaGuard
from ctxsafe.guards.llavaguard import LlavaGuard
from ctxsafe.guards.llm_guard import LLMGuard
from ctxsafe.guards.openai_moderation import OpenAIModeration
from ctxsafe.guards.qwen3guard import Qwen3Guard
from ctxsafe.guards.shieldgemma import ShieldGemma2
from ctxsafe.guards.view import ImageTexts, View
from ctxsafe.providers.base import GenParams, Provider
from ctxsafe.providers.registry import Endpoint, make_provider

Stage = Literal["input", "output", "both"]
KEYS = ("view", "images", "captions", "ocr", "policy", "policies", "threshold", "stage", "on_error", "base_url",
        "key_env", "max_tokens")


def _llm(opts: dict[str, str]) -> Guard:
    if "policy" not in opts:
        raise ConfigError("the llm guard needs policy=FILE (your policy, in plain text)")
    try:
        return LLMGuard(Path(opts["policy"]).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"guard policy {opts['policy']}: {exc}") from None


def _shieldgemma(opts: dict[str, str]) -> Guard:
    try:
        policies = [p.strip() for p in opts.get("policies", "dangerous,sexual,violence").split(",") if p.strip()]
        return ShieldGemma2(policies, float(opts.get("threshold", "0.5")))
    except ValueError as exc:
        raise ConfigError(f"shieldgemma-2: {exc}") from None


ADAPTERS: dict[str, Callable[[dict[str, str]], Guard]] = {
    "llama-guard-3-vision": lambda _: LlamaGuard("3-vision"),
    "llama-guard-4": lambda _: LlamaGuard("4"),
    "shieldgemma-2": _shieldgemma,
    "qwen3guard": lambda _: Qwen3Guard(),
    "llavaguard": lambda _: LlavaGuard(),
    "openai-moderation": lambda _: OpenAIModeration(),
    "llm": _llm,
}


@dataclass(frozen=True)
class GuardSpec:
    """A parsed `--guard`: everything needed to build the guard, its provider and its view."""

    text: str
    adapter: str
    model: str
    view: View
    stage: Stage
    options: dict[str, str] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.adapter}@{self.model}"

    def params(self) -> GenParams:
        """Guards decode greedily; the answer is short unless the guard explains itself."""
        default = 512 if self.adapter in ("llm", "llavaguard") else 64
        return GenParams(temperature=0.0, max_tokens=int(self.options.get("max_tokens", default)))

    def texts(self) -> ImageTexts | None:
        if self.view.images in ("caption", "ocr"):
            key = "captions" if self.view.images == "caption" else "ocr"
            if key not in self.options:
                raise ConfigError(f"guard {self.label}: images={self.view.images} needs {key}=FILE")
            return ImageTexts.load(self.view.images, Path(self.options[key]))
        return None

    def describe(self) -> dict[str, Any]:
        return {"adapter": self.adapter, "model": self.model, "view": self.view.describe(), "stage": self.stage}


def parse_guard(text: str) -> GuardSpec:
    head, *rest = [s.strip() for s in text.split(";")]
    adapter, sep, model = head.partition("=")
    if not sep or adapter not in ADAPTERS or ":" not in model:
        raise ConfigError(f"guard spec {text!r} must look like ADAPTER=PROVIDER:MODEL[;key=value...], with ADAPTER "
                          f"one of {', '.join(ADAPTERS)}")
    opts: dict[str, str] = {}
    for item in rest:
        key, eq, value = item.partition("=")
        if not eq or key not in KEYS:
            raise ConfigError(f"guard spec {text!r}: unknown option {item!r}; known: {', '.join(KEYS)}")
        opts[key] = value
    stage = opts.get("stage", "input")
    if stage not in ("input", "output", "both"):
        raise ConfigError(f"guard spec {text!r}: stage must be input, output or both")
    if opts.get("on_error", "stop") not in ("stop", "block", "pass"):
        raise ConfigError(f"guard spec {text!r}: on_error must be stop, block or pass")
    view = View.parse(opts.get("view", "last"), opts.get("images", "images"))
    return GuardSpec(text, adapter, model, view, stage, opts)  # type: ignore[arg-type]


def make_guard(spec: GuardSpec) -> Guard:
    return ADAPTERS[spec.adapter](spec.options)


def guard_provider(spec: GuardSpec, timeout_s: float = 120.0, concurrency: int = 16) -> Provider:
    """The moderation endpoint for `openai-moderation`, a local model for `hf:PATH`, else any chat provider."""
    family, _, model = spec.model.partition(":")
    endpoint = Endpoint(spec.options.get("base_url"), spec.options.get("key_env"), timeout_s, concurrency)
    if spec.adapter == "openai-moderation":
        if family != "openai":
            raise ConfigError(f"guard {spec.label}: openai-moderation is served as openai:MODEL")
        key_env = endpoint.api_key_env or "OPENAI_API_KEY"
        from ctxsafe.guards.moderation_provider import ModerationProvider  # the openai SDK loads when used

        return ModerationProvider(model, base_url=endpoint.base_url or os.environ.get("OPENAI_BASE_URL"),
                                  api_key=os.environ.get(key_env), timeout_s=timeout_s, max_concurrency=concurrency,
                                  key_env=key_env)
    if family == "hf":
        from ctxsafe.guards.local_hf import LocalGuardModel  # torch is an optional extra

        return LocalGuardModel(Path(model), ("Yes", "No") if spec.adapter == "shieldgemma-2" else None)
    return make_provider(spec.model, endpoint)
