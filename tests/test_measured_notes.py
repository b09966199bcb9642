"""The line every report prints beside a judged metric: the judge's measured agreement, or "not measured"."""

from __future__ import annotations

import pytest

from ctxsafe.judges.measured import judge_note, measured


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
