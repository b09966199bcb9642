"""Shared pytest fixtures: a local fault-injecting OpenAI-compatible server, and tiny real images."""

from __future__ import annotations

import base64
import io
from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest
from PIL import Image

from ctxsafe.testing.openai_server import ServerConfig, ServerHandle, serve_in_thread

ServerFactory = Callable[..., ServerHandle]


@pytest.fixture
def openai_server() -> Iterator[ServerFactory]:
    """Factory: ``openai_server(config)`` or ``openai_server(reply="hi", delay_s=0.1)`` -> started handle.

    Each call starts a fresh server in a background thread; all are stopped at teardown, so a
    test can never leak a listening socket or a stalled connection.
    """
    handles: list[ServerHandle] = []

    def start(config: ServerConfig | None = None, **fields: Any) -> ServerHandle:
        if config is not None and fields:
            raise TypeError("pass a ServerConfig or keyword fields, not both")
        handle = serve_in_thread(config if config is not None else ServerConfig(**fields))
        handles.append(handle)
        return handle

    yield start
    for h in handles:
        h.stop()


@pytest.fixture
def openai_client() -> Iterator[Callable[..., openai.OpenAI]]:
    """Factory for sync SDK clients pointed at a handle: no SDK retries, short timeout, closed after."""
    clients: list[openai.OpenAI] = []

    def make(handle: ServerHandle, *, timeout: float = 5.0, api_key: str = "sk-test") -> openai.OpenAI:
        client = openai.OpenAI(base_url=handle.base_url, api_key=api_key, max_retries=0, timeout=timeout)
        clients.append(client)
        return client

    yield make
    for c in clients:
        c.close()


def _png(color: tuple[int, int, int], size: tuple[int, int] = (8, 8)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture
def make_png() -> Callable[..., bytes]:
    """``make_png((r, g, b), size=(8, 8))`` -> bytes of a real PNG; different colours, different bytes."""
    return _png


@pytest.fixture
def png_bytes() -> bytes:
    """A tiny real 8x8 red PNG made with Pillow."""
    return _png((255, 0, 0))


@pytest.fixture
def png_data_url() -> Callable[[bytes], str]:
    """``png_data_url(png_bytes)`` -> ``data:image/png;base64,...`` as sent in an image_url part."""

    def to_url(data: bytes) -> str:
        return "data:image/png;base64," + base64.b64encode(data).decode("ascii")

    return to_url
