"""Local vision guards through `transformers` on a tiny randomly initialised Mllama (the architecture of
Llama Guard 3 Vision) built here from a config, with a real photo: the processor's chat template, the image
processor, the vision tower and greedy decoding all run on CPU, with no download."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

import torch
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import MllamaConfig, MllamaForConditionalGeneration, MllamaProcessor, PreTrainedTokenizerFast

from ctxsafe.engine.call import Caller
from ctxsafe.engine.store import RunStore
from ctxsafe.guards.judge import GuardJudge
from ctxsafe.guards.local_hf import LocalGuardModel
from ctxsafe.guards.registry import guard_provider, make_guard, parse_guard
from ctxsafe.images import ImageStore
from ctxsafe.schema import ImagePart, Message

WORDS = ["<unk>", "<eos>", "<|image|>", "<|begin_of_text|>", "<|python_tag|>", "S1", "user", "assistant", ":",
         "hello", "knife", "a", "sharp", "safe", "unsafe"]
TEMPLATE = ("{% for m in messages %}{{ m['role'] }} : {% for c in m['content'] %}{% if c['type'] == 'image' %}"
            "<|image|> {% else %}{{ c['text'] }} {% endif %}{% endfor %}{% endfor %}"
            "{% if add_generation_prompt %}assistant : {% endif %}")


def tiny_mllama(folder: Path, first_word: str) -> Path:
    """Two text layers (one cross-attending to the image), a two-layer vision tower on 28x28 tiles of 14x14
    patches. The final norm is zeroed, so every logit is 0 and greedy decoding always picks `first_word`
    (token 0): the answer is known, the whole path still runs."""
    words = [first_word, *(w for w in WORDS if w not in ("<unk>", first_word)), "<unk>"]
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<eos>", unk_token="<unk>", pad_token="<eos>",
                                   bos_token="<|begin_of_text|>")
    fast.add_special_tokens({"additional_special_tokens": ["<|image|>", "<|python_tag|>"]})
    from transformers import MllamaImageProcessorPil  # the PIL backend: torchvision is not a dependency

    processor = MllamaProcessor(image_processor=MllamaImageProcessorPil(size={"height": 28, "width": 28},
                                                                       max_image_tiles=1),
                                tokenizer=fast, chat_template=TEMPLATE)
    ids = {w: i for i, w in enumerate(words)}
    cfg = MllamaConfig(
        vision_config={"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 2, "num_global_layers": 1,
                       "attention_heads": 2, "image_size": 28, "patch_size": 14, "max_num_tiles": 1,
                       "vision_output_dim": 32, "intermediate_layers_indices": [0],
                       "supported_aspect_ratios": [[1, 1]]},
        text_config={"vocab_size": len(words), "hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 2,
                     "num_attention_heads": 2, "num_key_value_heads": 1, "cross_attention_layers": [1],
                     "max_position_embeddings": 256, "eos_token_id": ids["<eos>"], "pad_token_id": ids["<eos>"],
                     "bos_token_id": ids["<|begin_of_text|>"], "tie_word_embeddings": False},
        image_token_index=ids["<|image|>"])
    torch.manual_seed(0)
    model = MllamaForConditionalGeneration(cfg)
    with torch.no_grad():
        model.model.language_model.norm.weight.zero_()
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def photo(images: ImageStore, name: str) -> ImagePart:
    """A real photograph from the bundled demo images."""
    data = resources.files("ctxsafe.demo_images").joinpath("photos", f"{name}.png").read_bytes()
    return images.add_bytes(data, source=f"demo:{name}.png", record=name)


@pytest.mark.parametrize(("word", "verdict"), [("unsafe", "unsafe"), ("safe", "safe")])
async def test_llama_guard_3_vision_reads_a_real_photo_on_a_tiny_mllama(tmp_path: Path, word: str,
                                                                         verdict: str) -> None:
    folder = tiny_mllama(tmp_path / "tiny-mllama", word)
    spec = parse_guard(f"llama-guard-3-vision=hf:{folder};view=all;max_tokens=1")
    provider = guard_provider(spec)
    assert isinstance(provider, LocalGuardModel)
    loaded = provider.loaded()
    model = loaded.model
    assert loaded.vision and type(model).__name__ == "MllamaForConditionalGeneration"
    seen: list[Any] = []
    hook = model.model.vision_model.register_forward_hook(
        lambda _m, args, kwargs, _out: seen.append((args[0] if args else kwargs["pixel_values"]).shape),
        with_kwargs=True)
    store = RunStore(tmp_path / "runs.sqlite")
    images = ImageStore()
    caller = Caller(provider, spec.params(), store, images)
    judge = GuardJudge(make_guard(spec), caller, spec.view)
    coffee, knife = photo(images, "coffee"), photo(images, "camera")
    conversation = [Message.user(coffee, "hello"), Message.text("assistant", "a"),
                    Message.user(knife, "a sharp knife")]
    try:
        v, given, failed, usage = await judge.check(conversation)
        assert (v.verdict, v.raw, failed) == (verdict, word, False), v.error
        assert given.images == (coffee.sha256,)  # Llama Guard 3 Vision takes one image: the second is recorded
        assert any("image" in d for d in given.dropped)
        assert len(seen) == 1 and tuple(seen[0][-3:]) == (3, 28, 28)  # the photo's pixels went through the tower
        assert usage is not None and usage.output_tokens == 1 and (usage.input_tokens or 0) > 0
        again, _, _, _ = await judge.check(conversation)
        assert again == v and caller.calls_made == 1 and len(seen) == 1  # answered from the request cache
    finally:
        hook.remove()
        await provider.aclose()
        store.close()
