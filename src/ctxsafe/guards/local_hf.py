"""A guard served by local `transformers` (optional: `pip install 'ctxsafe[local]'`).

The model's own chat template (from its tokenizer or processor) builds the guard prompt, as the guard
authors document; loading, batching and greedy decoding are the local models' (`providers/local_hf.py`).
Guards scored by answer-token probabilities (ShieldGemma 2) read the first token's logits instead.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from ctxsafe.errors import ConfigError
from ctxsafe.images import ImageStore
from ctxsafe.providers.base import Completion, GenParams, ProviderError
from ctxsafe.providers.local_hf import LocalHF, LocalSource
from ctxsafe.schema import Message, Usage


class LocalGuardModel(LocalHF):
    """A causal LM (text guards) or image-text-to-text model (vision guards) loaded from a local folder."""

    def __init__(self, path: Path, answer_tokens: tuple[str, str] | None = None) -> None:
        """`answer_tokens` (e.g. ("Yes", "No")): instead of generating, answer with the probabilities of these two
        tokens as the first answer token, as JSON (`{"Yes": p, "No": 1 - p}`), for guards scored that way."""
        if not path.is_dir():
            raise ConfigError(f"no local model folder at {path}")
        # Probabilities are read one conversation at a time; generated verdicts are batched.
        super().__init__(LocalSource(str(path.resolve())), name=f"hf:{path.name}",
                         max_batch=1 if answer_tokens else 8)
        self.path = path
        self.answer_tokens = answer_tokens
        if answer_tokens is not None:
            self.identity += f"|p({answer_tokens[0]} vs {answer_tokens[1]})"

    def _answer_probs(self, messages: list[Message], images: ImageStore) -> Completion:
        import torch

        assert self.answer_tokens is not None
        loaded = self.loaded()
        tokenizer = loaded.tokenizer
        ids = [tokenizer.convert_tokens_to_ids(t) for t in self.answer_tokens]
        if any(i is None or i == tokenizer.unk_token_id for i in ids):
            raise ProviderError(f"the tokenizer has no single token for {self.answer_tokens}", retryable=False)
        inputs = self.inputs(loaded, [messages], images)
        with torch.no_grad():
            logits = loaded.model(**inputs).logits[0, -1]
        p = torch.softmax(logits[ids].float(), dim=-1).tolist()
        text = json.dumps({self.answer_tokens[0]: p[0], self.answer_tokens[1]: p[1]})
        return Completion(text=text, finish_reason="stop",
                          usage=Usage(input_tokens=int(inputs["input_ids"].shape[-1]), output_tokens=0))

    async def complete(self, messages: list[Message], params: GenParams, images: ImageStore) -> Completion:
        if self.answer_tokens is None:
            return await super().complete(messages, params, images)
        try:
            return await asyncio.to_thread(self._answer_probs, messages, images)
        except ProviderError:
            raise
        except Exception as exc:  # a template, tokenizer or model failure is this call's explicit error
            raise ProviderError(f"local model {self.path.name} failed: {type(exc).__name__}: {exc}",
                                retryable=False) from None
