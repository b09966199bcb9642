"""Tiny randomly initialised transformers models built here from configs, saved to a folder and loaded by
path like any local model: the real chat-template, processor and image path runs with no download."""

from __future__ import annotations

from pathlib import Path

import torch
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import (
    CLIPImageProcessor,
    CLIPVisionConfig,
    LlamaConfig,
    LlavaConfig,
    LlavaForConditionalGeneration,
    LlavaProcessor,
    PreTrainedTokenizerFast,
    Qwen3Config,
    Qwen3ForCausalLM,
)

# A chat template of our own: typed content lists (processors) or plain strings (tokenizers).
TEMPLATE = ("{% for m in messages %}{{ m['role'] }} :{% if m['content'] is string %} {{ m['content'] }}"
            "{% else %}{% for c in m['content'] %}{% if c['type'] == 'image' %} <image>{% else %} {{ c['text'] }}"
            "{% endif %}{% endfor %}{% endif %} <eos> {% endfor %}{% if add_generation_prompt %}assistant :{% endif %}")
WORDS = ["<pad>", "<eos>", "<unk>", "<image>", "user", "assistant", "system", ":", "hello", "knife", "a", "sharp",
         "safe", "photo", "is", "this", "what", "the", "kitchen", "street"]
IMAGE_SIDE, PATCH = 16, 8
IMAGE_TOKENS = (IMAGE_SIDE // PATCH) ** 2


def word_tokenizer(words: list[str], pad: str = "<pad>") -> PreTrainedTokenizerFast:
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<eos>", unk_token="<unk>", pad_token=pad,
                                   extra_special_tokens={"image_token": "<image>"} if "<image>" in words else {})
    fast.chat_template = TEMPLATE
    return fast


def tiny_llava(folder: Path, *, constant: str | None = None, seed: int = 0) -> Path:
    """A one-layer LLaVA (CLIP vision tower, Llama text model) with its processor. With `constant`, the
    text model's final norm is zeroed: every logit is equal and greedy decoding always picks token 0,
    which is then `constant`."""
    words = list(WORDS)
    if constant is not None:
        words.remove(constant)
        words.insert(0, constant)
    pad = "<pad>" if constant != "<eos>" else "<unk>"
    fast = word_tokenizer(words, pad)
    image_proc = CLIPImageProcessor(size={"shortest_edge": IMAGE_SIDE},
                                    crop_size={"height": IMAGE_SIDE, "width": IMAGE_SIDE})
    processor = LlavaProcessor(image_processor=image_proc, tokenizer=fast, patch_size=PATCH,
                               vision_feature_select_strategy="default", chat_template=TEMPLATE,
                               num_additional_image_tokens=1)
    vision = CLIPVisionConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                              image_size=IMAGE_SIDE, patch_size=PATCH, projection_dim=16)
    text = LlamaConfig(vocab_size=len(words), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                       num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=512,
                       eos_token_id=words.index("<eos>"), pad_token_id=words.index(pad), bos_token_id=None)
    cfg = LlavaConfig(vision_config=vision, text_config=text, image_token_id=words.index("<image>"),
                      vision_feature_select_strategy="default", vision_feature_layer=-1)
    torch.manual_seed(seed)
    model = LlavaForConditionalGeneration(cfg)
    if constant is not None:
        with torch.no_grad():
            model.model.language_model.norm.weight.zero_()
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def tiny_text_lm(folder: Path, *, seed: int = 0) -> Path:
    """A one-layer Qwen3 causal LM with a word-level tokenizer and the chat template above."""
    fast = word_tokenizer([w for w in WORDS if w != "<image>"])
    cfg = Qwen3Config(vocab_size=len(fast), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                      num_attention_heads=2, num_key_value_heads=1, head_dim=8, max_position_embeddings=512,
                      eos_token_id=fast.eos_token_id, pad_token_id=fast.pad_token_id, bos_token_id=None,
                      tie_word_embeddings=False)
    torch.manual_seed(seed)
    Qwen3ForCausalLM(cfg).save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder
