"""ShieldGemma 2 through local `transformers` on a tiny randomly initialised Gemma 3 (its architecture:
`Gemma3ForConditionalGeneration`, a SigLIP tower pooled into a fixed number of image tokens) built here from
a config, with real photos and no download: the processor, its PIL image processor, the vision tower and
the answer-token probabilities all run on CPU.

LlavaGuard 1.2 (LLaVA-OneVision) and Llama Guard 4 (Llama 4) have no such test: their processors need
torchvision (a video processor; torchvision's image transforms), whose wheels here are CUDA builds that do
not load with CPU torch. See docs/guards.md."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

import torch
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

from ctxsafe.engine.call import Caller
from ctxsafe.engine.store import RunStore
from ctxsafe.guards.judge import GuardJudge
from ctxsafe.guards.local_hf import LocalGuardModel
from ctxsafe.guards.registry import guard_provider, make_guard, parse_guard
from ctxsafe.guards.view import View, select
from ctxsafe.images import ImageStore
from ctxsafe.schema import ImagePart, Message
from tests.test_guard_local_vision import photo

TEMPLATE = ("{% for m in messages %}{{ m['role'] }} : {% for c in m['content'] %}{% if c['type'] == 'image' %}"
            "<start_of_image> {% else %}{{ c['text'] }} {% endif %}{% endfor %}{% endfor %}"
            "{% if add_generation_prompt %}assistant : {% endif %}")
WORDS = ["<pad>", "<bos>", "<eos>", "<unk>", "user", "assistant", ":", "Yes", "No", "Policy:", "gory", "sexually"]
"""A word-level vocabulary: the two policies' prompts differ in a known word each, the rest reads as <unk>."""


def tiny_gemma3(folder: Path) -> Path:
    """One text layer, a one-layer SigLIP tower on 28x28 images of 14x14 patches pooled into one image token."""
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration, Gemma3ImageProcessorPil, Gemma3Processor

    special = ["<start_of_image>", "<image_soft_token>", "<end_of_image>"]
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate([*WORDS, *special])}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", bos_token="<bos>", eos_token="<eos>",
                                   pad_token="<pad>",
                                   extra_special_tokens={"boi_token": special[0], "image_token": special[1],
                                                         "eoi_token": special[2]})
    fast.add_special_tokens({"additional_special_tokens": special})
    processor = Gemma3Processor(image_processor=Gemma3ImageProcessorPil(size={"height": 28, "width": 28}),
                                tokenizer=fast, image_seq_length=1, chat_template=TEMPLATE)
    ids = fast.get_vocab()
    cfg = Gemma3Config(
        vision_config={"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
                       "image_size": 28, "patch_size": 14},
        text_config={"vocab_size": len(ids), "hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1,
                     "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 8, "sliding_window": 64,
                     "max_position_embeddings": 256, "eos_token_id": ids["<eos>"], "pad_token_id": ids["<pad>"],
                     "bos_token_id": ids["<bos>"]},
        mm_tokens_per_image=1, boi_token_index=ids["<start_of_image>"], eoi_token_index=ids["<end_of_image>"],
        image_token_index=ids["<image_soft_token>"])
    torch.manual_seed(0)
    model = Gemma3ForConditionalGeneration(cfg)
    with torch.no_grad():  # initialised to zeros (images would not matter): random, so each photo counts
        model.model.multi_modal_projector.mm_input_projection_weight.normal_(0.0, 1.0)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def direct_p_yes(folder: Path, request: tuple[Message, ...], images: ImageStore) -> float:
    """P(Yes) computed here, outside ctxsafe: the processor's chat template and the model's last logits."""
    from PIL import Image
    from transformers import AutoModelForImageTextToText, AutoProcessor

    processor = AutoProcessor.from_pretrained(folder)
    model = AutoModelForImageTextToText.from_pretrained(folder)
    chat = [{"role": m.role, "content": [{"type": "image"} if isinstance(p, ImagePart) else
                                         {"type": "text", "text": p.text} for p in m.parts]} for m in request]
    text = processor.apply_chat_template(chat, add_generation_prompt=True)
    pictures = [Image.open(io.BytesIO(images.bytes_of(p))).convert("RGB") for m in request for p in m.images()]
    inputs = processor(text=text, images=pictures, return_tensors="pt")
    with torch.no_grad():
        logits = model(**inputs).logits[0, -1]
    yes, no = (processor.tokenizer.convert_tokens_to_ids(t) for t in ("Yes", "No"))
    return float(torch.softmax(logits[[yes, no]].float(), dim=-1)[0])


async def test_shieldgemma_2_rates_each_photo_per_policy_on_a_tiny_gemma3(tmp_path: Path) -> None:
    folder = tiny_gemma3(tmp_path / "tiny-gemma3")
    images = ImageStore()
    coffee, camera = photo(images, "coffee"), photo(images, "camera")
    conversation = [Message.user(coffee, "hello"), Message.text("assistant", "a"), Message.user(camera, "and this")]
    guard = make_guard(parse_guard(f"shieldgemma-2=hf:{folder};view=all;policies=violence,sexual"))
    requests = guard.prepare(select(conversation, View("all"), "prompt")).requests
    assert len(requests) == 4  # two photos x two policies, one question each
    probs = [direct_p_yes(folder, r, images) for r in requests]
    assert len({round(p, 6) for p in probs}) == 4  # each (photo, policy) question gets its own probability
    # A threshold between the smallest and largest probability: some questions fire, some do not.
    threshold = sorted(probs)[1] + (sorted(probs)[2] - sorted(probs)[1]) / 2
    spec = parse_guard(f"shieldgemma-2=hf:{folder};view=all;policies=violence,sexual;threshold={threshold}")
    provider = guard_provider(spec)
    assert isinstance(provider, LocalGuardModel)
    loaded = provider.loaded()
    assert loaded.vision and type(loaded.model).__name__ == "Gemma3ForConditionalGeneration"
    seen: list[Any] = []
    hook = loaded.model.model.vision_tower.register_forward_hook(
        lambda _m, args, kwargs, _out: seen.append((args[0] if args else kwargs["pixel_values"]).shape),
        with_kwargs=True)
    store = RunStore(tmp_path / "runs.sqlite")
    caller = Caller(provider, spec.params(), store, images)
    judge = GuardJudge(make_guard(spec), caller, spec.view)
    try:
        v, given, failed, usage = await judge.check(conversation)
        assert not failed and v.verdict == "unsafe", v.error
        answers = [json.loads(part) for part in v.raw.split("\n---\n")]
        assert [a["Yes"] for a in answers] == pytest.approx(probs, abs=1e-5)
        fired = {("violence", "sexual")[i % 2] for i, p in enumerate(probs) if p >= threshold}
        assert set(v.codes) == fired and v.score == pytest.approx(max(probs), abs=1e-5)
        assert given.images == (coffee.sha256, camera.sha256)
        assert any("text" in d or "conversation" in d for d in (*given.dropped, *given.notes))  # text not taken
        assert len(seen) == 4 and all(tuple(s[-3:]) == (3, 28, 28) for s in seen)
        assert usage is not None and usage.output_tokens == 0 and (usage.input_tokens or 0) > 0
        again, _, _, _ = await judge.check(conversation)
        assert again == v and caller.calls_made == 4 and len(seen) == 4  # answered from the request cache
    finally:
        hook.remove()
        await provider.aclose()
        store.close()
