"""`ctxsafe show`: a run's cases in full, for every suite, each pair's twins side by side.

For each case: its header, the images by path and sha256, every turn (the user's text, the model's
reply or its failure, the inner steps of a pipeline if any) and every judge's label with its
explanation. Text from models and datasets is printed as plain `Text`, never as markup.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table

from ctxsafe.engine.rollout import turn_step
from ctxsafe.guards.judge import VERDICT_JUDGE, describe
from ctxsafe.inert import inert_text
from ctxsafe.schema import Case, Judgement, TurnRecord
from ctxsafe.suites.protocol import Judgements, Suite, Turns


def turn_status(rec: TurnRecord | None) -> str:
    if rec is None:
        return "(not played)"
    if rec.outcome != "ok":
        return f"[{rec.outcome}: {rec.error or ''}]"
    return "[truncated]" if rec.truncated else ""


def served_text(j: Judgement) -> str:
    """`[served by M, fingerprint F, from the cache]` for a verdict that called a model; empty for offline ones."""
    if j.cached is None and j.served_model is None:
        return ""
    parts = [f"served by {j.served_model or 'a model the API did not name'}"]
    if j.served_fingerprint:
        parts.append(f"fingerprint {j.served_fingerprint}")
    if j.cached:
        parts.append("from the cache")
    return " [" + ", ".join(parts) + "]"


Served = Mapping[tuple[str, str], tuple[str | None, str | None]]
"""(case id, step) -> (served model, fingerprint), as `RunStore.served_steps` reads them."""


def step_served_text(rec: TurnRecord, served: Served) -> str:
    """`[served by M, fingerprint F, from the cache]` for a step whose API named the model that answered."""
    known = served.get((rec.case_id, rec.step))
    if known is None:
        return ""
    model, fingerprint = known
    parts = [f"served by {model or 'a model the API did not name'}"]
    if fingerprint:
        parts.append(f"fingerprint {fingerprint}")
    if rec.cached:
        parts.append("from the cache")
    return " [" + ", ".join(parts) + "]"


def judgement_text(j: Judgement, label_names: tuple[str, ...] | None) -> str:
    """The verdict as a reader wants it, and which model gave it; failures say so, never a default label."""
    return _verdict_text(j, label_names) + served_text(j)


def _verdict_text(j: Judgement, label_names: tuple[str, ...] | None) -> str:
    if j.outcome != "ok":
        return f"judge {j.outcome}: {j.error or ''}"
    if j.parse_status != "ok":
        return f"UNPARSEABLE judge answer ({j.error or 'no reason'}): {(j.raw or '')[:200]!r}"
    if label_names and j.label is not None and 0 <= j.label < len(label_names):
        value = f"{label_names[j.label]} ({j.label})"
    elif j.score is not None:
        value = f"{j.score:g}"
    else:
        value = str(j.label)
    return f"{value} - {j.explanation}" if j.explanation else value


def inner_steps(case: Case, step: str, turns: Turns) -> list[TurnRecord]:
    """A pipeline's sub-steps of one turn (`t2/critique`, ...), in the order they were made."""
    prefix = f"{step}/"
    return sorted((r for (cid, s), r in turns.items() if cid == case.id and s.startswith(prefix)),
                  key=lambda r: (r.index, r.step))


def case_view(suite: Suite, case: Case, turns: Turns, judgements: dict[str, Judgements],
              on_error: str = "stop", served: Served | None = None) -> RenderableType:
    """One case: header, images, each turn with its inner steps (a guard's verdict under its sub-step) and
    judge labels, then suite extras. `on_error` is a guarded run's policy for guard errors; `served` says
    which model answered each step (the model under test's and the guard's calls, as for judges)."""
    served = served or {}
    where = ", ".join(dict.fromkeys(x for x in (case.split, case.setting, case.task, case.category) if x))
    parts: list[RenderableType] = [
        inert_text(f"{case.context} twin, pair {case.pair_id}, {case.modality} ({where})", style="dim")]
    for img in case.context_images:
        parts.append(inert_text(f"image {img.source} sha256 {img.sha256} ({img.width}x{img.height}, {img.policy})",
                                style="dim"))
    if case.system:
        parts.append(inert_text(f"System: {case.system}", style="dim"))
    for i, user in enumerate(case.turns):
        step = turn_step(i)
        rec = turns.get((case.id, step))
        parts.append(inert_text(f"Turn {i + 1}", style="bold"))
        parts.append(inert_text(f"  User: {user.text_content()}"))
        for img in user.images():
            parts.append(inert_text(f"  (image {img.source} sha256 {img.sha256})", style="dim"))
        fixed = case.fixed_reply(i)
        if fixed is not None:
            parts.append(inert_text(f"  Assistant (replayed verbatim, model not asked): {fixed}"))
            continue
        for sub in inner_steps(case, step, turns):
            parts.append(inert_text(f"  [{sub.step}] {sub.response or ''} {turn_status(sub)}".rstrip()
                                    + step_served_text(sub, served), style="yellow"))
            verdict = judgements.get(VERDICT_JUDGE, {}).get((case.id, sub.step))
            if verdict is not None:
                parts.append(inert_text(f"    guard verdict: {describe(verdict.explanation, on_error)}", style="cyan"))
        reply = rec.response if rec is not None and rec.outcome == "ok" else ""
        parts.append(inert_text(f"  Model: {reply} {turn_status(rec)}".rstrip()
                                + ("" if rec is None else step_served_text(rec, served))))
        for judge_id, found in judgements.items():
            j = found.get((case.id, step)) if judge_id != VERDICT_JUDGE else None
            if j is not None:
                label = judgement_text(j, suite.label_names(judge_id))
                parts.append(inert_text(f"  {judge_id}: {label}", style="cyan"))
    for kind, text in case.judge_context.items():
        parts.append(inert_text(f"Judge context [{kind}]: {text}", style="dim"))
    parts.extend(suite.show_extra(case, turns, judgements))
    return Panel(Group(*parts), title=inert_text(case.id), title_align="left")


def pair_views(suite: Suite, cases: Sequence[Case], turns: Turns, judgements: dict[str, Judgements],
               on_error: str = "stop", served: Served | None = None) -> list[RenderableType]:
    """Cases grouped by pair (already in pair order), the twins side by side."""
    out: list[RenderableType] = []
    by_pair: dict[str, list[Case]] = {}
    for c in cases:
        by_pair.setdefault(c.pair_id, []).append(c)
    for twins in by_pair.values():
        grid = Table.grid(expand=True, padding=(0, 1))
        for _ in twins:
            grid.add_column(ratio=1)
        grid.add_row(*(case_view(suite, c, turns, judgements, on_error, served) for c in twins))
        out.append(grid)
    return out
