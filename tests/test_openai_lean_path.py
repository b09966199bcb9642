"""The chat-completions request goes through the SDK client's own `post`, not `chat.completions.create` (issue 12:
`create`'s walk of the body against its TypedDicts was the largest CPU cost of a call). Same client, so it must
send exactly what `create` sends (body, key) and read the reply the same way; an API error still maps the same."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import openai
import pytest

import ctxsafe.demo_images
from ctxsafe.images import ImageStore
from ctxsafe.providers.base import GenParams, ProviderError
from ctxsafe.providers.openai_compat import OpenAICompatible, chat_request
from ctxsafe.schema import Message, TextPart
from ctxsafe.testing.openai_server import ServerConfig, ServerHandle

PHOTOS = Path(ctxsafe.demo_images.__file__).parent / "photos"


def conversation(images: ImageStore) -> list[Message]:
    photo = images.add_file(sorted(PHOTOS.iterdir())[0], record="lean")
    return [Message.user(photo, "What is in this picture?"),
            Message(role="assistant", parts=(TextPart(text="A kitchen."),)),
            Message.user("Is anything here dangerous?")]


def test_the_lean_path_sends_the_same_request_and_reads_the_same_reply(
        openai_server: Callable[..., ServerHandle]) -> None:
    server = openai_server(ServerConfig(api_key="sk-lean-test", log_requests=True, served_model="snap-1"))
    images = ImageStore()
    messages = conversation(images)
    params = GenParams(temperature=0.0, max_tokens=64, seed=7)

    async def main() -> tuple[object, object]:
        provider = OpenAICompatible("ctxsafe-mock", base_url=server.base_url, api_key="sk-lean-test")
        ours = await provider.complete(messages, params, images)
        client = openai.AsyncOpenAI(base_url=server.base_url, api_key="sk-lean-test", max_retries=0)
        theirs = await client.chat.completions.create(**chat_request("ctxsafe-mock", messages, params, images))
        await client.close()
        await provider.aclose()
        return ours, theirs

    ours, theirs = asyncio.run(main())
    lean, create = (entry["body"] for entry in server.log())
    assert lean == create
    assert lean["seed"] == 7 and len(lean["messages"]) == 3  # the body is the whole request, not a part of it
    assert ours.text == theirs.choices[0].message.content and ours.text  # type: ignore[attr-defined]
    assert ours.served_model == theirs.model == "snap-1"  # type: ignore[attr-defined]
    assert ours.usage.input_tokens == theirs.usage.prompt_tokens  # type: ignore[attr-defined]


@pytest.mark.parametrize(("key", "why", "retryable"), [("sk-wrong", "authentication failed", False),
                                                       ("sk-lean-test", "500", True)])
def test_the_key_is_sent_and_api_errors_map_as_before(openai_server: Callable[..., ServerHandle], key: str,
                                                      why: str, retryable: bool) -> None:
    server = openai_server(ServerConfig(api_key="sk-lean-test", schedule={1: "500"}))
    images = ImageStore()

    async def main() -> None:
        provider = OpenAICompatible("ctxsafe-mock", base_url=server.base_url, api_key=key)
        try:
            await provider.complete([Message.user("hello")], GenParams(), images)
        finally:
            await provider.aclose()

    with pytest.raises(ProviderError) as info:  # a wrong key stops the run; the scheduled 500 is retried
        asyncio.run(main())
    assert why in str(info.value) and info.value.retryable is retryable
    assert "sk-wrong" not in str(info.value)
