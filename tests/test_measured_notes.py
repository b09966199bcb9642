"""The line every report prints beside a judged metric: the judge's measured agreement, or "not measured"."""

from __future__ import annotations

import pytest

from ctxsafe.judges.measured import annotators, judge_note, measured


@pytest.mark.parametrize("judge_id", sorted(measured()))
def test_measured_judge_quotes_its_figure(judge_id: str) -> None:
    entry = measured()[judge_id]
    note = judge_note(judge_id, entry.get("prompt_version"))
    assert note.startswith(f"judge {judge_id}: {entry['metric']} {entry['value']:.2f} [")
    assert f"on {entry['n']} frozen test labels" in note and entry["use"] in note


@pytest.mark.parametrize("judge_id", ["siuo:offline-learned", "vlsbench:openai:gpt-4o", "mss4:openai:gpt-4o"])
def test_unmeasured_judge_says_so(judge_id: str) -> None:
    note = judge_note(judge_id, "v1")
    assert note.startswith(f"judge {judge_id}: not measured")


def test_other_prompt_version_is_not_credited_with_the_figure() -> None:
    """A re-fitted or re-prompted judge is a different judge until it is measured again."""
    assert "not measured" in judge_note("mss4:offline-embed", "learned-v9-other/00000000")


@pytest.mark.parametrize("judge_id", sorted(measured()))
def test_a_measured_judge_is_quoted_beside_two_annotators_on_the_same_records(judge_id: str) -> None:
    """A judge's kappa reads differently when two people agree at 0.96 than at 0.70: the note says which."""
    two = annotators()[judge_id.split(":")[0]]
    note = judge_note(judge_id, measured()[judge_id].get("prompt_version"))
    assert note.endswith(f"two annotators agree at {two['metric']} {two['value']:.2f} on the same {two['n']} "
                         "test labels")
    assert two["n"] == measured()[judge_id]["n"]  # the same frozen test records, relabelled blind


@pytest.mark.parametrize(("judge_id", "resource"), [("mss4:offline-learned", "mss4_learned.json"),
                                                    ("mss4:offline-embed", "mss4_learned_embed.json"),
                                                    ("mss4:offline-lm", "mss4_learned_lm.json")])
def test_the_figure_quoted_for_a_learned_judge_is_that_of_its_shipped_weights(judge_id: str, resource: str) -> None:
    """Refitted weights without a new read would be quoted as "not measured", silently: this fails first instead."""
    from ctxsafe.judges.learned import shipped_model

    assert measured()[judge_id]["prompt_version"] == shipped_model(resource).judge_version
