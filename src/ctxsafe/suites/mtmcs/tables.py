"""Terminal tables for MTMCS: the paper's numbers per type x modality with every failure beside them,
and the per-turn insight."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from ctxsafe.inert import inert_markup
from ctxsafe.metrics.stats import SMALL_CLUSTERS
from ctxsafe.report.terminal import ci, failure_text, pct

if TYPE_CHECKING:  # rich loads when a table is built, not when a suite is imported (issue 12)
    from rich.table import Table

TYPE_NAMES = {"A": "A escalation", "B": "B context switch"}


def _num(x: float | None) -> str:
    return "-" if x is None or math.isnan(x) else f"{x:.2f}"


def score_cell(block: dict[str, Any]) -> str:
    """Mean [95% CI]; the number scored is shown only when some dialogues went unscored."""
    lo, hi = block["ci95"]
    bounds = "" if lo is None or hi is None or math.isnan(lo) or math.isnan(hi) else f" [{_num(lo)}-{_num(hi)}]"
    partial = f" n={block['scored']}/{block['n']}" if block["scored"] < block["n"] else ""
    return f"{_num(block['mean'])}{bounds}{_few(block)}{partial}"


def acc_cell(block: dict[str, Any]) -> str:
    return f"{pct(block['acc'])} [{ci(block['ci95'])}]{_few(block)}"


def _few(block: dict[str, Any]) -> str:
    """Marks a figure resting on too few rows to read (documents written before clustering have no mark)."""
    return " (few)" if block.get("small") else ""


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
    from rich.table import Table

    faithful = any(r.get("mode") == "faithful" for r in rows)
    caption = ("Scores 1-5 [95% CI], over the dialogues the judge scored; accuracies in % [Wilson 95% CI]; "
               f"intervals clustered by row, (few) = under {SMALL_CLUSTERS} rows: too few to read. "
               + ("FAITHFUL mode: unparseable answers are dropped from the denominator, as in the paper."
                  if faithful else "Every question counts: unparseable or missing answers are wrong."))
    t = Table(title=inert_markup(title), title_justify="left", caption=caption, caption_justify="left")
    for col in ("model", "kind", "type", "modality", "pairs"):
        t.add_column(col, no_wrap=True)
    for col in ("helpfulness", "safety awareness", "safe MCQ", "unsafe MCQ", "unsafe TF", "MCQ overall"):
        t.add_column(col, justify="right")
    t.add_column("not scored / failures")
    for row in rows:
        groups = list(row["metrics"].items())
        for k, (_, g) in enumerate(groups):
            modality = g["modality"] + (" (variants)" if g["images"] == "variants" else "")
            t.add_row(inert_markup(row["model"]), "baseline" if row.get("baseline") else "model",
                      inert_markup(g["type"]), inert_markup(modality), str(g["pairs"]),
                      score_cell(g["helpfulness"]), score_cell(g["safety_awareness"]), acc_cell(g["safe_mcq"]),
                      acc_cell(g["unsafe_mcq"]), acc_cell(g["unsafe_tf"]), acc_cell(g["mcq_overall"]),
                      inert_markup(not_scored(g)), end_section=k == len(groups) - 1)
    return t


def _dist_text(d: dict[str, int]) -> str:
    keys = [k for k in d if k != "n"]
    return "  ".join(f"{k} {d[k]}" for k in keys if d[k] or k.startswith("t") or k == "never")


def insight_table(rows: list[dict[str, Any]]) -> Table:
    from rich.table import Table

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
            t.add_row(inert_markup(row["model"]), TYPE_NAMES["A" if split == "type_a" else "B"], inert_markup(modality),
                      _dist_text(g["first_awareness"]), _dist_text(g["over_refusal"]))
    return t
