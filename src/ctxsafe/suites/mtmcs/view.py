"""What `ctxsafe show` prints for an MTMCS dialogue after its turns: the intent-recognition answers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ctxsafe.engine.rollout import probe_step
from ctxsafe.inert import inert_text
from ctxsafe.schema import Case, TurnRecord
from ctxsafe.suites.mtmcs.metrics import probe_answer

if TYPE_CHECKING:  # rich loads when `ctxsafe show` prints, not when the suite is imported (issue 12)
    from rich.console import RenderableType


def intent_answers(case: Case, turns: dict[tuple[str, str], TurnRecord]) -> list[RenderableType]:
    """Each question, its options, the gold answer, the model's answer and how it was read."""
    from rich.text import Text

    if not case.probes:
        return []
    out: list[RenderableType] = [Text("Intent recognition", style="bold")]
    for probe in case.probes:
        rec = turns.get((case.id, probe_step(probe)))
        answered = ""
        if rec is None:
            verdict = "(not asked)"
        elif rec.outcome != "ok":
            verdict = f"[{rec.outcome}: {rec.error or ''}]"
        else:
            got = probe_answer(probe, rec.response)
            verdict = "UNPARSEABLE (counts as wrong)" if got is None else (
                "correct" if got == probe.gold else f"wrong (read as {got})")
            answered = f" answered {(rec.response or '').strip()[:80]!r}"
        options = "  ".join(f"{chr(65 + k)}. {o}" for k, o in enumerate(probe.options))
        out.append(inert_text(f"  {probe.id} [{probe.meta.get('question_type', probe.kind)}] "
                        f"{probe.meta.get('question', '')}"))
        if options:
            out.append(inert_text(f"    {options}", style="dim"))
        out.append(inert_text(f"    gold {probe.gold};{answered} -> {verdict}"))
    return out
