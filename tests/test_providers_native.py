"""Anthropic, Gemini, Azure OpenAI and the Responses API, each on its official SDK against the local
server speaking its wire format: the exact request (roles, image parts, parameters) and the mapping
of usage, truncation, content filters, blocked prompts and errors are pinned here."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from ctxsafe.images import ImageStore
from ctxsafe.providers.base import GenParams, Provider, ProviderError
from ctxsafe.providers.registry import Endpoint, make_provider
from ctxsafe.schema import Message, TextPart
from ctxsafe.testing.openai_server import ContentFault, ServerConfig, ServerHandle

KEY = "sk-nativeKEY0123456789abcdefXYZ"
ServerFactory = Callable[..., ServerHandle]


EXTRAS = {"anthropic": ("anthropic", "anthropic"), "google": ("google.genai", "google")}


def needs_sdk(family: str) -> None:
    """Skip (with the reason) when the family's SDK extra is absent; CI installs it, so there they run."""
    if family in EXTRAS:
        module, extra = EXTRAS[family]
        pytest.importorskip(module, reason=f"the ctxsafe[{extra}] extra is not installed")


def _provider(family: str, server: ServerHandle, monkeypatch: pytest.MonkeyPatch, **kw: Any) -> Provider:
    """The provider for `family`, pointed at the local server with the key read from an env var."""
    needs_sdk(family)
    monkeypatch.setenv("NATIVE_TEST_KEY", KEY)
    base = server.base_url if family == "openai-responses" else server.root_url
    spec = {"azure": "azure/gpt4o-deploy", "google": "google/gemini-test", "anthropic": "anthropic/claude-test",
            "openai-responses": "openai-responses:gpt-test"}[family]
    return make_provider(spec, Endpoint(base_url=base, api_key_env="NATIVE_TEST_KEY", api_version="2024-10-21",
                                        **{"timeout_s": 5.0, **kw}))


def _conversation(images: ImageStore, png: Callable[..., bytes]) -> tuple[list[Message], list[str]]:
    first = images.add_bytes(png((255, 0, 0)), source="red.png", record="r1")
    second = images.add_bytes(png((0, 0, 255), (16, 8)), source="blue.png", record="r1")
    msgs = [Message.text("system", "Be careful."),
            Message.user(first, "What is in this picture?"),
            Message.text("assistant", "A red square."),
            Message(role="user", parts=(TextPart(text="And this one?"), second))]
    return msgs, [first.sha256, second.sha256]


FAMILIES = ["anthropic", "google", "azure", "openai-responses"]


async def _ask(provider: Provider, msgs: list[Message], images: ImageStore, **params: Any) -> Any:
    try:
        return await provider.complete(msgs, GenParams(**{"temperature": 0.0, "max_tokens": 64, **params}), images)
    finally:
        await provider.aclose()


@pytest.mark.parametrize("family", FAMILIES)
async def test_request_shape_usage_and_identical_image_bytes(
        family: str, openai_server: ServerFactory, make_png: Callable[..., bytes],
        monkeypatch: pytest.MonkeyPatch) -> None:
    server = openai_server(ServerConfig(reply="It is blue.", log_requests=True, api_key=KEY))
    images = ImageStore()
    msgs, shas = _conversation(images, make_png)
    c = await _ask(_provider(family, server, monkeypatch), msgs, images, top_p=0.5)
    assert c.text == "It is blue." and c.finish_reason == "stop"
    assert c.usage.input_tokens is not None and c.usage.input_tokens > 85  # text + one image of the last turn
    assert c.usage.output_tokens == 3
    (entry,) = server.log()
    body = entry["body"]
    # The same image bytes reach every provider, whatever the encoding on the wire.
    assert [d["sha256"] for d in entry["images"]] == [shas[1]]
    sent = _image_shas(body)
    assert sent == shas
    if family == "anthropic":
        assert entry["path"] == "/v1/messages"
        assert body["system"] == "Be careful."
        assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
        assert [b["type"] for b in body["messages"][0]["content"]] == ["image", "text"]
        assert [b["type"] for b in body["messages"][2]["content"]] == ["text", "image"]
        assert body["messages"][0]["content"][0]["source"]["media_type"] == "image/png"
        assert (body["max_tokens"], body["temperature"], body["top_p"]) == (64, 0.0, 0.5)
        assert body["model"] == "claude-test"
    elif family == "google":
        assert re.fullmatch(r"/v1(beta)?/models/gemini-test:generateContent", entry["path"])
        assert body["systemInstruction"]["parts"] == [{"text": "Be careful."}]
        assert [m["role"] for m in body["contents"]] == ["user", "model", "user"]
        assert ["inlineData" in p for p in body["contents"][0]["parts"]] == [True, False]
        assert ["inlineData" in p for p in body["contents"][2]["parts"]] == [False, True]
        gen = body["generationConfig"]
        assert (gen["maxOutputTokens"], gen["temperature"], gen["topP"]) == (64, 0.0, 0.5)
    elif family == "azure":
        assert entry["path"] == "/openai/deployments/gpt4o-deploy/chat/completions"
        assert "api-version=2024-10-21" in entry["query"]
        assert [m["role"] for m in body["messages"]] == ["system", "user", "assistant", "user"]
        assert [p["type"] for p in body["messages"][3]["content"]] == ["text", "image_url"]
        assert (body["max_tokens"], body["top_p"]) == (64, 0.5)
    else:
        assert entry["path"] == "/v1/responses"
        assert body["instructions"] == "Be careful."
        assert [m["role"] for m in body["input"]] == ["user", "assistant", "user"]
        assert [p["type"] for p in body["input"][0]["content"]] == ["input_image", "input_text"]
        assert body["input"][1]["content"] == "A red square."
        assert (body["max_output_tokens"], body["top_p"], body["model"]) == (64, 0.5, "gpt-test")


def _image_shas(node: Any) -> list[str]:
    """Every image digest in a logged body, in order."""
    if isinstance(node, dict):
        if "sha256" in node and "media_type" in node:
            return [node["sha256"]]
        return [s for v in node.values() for s in _image_shas(v)]
    if isinstance(node, list):
        return [s for v in node for s in _image_shas(v)]
    return []


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize(("fault", "finish", "has_text"), [
    ("content_filter", "content_filter", False), ("blocked", "content_filter", False), ("length", "length", True)])
async def test_safety_blocks_filters_and_truncation_are_explicit(
        family: str, fault: str, finish: str, has_text: bool, openai_server: ServerFactory,
        make_png: Callable[..., bytes], monkeypatch: pytest.MonkeyPatch) -> None:
    server = openai_server(ServerConfig(reply="A long enough answer to cut.",
                                        content_faults=[ContentFault(pattern="", fault=fault, times=None)]))
    images = ImageStore()
    msgs, _ = _conversation(images, make_png)
    c = await _ask(_provider(family, server, monkeypatch), msgs, images)
    assert c.finish_reason == finish
    assert (c.text is not None and c.text != "") == has_text


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize(("config", "retryable", "needle"), [
    ({"schedule": {1: "429"}, "retry_after_s": 7}, True, "429"),
    ({"schedule": {1: "503"}}, True, "503"),
    ({"schedule": {1: "500"}}, True, "500"),
    ({"schedule": {1: "malformed"}}, True, "malformed"),
    ({"api_key": "a-different-key"}, False, "401"),
    ({"reject_images": True}, False, "unsupported input"),
])
async def test_errors_map_to_retryable_or_permanent(
        family: str, config: dict[str, Any], retryable: bool, needle: str, openai_server: ServerFactory,
        make_png: Callable[..., bytes], monkeypatch: pytest.MonkeyPatch) -> None:
    server = openai_server(ServerConfig(**config))
    images = ImageStore()
    msgs, _ = _conversation(images, make_png)
    provider = _provider(family, server, monkeypatch)
    with pytest.raises(ProviderError) as info:
        await _ask(provider, msgs, images)
    assert info.value.retryable is retryable
    assert needle in str(info.value)
    assert KEY not in str(info.value)
    if needle == "429":
        assert info.value.retry_after == 7
    if needle == "401":  # a refusal names the provider and the key's env var (set or not), never the key
        assert info.value.refused
        assert "check the key in $NATIVE_TEST_KEY (it is set)" in str(info.value)
        assert str(info.value).startswith(provider.name + ": ")


@pytest.mark.parametrize("family", FAMILIES)
async def test_connection_drop_and_stall_are_retryable(
        family: str, openai_server: ServerFactory, make_png: Callable[..., bytes],
        monkeypatch: pytest.MonkeyPatch) -> None:
    server = openai_server(ServerConfig(schedule={1: "close", 2: "stall"}, stall_s=5.0))
    images = ImageStore()
    msgs, _ = _conversation(images, make_png)
    for expected in ("connection", "timed out"):
        provider = _provider(family, server, monkeypatch, timeout_s=0.5) if expected == "timed out" \
            else _provider(family, server, monkeypatch)
        with pytest.raises(ProviderError) as info:
            await _ask(provider, msgs, images)
        assert info.value.retryable, str(info.value)
        assert expected in str(info.value).lower()


def test_identity_is_per_family_and_never_holds_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NATIVE_TEST_KEY", KEY)
    ids = set()
    for family in EXTRAS:
        needs_sdk(family)
    for spec in ("anthropic/claude-x", "anthropic:claude-x", "google/gemini-x", "gemini:gemini-x", "azure:dep",
                 "openai-responses/gpt-x", "openai/gpt-x", "vllm/Qwen/Qwen2-VL-7B", "ollama:llama3.2:3b"):
        p = make_provider(spec, Endpoint(base_url="http://127.0.0.1:9/", api_key_env="NATIVE_TEST_KEY"))
        assert KEY not in p.identity and KEY not in p.name
        ids.add(p.identity)
    assert len(ids) == 7  # the two spellings of a model are one identity (one cache), families differ
