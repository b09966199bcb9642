"""Models run in-process by `transformers` (optional: `pip install 'ctxsafe[local]'`), shared by `hf:` models
under test and local guards.

Image-text-to-text models go through their own processor and chat template, text-only causal LMs through
their tokenizer's chat template (a GGUF file is dequantized by transformers). Requests that arrive together
are generated as one left-padded batch in a worker thread, so the event loop keeps going and a CPU or GPU
is used well. Decoding is greedy unless the run sets a temperature.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import threading
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ctxsafe.errors import ConfigError
from ctxsafe.images import ImageStore
from ctxsafe.providers.base import Completion, GenParams, ProviderError
from ctxsafe.providers.capabilities import TEXT_ONLY, Capabilities
from ctxsafe.schema import ImagePart, Message, Usage

DEFAULT_MAX_NEW_TOKENS = 512
"""Output cap when a run sets no --max-tokens (recorded as `length` when reached, never silently)."""
BATCH_WINDOW_S = 0.02
"""How long the first request of a batch waits for others; later batches fill while the model is busy."""


def require_local() -> None:
    """Fail with the install line when the optional extra is missing."""
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError:
        raise ConfigError("local models need torch and transformers: pip install 'ctxsafe[local]'") from None


def resolve_device(device: str | None) -> str:
    """`None`/`auto`: the first GPU when torch sees one, else the CPU."""
    import torch

    if device in (None, "", "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


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


def gguf_chat_template(path: Path) -> str | None:
    """The chat template a GGUF file carries in its metadata (base models carry none)."""
    from gguf import GGUFReader

    found = GGUFReader(path).fields.get("tokenizer.chat_template")
    return str(found.contents()) if found is not None else None


@dataclass(frozen=True)
class LocalSource:
    """Where the weights are: a folder or hub id, or a GGUF file (its folder plus its name), and the chat
    template when the model's own files carry none."""

    ref: str
    gguf_file: str | None = None
    chat_template: str | None = None

    @classmethod
    def parse(cls, spec: str, *, gguf: bool = False, chat_template: str | None = None) -> LocalSource:
        path = Path(spec).expanduser()
        if not gguf:
            return cls(str(path.resolve()) if path.exists() else spec, None, chat_template)
        if not path.is_file():
            raise ConfigError(f"no GGUF file at {spec}")
        try:
            template = chat_template or gguf_chat_template(path)
        except ImportError:
            raise ConfigError("GGUF models need the gguf package: pip install 'ctxsafe[gguf]'") from None
        except Exception as exc:  # not a GGUF file, or a damaged one
            raise ConfigError(f"cannot read the GGUF file {spec}: {exc}") from None
        if template is None:
            raise ConfigError(f"the GGUF file {spec} carries no chat template (a base model?); give one with "
                              "--chat-template FILE")
        return cls(str(path.resolve().parent), path.name, template)

    @property
    def is_local(self) -> bool:
        return Path(self.ref).is_dir()

    def describe(self) -> str:
        return str(Path(self.ref) / self.gguf_file) if self.gguf_file else self.ref

    def kwargs(self) -> dict[str, Any]:
        return {"gguf_file": self.gguf_file} if self.gguf_file else {}


@dataclass(frozen=True)
class LoadedModel:
    model: Any
    processor: Any
    """The processor (vision models) or the tokenizer (text models): whatever renders the chat template."""
    tokenizer: Any
    vision: bool
    device: str
    eos_ids: frozenset[int] = field(default_factory=frozenset)


def is_vision(source: LocalSource) -> bool:
    """Whether the model reads images: its config carries a vision tower (read before any weight is loaded).
    transformers reads only text architectures from GGUF files."""
    if source.gguf_file is not None:
        return False
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(source.ref, **source.kwargs())
    return hasattr(config, "vision_config")


def load_model(source: LocalSource, device: str) -> LoadedModel:
    """Load weights and processor/tokenizer once, padded on the left for batched generation."""
    from transformers import AutoModelForCausalLM, AutoModelForImageTextToText, AutoProcessor, AutoTokenizer

    vision = is_vision(source)
    model: Any
    if vision:
        processor = AutoProcessor.from_pretrained(source.ref)  # type: ignore[no-untyped-call,unused-ignore]
        model = AutoModelForImageTextToText.from_pretrained(source.ref, dtype="auto")
        tokenizer = processor.tokenizer
    else:
        processor = tokenizer = AutoTokenizer.from_pretrained(source.ref, **source.kwargs())
        model = AutoModelForCausalLM.from_pretrained(source.ref, dtype="auto", **source.kwargs())
    if source.chat_template is not None:
        processor.chat_template = source.chat_template
    tokenizer.padding_side = "left"
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.to(device)
    model.eval()  # type: ignore[no-untyped-call,unused-ignore]
    eos = model.generation_config.eos_token_id
    eos_ids = {*(eos if isinstance(eos, list) else [eos] if eos is not None else []), tokenizer.eos_token_id}
    return LoadedModel(model, processor, tokenizer, vision, device, frozenset(i for i in eos_ids if i is not None))


def decoding(params: GenParams) -> dict[str, Any]:
    """GenParams -> `generate` keywords: greedy unless a temperature above zero asks for sampling."""
    if params.response_format is not None:
        raise ProviderError("local models cannot enforce response_format (structured output)", retryable=False)
    kw: dict[str, Any] = {"max_new_tokens": params.max_tokens or DEFAULT_MAX_NEW_TOKENS}
    if params.temperature:
        kw.update(do_sample=True, temperature=params.temperature)
        if params.top_p is not None:
            kw["top_p"] = params.top_p
    else:
        kw.update(do_sample=False, temperature=None, top_p=None, top_k=None)
    return kw


@dataclass
class _Request:
    messages: list[Message]
    params: GenParams
    images: ImageStore
    future: asyncio.Future[Completion]


class LocalHF:
    """A local transformers model behind the provider protocol, batching the requests that arrive together."""

    is_reference = False

    def __init__(self, source: LocalSource, *, name: str, device: str | None = None, max_batch: int = 8,
                 window_s: float = BATCH_WINDOW_S, capabilities: Capabilities | None = None) -> None:
        require_local()
        if max_batch < 1:
            raise ConfigError(f"batch size must be at least 1, got {max_batch}")
        self.source = source
        self.name = name
        self.identity = f"hf-local|{source.describe()}"
        if source.chat_template is not None:  # the template is part of every prompt
            self.identity += f"|template:{hashlib.sha256(source.chat_template.encode()).hexdigest()[:16]}"
        self.max_concurrency = max_batch
        self.max_batch = max_batch
        self.window_s = window_s
        self.device = device
        self._declared = capabilities
        self._caps: Capabilities | None = None
        self._load_lock = threading.Lock()
        self._loaded: LoadedModel | None = None
        self._pending: deque[_Request] = deque()
        self._turn = asyncio.Lock()
        self._arrived = asyncio.Event()
        self.batch_sizes: list[int] = []
        """Requests per `generate` call, in order: how well batching worked."""

    @property
    def capabilities(self) -> Capabilities:
        """Images when the config has a vision tower (read from config.json, no weights loaded)."""
        if self._caps is None:
            try:
                vision = is_vision(self.source)
            except Exception as exc:  # a missing folder or unknown architecture, said once before the run
                raise ConfigError(f"cannot read the model config of {self.source.describe()}: {exc}") from None
            self._caps = self._declared or (Capabilities() if vision else TEXT_ONLY)
        return self._caps

    def loaded(self) -> LoadedModel:
        with self._load_lock:
            if self._loaded is None:
                self._loaded = load_model(self.source, resolve_device(self.device))
            return self._loaded

    async def complete(self, messages: list[Message], params: GenParams, images: ImageStore) -> Completion:
        request = _Request(messages, params, images, asyncio.get_running_loop().create_future())
        self._pending.append(request)
        self._arrived.set()
        try:
            while not request.future.done():
                async with self._turn:  # one batch at a time on the model; whoever holds the turn serves the head
                    if request.future.done():
                        break
                    await self._gather_window()
                    batch = self._take()
                    if batch:
                        await self._serve(batch)
        except asyncio.CancelledError:
            request.future.cancel()  # nobody waits for it: it is not generated
            raise
        return request.future.result()

    async def _gather_window(self) -> None:
        """Wait until a full batch is waiting or the window has passed since the turn began."""
        deadline = asyncio.get_running_loop().time() + self.window_s
        while len(self._pending) < self.max_batch:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                return
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except TimeoutError:
                return

    def _take(self) -> list[_Request]:
        """The oldest waiting requests with the head's decoding settings, up to a batch."""
        live = [r for r in self._pending if not r.future.done()]
        batch = [r for r in live if r.params == live[0].params][:self.max_batch] if live else []
        taken = {id(r) for r in batch}
        self._pending = deque(r for r in live if id(r) not in taken)
        return batch

    async def _serve(self, batch: list[_Request]) -> None:
        try:
            results = await asyncio.to_thread(self._generate_safely, batch)
        except BaseException:  # cancelled while the model ran: the others go back to the head of the queue
            self._pending.extendleft(reversed([r for r in batch if not r.future.done()]))
            raise
        for request, result in zip(batch, results, strict=True):
            if request.future.done():
                continue
            if isinstance(result, ProviderError):
                request.future.set_exception(result)
            else:
                request.future.set_result(result)

    def _generate_safely(self, batch: list[_Request]) -> list[Completion | ProviderError]:
        try:
            return list(self.generate([r.messages for r in batch], batch[0].params, batch[0].images))
        except ProviderError as exc:
            return [exc] * len(batch)
        except Exception as exc:  # a template, tokenizer or model failure is each call's explicit error
            err = ProviderError(f"local model {self.name} failed: {type(exc).__name__}: {exc}", retryable=False)
            return [err] * len(batch)

    def inputs(self, loaded: LoadedModel, conversations: list[list[Message]], images: ImageStore) -> Any:
        """Tokenized, left-padded inputs (and pixel values) of several conversations, on the model's device."""
        from PIL import Image

        chats = [chat_of(msgs, structured=loaded.vision) for msgs in conversations]
        texts = [loaded.processor.apply_chat_template(chat, add_generation_prompt=True, tokenize=False)
                 for chat in chats]
        if not loaded.vision:
            if any(m.images() for msgs in conversations for m in msgs):
                raise ProviderError(f"local model {self.name} is a text model and was sent an image",
                                    retryable=False)
            batch = loaded.tokenizer(texts, padding=True, add_special_tokens=False, return_tensors="pt")
        else:
            pixels = [[Image.open(io.BytesIO(images.bytes_of(p))).convert("RGB") for m in msgs for p in m.images()]
                      for msgs in conversations]
            batch = loaded.processor(text=texts, images=pixels if any(pixels) else None, padding=True,
                                     add_special_tokens=False, return_tensors="pt")
        return batch.to(loaded.device)

    def generate(self, conversations: list[list[Message]], params: GenParams,
                 images: ImageStore) -> list[Completion]:
        """One `generate` call over the conversations; each reply with its own usage and finish reason."""
        import torch

        loaded = self.loaded()
        kw = decoding(params)
        inputs = self.inputs(loaded, conversations, images)
        width = int(inputs["input_ids"].shape[-1])
        with torch.no_grad():
            if params.seed is not None:
                torch.manual_seed(params.seed)
            out = loaded.model.generate(**inputs, **kw, pad_token_id=loaded.tokenizer.pad_token_id)
        self.batch_sizes.append(len(conversations))
        replies: list[Completion] = []
        for row, mask in zip(out, inputs["attention_mask"], strict=True):
            new = [int(t) for t in row[width:]]
            end = next((i for i, t in enumerate(new) if t in loaded.eos_ids), None)
            kept = new if end is None else new[:end + 1]
            replies.append(Completion(
                text=loaded.tokenizer.decode(kept, skip_special_tokens=True),
                finish_reason="length" if end is None else "stop",
                usage=Usage(input_tokens=int(mask.sum()), output_tokens=len(kept))))
        return replies

    async def aclose(self) -> None:
        self._loaded = None
