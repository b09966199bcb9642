"""A guard served by local `transformers` (optional: `pip install 'ctxsafe[local]'`).

The model's own chat template (from its tokenizer or processor) builds the guard prompt, as the guard
authors document; decoding is greedy and runs in a worker thread so the event loop keeps going.
"""

from __future__ import annotations

import asyncio
import io
import json
import threading
from pathlib import Path
from typing import Any

from ctxsafe.errors import ConfigError
from ctxsafe.images import ImageStore
from ctxsafe.providers.base import Completion, GenParams, ProviderError
from ctxsafe.schema import ImagePart, Message, Usage


def chat_of(messages: list[Message], *, structured: bool) -> list[dict[str, Any]]:
    """Messages in the shape chat templates read: typed content lists for processors, strings for tokenizers."""
    out: list[dict[str, Any]] = []
    for m in messages:
        if structured:
            content: Any = [{"type": "image"} if isinstance(p, ImagePart) else {"type": "text", "text": p.text}
                            for p in m.parts]
        else:
            content = m.text_content()
        out.append({"role": m.role, "content": content})
    return out


class LocalGuardModel:
    """A causal LM (text guards) or image-text-to-text model (vision guards) loaded from a local folder."""

    is_reference = False
    max_concurrency = 1

    def __init__(self, path: Path, answer_tokens: tuple[str, str] | None = None) -> None:
        """`answer_tokens` (e.g. ("Yes", "No")): instead of generating, answer with the probabilities of these two
        tokens as the first answer token, as JSON (`{"Yes": p, "No": 1 - p}`), for guards scored that way."""
        try:
            import torch  # noqa: F401
            import transformers  # noqa: F401
        except ImportError:
            raise ConfigError("local guards need torch and transformers: pip install 'ctxsafe[local]'") from None
        if not path.is_dir():
            raise ConfigError(f"no local model folder at {path}")
        self.path = path
        self.name = f"hf:{path.name}"
        self.answer_tokens = answer_tokens
        mode = "" if answer_tokens is None else f"|p({answer_tokens[0]} vs {answer_tokens[1]})"
        self.identity = f"hf-local|{path.resolve()}{mode}"
        self._lock = threading.Lock()
        self._loaded: tuple[Any, Any, bool] | None = None

    def _load(self) -> tuple[Any, Any, bool]:
        from transformers import (
            AutoConfig,
            AutoModelForCausalLM,
            AutoModelForImageTextToText,
            AutoProcessor,
            AutoTokenizer,
        )

        with self._lock:
            if self._loaded is None:
                config = AutoConfig.from_pretrained(self.path)
                vision = hasattr(config, "vision_config")
                if vision:
                    proc = AutoProcessor.from_pretrained(self.path)  # type: ignore[no-untyped-call,unused-ignore]
                    model = AutoModelForImageTextToText.from_pretrained(self.path)
                else:
                    proc = AutoTokenizer.from_pretrained(self.path)
                    model = AutoModelForCausalLM.from_pretrained(self.path)
                model.eval()  # type: ignore[no-untyped-call,unused-ignore]
                self._loaded = (proc, model, vision)
            return self._loaded

    def _generate(self, messages: list[Message], params: GenParams, images: ImageStore) -> Completion:
        import torch
        from PIL import Image

        proc, model, vision = self._load()
        chat = chat_of(messages, structured=vision)
        if vision:
            pixels = [Image.open(io.BytesIO(images.bytes_of(p))).convert("RGB")
                      for m in messages for p in m.parts if isinstance(p, ImagePart)]
            prompt = proc.apply_chat_template(chat, add_generation_prompt=True, tokenize=False)
            inputs = proc(text=prompt, images=pixels or None, return_tensors="pt")
            tokenizer = proc.tokenizer
        else:
            if any(m.images() for m in messages):
                raise ProviderError("this local guard is a text model and was sent an image", retryable=False)
            inputs = proc.apply_chat_template(chat, add_generation_prompt=True, return_tensors="pt",
                                              return_dict=True)
            tokenizer = proc
        n_in = int(inputs["input_ids"].shape[-1])
        if self.answer_tokens is not None:
            return self._answer_probs(model, tokenizer, inputs, n_in)
        with torch.no_grad():
            out = model.generate(**inputs, do_sample=False, max_new_tokens=params.max_tokens or 64,
                                 pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id)
        new = out[0][n_in:]
        text = tokenizer.decode(new, skip_special_tokens=True)
        ended = bool(len(new)) and int(new[-1]) == tokenizer.eos_token_id
        return Completion(text=text, finish_reason="stop" if ended else "length",
                          usage=Usage(input_tokens=n_in, output_tokens=len(new)))

    def _answer_probs(self, model: Any, tokenizer: Any, inputs: Any, n_in: int) -> Completion:
        import torch

        assert self.answer_tokens is not None
        ids = [tokenizer.convert_tokens_to_ids(t) for t in self.answer_tokens]
        if any(i is None or i == tokenizer.unk_token_id for i in ids):
            raise ProviderError(f"the tokenizer has no single token for {self.answer_tokens}", retryable=False)
        with torch.no_grad():
            logits = model(**inputs).logits[0, -1]
        p = torch.softmax(logits[ids].float(), dim=-1).tolist()
        text = json.dumps({self.answer_tokens[0]: p[0], self.answer_tokens[1]: p[1]})
        return Completion(text=text, finish_reason="stop", usage=Usage(input_tokens=n_in, output_tokens=0))

    async def complete(self, messages: list[Message], params: GenParams, images: ImageStore) -> Completion:
        try:
            return await asyncio.to_thread(self._generate, messages, params, images)
        except ProviderError:
            raise
        except Exception as exc:  # a template, tokenizer or model failure is this call's explicit error
            raise ProviderError(f"local model {self.path.name} failed: {type(exc).__name__}: {exc}",
                                retryable=False) from None

    async def aclose(self) -> None:
        self._loaded = None
