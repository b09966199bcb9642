"""Local transformers models under test (`hf:FOLDER`), on tiny randomly initialised models built from configs
(tests/hf_helpers.py): the processor, chat template, image path, left-padded batching and decoding all run,
offline, on CPU."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from typer.testing import CliRunner

from ctxsafe.cli import app
from ctxsafe.engine.call import Caller
from ctxsafe.engine.store import RunStore
from ctxsafe.errors import ConfigError
from ctxsafe.images import ImageStore
from ctxsafe.providers.base import Completion, GenParams, ProviderError
from ctxsafe.providers.capabilities import TEXT_ONLY, capabilities_of, check_cases
from ctxsafe.providers.local_hf import LocalHF, decoding
from ctxsafe.providers.registry import Endpoint, make_provider
from ctxsafe.schema import Case, Message, Usage
from tests.guard_helpers import image
from tests.hf_helpers import IMAGE_SIDE, IMAGE_TOKENS, tiny_llava, tiny_text_lm


def local(spec: str, **endpoint: Any) -> LocalHF:
    provider = make_provider(spec, Endpoint(device="cpu", **endpoint))
    assert isinstance(provider, LocalHF)
    return provider


def conversations(images: ImageStore) -> list[list[Message]]:
    """Five different conversations: images in first and later user turns, a system prompt, an assistant turn,
    and one without any image (it shares the batch with the others)."""
    return [
        [Message.user(image(images, (200, 0, 0), "red"), "what is this")],
        [Message.user(image(images, (0, 0, 200), "blue"), "hello")],
        [Message.user("a sharp knife")],
        [Message.user(image(images, (0, 200, 0), "green"), "hello"), Message.text("assistant", "safe"),
         Message.user(image(images, (90, 90, 90), "grey"), "is this a kitchen")],
        [Message.text("system", "safe"), Message.user(image(images, (9, 9, 9), "dark"), "what")],
    ]


async def test_the_image_reaches_the_vision_tower_and_usage_counts_image_tokens(tmp_path: Path) -> None:
    provider = local(f"hf:{tiny_llava(tmp_path / 'vlm', constant='safe')}")
    assert capabilities_of(provider).images
    images = ImageStore()
    seen: list[tuple[int, ...]] = []
    vision = provider.loaded().model.model.vision_tower
    vision.register_forward_pre_hook(lambda _m, args, kwargs: seen.append(tuple((args or [kwargs["pixel_values"]])[0]
                                                                                .shape)), with_kwargs=True)
    params = GenParams(max_tokens=3)
    with_image = await provider.complete([Message.user(image(images, (200, 0, 0), "red"), "what is this")], params,
                                         images)
    text = await provider.complete([Message.user("what is this")], params, images)
    assert seen == [(1, 3, IMAGE_SIDE, IMAGE_SIDE)]  # one image, resized by the model's own processor
    # "user : what is this <eos> assistant :" is 8 tokens; the processor expands <image> to the patch count
    assert text == Completion("safe safe safe", "length", Usage(input_tokens=8, output_tokens=3))
    assert with_image == Completion("safe safe safe", "length", Usage(input_tokens=8 + IMAGE_TOKENS, output_tokens=3))


async def test_an_end_of_sequence_token_is_a_stop(tmp_path: Path) -> None:
    provider = local(f"hf:{tiny_llava(tmp_path / 'vlm', constant='<eos>')}")
    out = await provider.complete([Message.user("hello")], GenParams(max_tokens=5), ImageStore())
    assert out == Completion("", "stop", Usage(input_tokens=6, output_tokens=1))


async def test_requests_that_arrive_together_are_one_generate_with_the_same_replies(tmp_path: Path) -> None:
    provider = local(f"hf:{tiny_llava(tmp_path / 'vlm')}", concurrency=8)
    images = ImageStore()
    convs = conversations(images)
    params = GenParams(max_tokens=6)
    alone = [await provider.complete(c, params, images) for c in convs]
    together = await asyncio.gather(*(provider.complete(c, params, images) for c in convs))
    assert provider.batch_sizes == [1, 1, 1, 1, 1, 5]
    assert together == alone  # left padding and attention masks: batching changes no reply
    assert len({c.text for c in alone}) > 1 and len({c.usage.input_tokens for c in alone}) == 5


async def test_batches_respect_the_size_and_group_by_decoding_settings(tmp_path: Path) -> None:
    provider = local(f"hf:{tiny_llava(tmp_path / 'vlm')}", concurrency=2)
    images = ImageStore()
    convs = conversations(images)
    await asyncio.gather(*(provider.complete(c, GenParams(max_tokens=2), images) for c in convs))
    assert provider.batch_sizes == [2, 2, 1]
    provider.batch_sizes.clear()
    short, long = GenParams(max_tokens=1), GenParams(max_tokens=3)
    mixed = zip(convs[:4], [short, long] * 2, strict=True)
    outs = await asyncio.gather(*(provider.complete(c, p, images) for c, p in mixed))
    assert provider.batch_sizes == [2, 2]
    assert [o.usage.output_tokens for o in outs] == [1, 3, 1, 3]


async def test_through_the_caller_the_preflight_goes_alone_then_the_rest_batch(tmp_path: Path) -> None:
    provider = local(f"hf:{tiny_llava(tmp_path / 'vlm')}", concurrency=5)
    provider.window_s = 3.0  # the pre-flight waits this long alone; a full batch starts as soon as it is full
    images = ImageStore()
    store = RunStore(tmp_path / "runs.sqlite")
    convs = [*conversations(images), [Message.user("hello")]]
    try:
        caller = Caller(provider, GenParams(max_tokens=4), store, images, concurrency=6)
        results = await asyncio.gather(*(caller.complete(c) for c in convs))
    finally:
        store.close()
    assert provider.batch_sizes == [1, 5]
    assert all(r.outcome == "ok" and r.completion is not None and r.completion.usage.output_tokens == 4
               for r in results)


async def test_a_text_model_is_declared_text_only_and_refuses_images(tmp_path: Path) -> None:
    provider = local(f"hf:{tiny_text_lm(tmp_path / 'lm')}")
    assert capabilities_of(provider) == TEXT_ONLY
    images = ImageStore()
    case = Case(id="c1", suite="t", context="safe", pair_id="p1",
                turns=(Message.user(image(images, (1, 2, 3), "x"), "hello"),))
    with pytest.raises(ConfigError, match="cannot take case c1: the model accepts text only"):
        check_cases(provider.name, capabilities_of(provider), [case])
    out = await provider.complete([Message.text("system", "safe"), Message.user("hello")],
                                  GenParams(max_tokens=2), images)
    # "system : safe <eos> user : hello <eos> assistant :" through the tokenizer's own chat template
    assert out.finish_reason == "length" and out.usage == Usage(input_tokens=10, output_tokens=2)
    with pytest.raises(ProviderError, match="text model and was sent an image") as err:
        await provider.complete(list(case.turns), GenParams(), images)
    assert not err.value.retryable


async def test_decoding_settings_map_to_generate(tmp_path: Path) -> None:
    assert decoding(GenParams()) == {"max_new_tokens": 512, "do_sample": False, "temperature": None, "top_p": None,
                                     "top_k": None}
    assert decoding(GenParams(temperature=0.7, top_p=0.9, max_tokens=7)) == {
        "max_new_tokens": 7, "do_sample": True, "temperature": 0.7, "top_p": 0.9}
    with pytest.raises(ProviderError, match="response_format"):
        decoding(GenParams(response_format={"type": "json_object"}))
    provider = local(f"hf:{tiny_text_lm(tmp_path / 'lm')}")
    sampled = [await provider.complete([Message.user("hello")], GenParams(temperature=5.0, seed=s, max_tokens=8),
                                       ImageStore()) for s in (1, 1, 2)]
    assert sampled[0] == sampled[1]  # the seed makes sampling repeatable
    assert sampled[0].text != sampled[2].text


def test_spec_errors_are_one_clear_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no GGUF file at"):
        make_provider(f"gguf:{tmp_path / 'missing.gguf'}")
    missing = make_provider(f"hf:{tmp_path / 'nothing-here'}")
    with pytest.raises(ConfigError, match="cannot read the model config"):
        capabilities_of(missing)


def test_ctxsafe_run_mssbench_demo_on_a_local_model(tmp_path: Path) -> None:
    folder = tiny_llava(tmp_path / "vlm", constant="safe")
    store, out = tmp_path / "runs.sqlite", tmp_path / "results"
    args = ["run", "mssbench", "--data", "demo", "--model", f"hf:{folder}", "--device", "cpu", "--max-tokens", "4",
            "--store", str(store), "--out", str(out), "--limit", "4", "--concurrency", "4", "--run-id", "local"]
    res = CliRunner().invoke(app, args, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    doc = json.loads(next(out.glob("local*.json")).read_text())
    calls = doc["spend"]["roles"]["model"]["calls"]
    st = RunStore(store)
    try:
        turns = list(st.turns("local").values())
    finally:
        st.close()
    answered = [t for t in turns if t.step != "judge" and t.outcome == "ok"]
    assert len(answered) == calls > 0 and all(t.response == "safe safe safe safe" for t in answered)
    assert all(t.usage.input_tokens and t.usage.input_tokens > IMAGE_TOKENS for t in answered)
    again = CliRunner().invoke(app, args, catch_exceptions=False)  # resumed: every call is in the store
    assert again.exit_code == 0, again.output
    assert "local: total: 0 calls" in again.output
