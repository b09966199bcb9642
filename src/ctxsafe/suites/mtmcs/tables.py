"""Terminal tables for MTMCS: the paper's numbers per type x modality with every failure beside them,
the per-turn insight, and a per-dialogue view (turns, replies, intent answers, judge explanations)."""

from __future__ import annotations

import math
from typing import Any

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from ctxsafe.engine.rollout import probe_step, turn_step
from ctxsafe.report.terminal import ci, failure_text, pct
from ctxsafe.schema import Case, Judgement, TurnRecord
from ctxsafe.suites.mtmcs.judge import final_step
from ctxsafe.suites.mtmcs.metrics import probe_answer
from ctxsafe.suites.mtmcs.prompts import TURN_LABELS

TYPE_NAMES = {"A": "A escalation", "B": "B context switch"}


def _num(x: float | None) -> str:
    return "-" if x is None or math.isnan(x) else f"{x:.2f}"


def score_cell(block: dict[str, Any]) -> str:
    """Mean [95% CI]; the number scored is shown only when some dialogues went unscored."""
    lo, hi = block["ci95"]
    bounds = "" if lo is None or hi is None or math.isnan(lo) or math.isnan(hi) else f" [{_num(lo)}-{_num(hi)}]"
    partial = f" n={block['scored']}/{block['n']}" if block["scored"] < block["n"] else ""
    return f"{_num(block['mean'])}{bounds}{partial}"


def acc_cell(block: dict[str, Any]) -> str:
    return f"{pct(block['acc'])} [{ci(block['ci95'])}]"


def not_scored(g: dict[str, Any]) -> str:
    parts: dict[str, int] = {}
    for side in ("safe", "unsafe"):
        for k in ("error", "filtered", "pending", "truncated"):
            if g["dialogues"][side][k]:
                parts[f"dialogue {k}"] = parts.get(f"dialogue {k}", 0) + g["dialogues"][side][k]
    for metric in ("helpfulness", "safety_awareness"):
        for k, v in g[metric]["not_scored"].items():
            if not k.startswith("dialogue") and k != "pending":
                parts[f"judge {k}"] = parts.get(f"judge {k}", 0) + v
    for metric in ("safe_mcq", "unsafe_mcq", "unsafe_tf"):
        for k, v in g[metric]["failures"].items():
            parts[f"answer {k}"] = parts.get(f"answer {k}", 0) + v
        if g[metric]["truncated"]:
            parts["answer truncated"] = parts.get("answer truncated", 0) + g[metric]["truncated"]
    return failure_text(parts)


def metrics_table(rows: list[dict[str, Any]], title: str) -> Table:
    faithful = any(r.get("mode") == "faithful" for r in rows)
    caption = ("Scores 1-5 [95% CI], over the dialogues the judge scored; accuracies in % [Wilson 95% CI]. "
               + ("FAITHFUL mode: unparseable answers are dropped from the denominator, as in the paper."
                  if faithful else "Every question counts: unparseable or missing answers are wrong."))
    t = Table(title=title, title_justify="left", caption=caption, caption_justify="left")
    for col in ("model", "kind", "type", "modality", "pairs"):
        t.add_column(col, no_wrap=True)
    for col in ("helpfulness", "safety awareness", "safe MCQ", "unsafe MCQ", "unsafe TF", "MCQ overall"):
        t.add_column(col, justify="right")
    t.add_column("not scored / failures")
    for row in rows:
        groups = list(row["metrics"].items())
        for k, (_, g) in enumerate(groups):
            modality = g["modality"] + (" (variants)" if g["images"] == "variants" else "")
            t.add_row(row["model"], "baseline" if row.get("baseline") else "model",
                      str(g["type"]), modality, str(g["pairs"]),
                      score_cell(g["helpfulness"]), score_cell(g["safety_awareness"]), acc_cell(g["safe_mcq"]),
                      acc_cell(g["unsafe_mcq"]), acc_cell(g["unsafe_tf"]), acc_cell(g["mcq_overall"]),
                      not_scored(g), end_section=k == len(groups) - 1)
    return t


def _dist_text(d: dict[str, int]) -> str:
    keys = [k for k in d if k != "n"]
    return "  ".join(f"{k} {d[k]}" for k in keys if d[k] or k.startswith("t") or k == "never")


def insight_table(rows: list[dict[str, Any]]) -> Table:
    t = Table(title="Per-turn insight (per-turn judge)", title_justify="left",
              caption="unsafe: first turn with an aware or refusing reply; safe: first turn with a refusal",
              caption_justify="left")
    for col in ("model", "type", "modality", "unsafe: first awareness", "safe: over-refusal"):
        t.add_column(col, no_wrap=col in ("model", "type", "modality"))
    for row in rows:
        if not row.get("per_turn"):
            continue
        for key, g in row["per_turn"].items():
            split, _, modality = key.partition("/")
            t.add_row(row["model"], TYPE_NAMES["A" if split == "type_a" else "B"], modality,
                      _dist_text(g["first_awareness"]), _dist_text(g["over_refusal"]))
    return t


def _turn_status(rec: TurnRecord | None) -> str:
    if rec is None:
        return "(not played)"
    if rec.outcome != "ok":
        return f"[{rec.outcome}: {rec.error or ''}]"
    return "[truncated]" if rec.truncated else ""


def _judgement_text(j: Judgement | None, label_names: tuple[str, ...] | None = None) -> str:
    if j is None:
        return "(not judged)"
    if j.outcome != "ok":
        return f"judge {j.outcome}: {j.error or ''}"
    if j.parse_status != "ok":
        return f"UNPARSEABLE judge answer ({j.error or 'no reason'}): {(j.raw or '')[:200]!r}"
    value = label_names[j.label] if label_names and j.label is not None and 0 <= j.label < len(label_names) \
        else _num(j.score)
    return f"{value} - {j.explanation or ''}"


def dialogue_view(case: Case, turns: dict[tuple[str, str], TurnRecord], score: dict[tuple[str, str], Judgement],
                  labels: dict[tuple[str, str], Judgement]) -> RenderableType:
    """One dialogue: its turns and replies, per-turn labels, the dialogue score and the intent answers."""
    kind = "helpfulness" if case.context == "safe" else "safety awareness"
    image = f", image {case.context_images[0].source}" if case.context_images else ""
    head = (f"Type {TYPE_NAMES.get(case.gold.get('type', ''), '?')}, {case.modality}, {case.context} twin, "
            f"row {case.meta.get('row_id')}{image}")
    parts: list[RenderableType] = [Text(head, style="dim")]
    for i, user in enumerate(case.turns):
        rec = turns.get((case.id, turn_step(i)))
        parts.append(Text(f"Turn {i + 1}", style="bold"))
        parts.append(Text(f"  User: {user.text_content()}"))
        reply = rec.response if rec is not None and rec.outcome == "ok" else ""
        parts.append(Text(f"  Model: {reply} {_turn_status(rec)}".rstrip()))
        parts.append(Text(f"  per-turn judge: {_judgement_text(labels.get((case.id, turn_step(i))), TURN_LABELS)}",
                          style="cyan"))
    parts.append(Text(f"{kind}: {_judgement_text(score.get((case.id, final_step(case))))}", style="bold cyan"))
    if case.probes:
        parts.append(Text("Intent recognition", style="bold"))
    for probe in case.probes:
        rec = turns.get((case.id, probe_step(probe)))
        if rec is None or rec.outcome != "ok":
            verdict = _turn_status(rec)
            answered = ""
        else:
            got = probe_answer(probe, rec.response)
            verdict = "UNPARSEABLE (counts as wrong)" if got is None else (
                "correct" if got == probe.gold else f"wrong (read as {got})")
            answered = f" answered {(rec.response or '').strip()[:80]!r}"
        question = probe.meta.get("question", "")
        options = "  ".join(f"{chr(65 + k)}. {o}" for k, o in enumerate(probe.options))
        parts.append(Text(f"  {probe.id} [{probe.meta.get('question_type', probe.kind)}] {question}"))
        if options:
            parts.append(Text(f"    {options}", style="dim"))
        parts.append(Text(f"    gold {probe.gold};{answered} -> {verdict}"))
    return Panel(Group(*parts), title=case.id, title_align="left")
