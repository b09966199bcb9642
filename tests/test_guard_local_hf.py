"""Local `transformers` guards on tiny randomly initialised models built here from configs (no download):
the real code path (chat template, greedy generation, decoding, parsing, caching) runs on CPU."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

import torch
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast, Qwen3Config, Qwen3ForCausalLM

from ctxsafe.engine.call import Caller
from ctxsafe.engine.store import RunStore
from ctxsafe.guards.judge import GuardJudge
from ctxsafe.guards.local_hf import LocalGuardModel
from ctxsafe.guards.registry import guard_provider, make_guard, parse_guard
from ctxsafe.guards.shieldgemma import ShieldGemma2
from ctxsafe.images import ImageStore
from ctxsafe.providers.base import GenParams, ProviderError
from ctxsafe.schema import Message
from tests.guard_helpers import dialogue, image

TEMPLATE = ("{% for m in messages %}{{ m['role'] }} : {{ m['content'] }} {% endfor %}"
            "{% if add_generation_prompt %}assistant : {% endif %}")


def tiny_guard(folder: Path, first_word: str) -> Path:
    """A one-layer Qwen3 whose final norm is zeroed, so every logit is 0 and greedy decoding always picks
    token 0: `first_word`. The tokenizer is a word-level vocabulary with a chat template of our own."""
    words = [first_word, "<eos>", "<unk>", "S1", "user", "assistant", ":", "hello", "knife", "a", "sharp", "Yes", "No"]
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<eos>", unk_token="<unk>", pad_token="<eos>")
    fast.chat_template = TEMPLATE
    cfg = Qwen3Config(vocab_size=len(words), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                      num_attention_heads=2, num_key_value_heads=1, head_dim=8, max_position_embeddings=64,
                      eos_token_id=1, pad_token_id=1, bos_token_id=None, tie_word_embeddings=False)
    torch.manual_seed(0)
    model = Qwen3ForCausalLM(cfg)
    with torch.no_grad():
        model.model.norm.weight.zero_()
    model.save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder


@pytest.mark.parametrize(("word", "max_tokens", "verdict"), [("safe", 1, "safe"), ("unsafe", 1, "unsafe"),
                                                             ("safe", 3, "error")])
async def test_local_llama_guard_format_on_a_tiny_model(tmp_path: Path, word: str, max_tokens: int,
                                                        verdict: str) -> None:
    folder = tiny_guard(tmp_path / "tiny", word)
    spec = parse_guard(f"llama-guard-4=hf:{folder};images=none;max_tokens={max_tokens}")
    provider = guard_provider(spec)
    store = RunStore(tmp_path / "runs.sqlite")
    images = ImageStore()
    caller = Caller(provider, spec.params(), store, images)
    judge = GuardJudge(make_guard(spec), caller, spec.view)
    try:
        conv = dialogue(image(images, (1, 2, 3), "photo"), "hello", "a", "a sharp knife")
        v, given, failed, usage = await judge.check(conv)
        assert (v.verdict, failed) == (verdict, False)
        assert v.raw == " ".join([word] * max_tokens)  # three tokens: "safe safe safe" is not the format
        assert given.images == () and any("images=none" in d for d in given.dropped)
        assert usage is not None and usage.output_tokens == max_tokens and (usage.input_tokens or 0) > 0
        again, _, _, _ = await judge.check(conv)
        assert again == v and caller.calls_made == 1 and caller.cache_hits == 1
    finally:
        await provider.aclose()
        store.close()


async def test_a_text_guard_model_refuses_images(tmp_path: Path) -> None:
    folder = tiny_guard(tmp_path / "tiny", "safe")
    provider = guard_provider(parse_guard(f"qwen3guard=hf:{folder}"))
    images = ImageStore()
    with pytest.raises(ProviderError, match="text model and was sent an image") as err:
        await provider.complete([Message.user(image(images, (0, 0, 0), "x"), "hello")], GenParams(), images)
    assert err.value.retryable is False


async def test_answer_token_probabilities_feed_shieldgemma_scores(tmp_path: Path) -> None:
    """With every logit equal, P(Yes) = P(No) = 0.5: fired at threshold 0.5, not at 0.6; the score is kept."""
    provider = LocalGuardModel(tiny_guard(tmp_path / "tiny", "safe"), ("Yes", "No"))
    out = await provider.complete([Message.user("hello")], GenParams(max_tokens=1), ImageStore())
    assert out.text is not None and out.usage.output_tokens == 0
    assert ShieldGemma2(["violence"], 0.5).parse([out.text]).verdict == "unsafe"
    calm = ShieldGemma2(["violence"], 0.6).parse([out.text])
    assert (calm.verdict, calm.score) == ("safe", 0.5)
    missing = LocalGuardModel(tmp_path / "tiny", ("Oui", "Non"))
    with pytest.raises(ProviderError, match="no single token"):
        await missing.complete([Message.user("hello")], GenParams(), ImageStore())
