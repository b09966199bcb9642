"""Agreement of the offline 1-5 MTMCS judges with a hand-labelled set.

Why: a rule judge is only worth what its measured agreement says. For the 1-5 scores we report
exact accuracy, within-one accuracy and quadratic-weighted Cohen's kappa (disagreeing by 4 is worse
than by 1); for the per-turn labels, accuracy and Cohen's kappa. Items with odd ids were the ones
looked at while writing the rules ("dev"), even ids were not ("heldout"); both halves are reported.

Reproduce the numbers in docs/mtmcs.md::

    python -m ctxsafe.judges.score_agreement tests/data/mtmcs_judge_labels.jsonl
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ctxsafe.judges.offline_scores import PROMPT_VERSION, classify_turn, score_helpfulness, score_safety
from ctxsafe.metrics import agreement as ag

__all__ = ["LabelledDialogue", "ScoreAgreement", "load_labelled", "main", "score_agreement"]

SCORES = (1, 2, 3, 4, 5)
TURN_LABELS = ("complied", "aware", "refused")
Kind = Literal["safety_a", "safety_b", "helpfulness"]


class LabelledDialogue(BaseModel):
    """One hand-labelled dialogue: three user turns, three replies, the rubric score and per-turn labels."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1)
    kind: Kind
    scenario: str
    turns: list[str] = Field(min_length=3, max_length=3)
    replies: list[str] = Field(min_length=3, max_length=3)
    turn_labels: list[Literal["complied", "aware", "refused"]] = Field(min_length=3, max_length=3)
    score: int = Field(ge=1, le=5)
    note: str = ""


class ScoreAgreement(BaseModel):
    model_config = ConfigDict(frozen=True)

    n: int
    accuracy: float
    within_one: float
    quadratic_kappa: float
    confusion: list[list[int]] = Field(description="rows = gold score 1-5, columns = predicted 1-5")


def score_agreement(gold: Sequence[int], pred: Sequence[int]) -> ScoreAgreement:
    """Exact and within-one accuracy and quadratic-weighted kappa over the fixed 1-5 scale."""
    if len(gold) != len(pred) or not gold:
        raise ValueError("gold and pred must be non-empty and of equal length")
    n = len(gold)
    cm = [[0] * 5 for _ in SCORES]
    for g, p in zip(gold, pred, strict=True):
        cm[g - 1][p - 1] += 1
    same = len(set(gold) | set(pred)) == 1
    scored = ag.confusion([g - 1 for g in gold], [p - 1 for p in pred], len(SCORES))
    kappa = math.nan if same else ag.kappa(scored, weights="quadratic")
    return ScoreAgreement(n=n, accuracy=sum(g == p for g, p in zip(gold, pred, strict=True)) / n,
                          within_one=sum(abs(g - p) <= 1 for g, p in zip(gold, pred, strict=True)) / n,
                          quadratic_kappa=kappa, confusion=cm)


def load_labelled(path: Path) -> list[LabelledDialogue]:
    """Strict loader: a bad line fails with its line number; ids must be unique."""
    items: list[LabelledDialogue] = []
    seen: set[str] = set()
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = LabelledDialogue.model_validate(json.loads(line))
        except (json.JSONDecodeError, ValidationError) as exc:
            raise ValueError(f"{path}:{lineno}: {exc}") from exc
        if item.id in seen:
            raise ValueError(f"{path}:{lineno}: duplicate id {item.id!r}")
        seen.add(item.id)
        items.append(item)
    return items


def predict(item: LabelledDialogue) -> int:
    if item.kind == "helpfulness":
        return score_helpfulness(item.replies).score
    return score_safety("A" if item.kind == "safety_a" else "B", item.replies).score


def half_of(item_id: str) -> Literal["dev", "heldout"]:
    m = re.search(r"(\d+)$", item_id)
    if m is None:
        raise ValueError(f"id {item_id!r} has no trailing number")
    return "dev" if int(m.group(1)) % 2 == 1 else "heldout"


def _line(title: str, ag: ScoreAgreement) -> str:
    return (f"{title:<22} n={ag.n:<3} accuracy={ag.accuracy:.3f}  within-1={ag.within_one:.3f}  "
            f"quadratic kappa={ag.quadratic_kappa:.3f}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ctxsafe.judges.score_agreement",
                                     description="Agreement of the offline MTMCS score judges with hand labels.")
    parser.add_argument("path", type=Path)
    parser.add_argument("--show-errors", action="store_true", help="list every disagreement with its rationale")
    args = parser.parse_args(argv)
    try:
        items = load_labelled(args.path)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    preds = [predict(it) for it in items]
    print(f"offline score judge {PROMPT_VERSION} vs {args.path}")
    print(_line("all", score_agreement([it.score for it in items], preds)))
    groups: list[tuple[str, list[int]]] = [(f"kind={k}", [i for i, it in enumerate(items) if it.kind == k])
                                           for k in ("safety_a", "safety_b", "helpfulness")]
    groups += [(f"half={h}", [i for i, it in enumerate(items) if half_of(it.id) == h]) for h in ("dev", "heldout")]
    for title, idx in groups:
        if idx:
            print(_line(title, score_agreement([items[i].score for i in idx], [preds[i] for i in idx])))
    gold_t = [lab for it in items for lab in it.turn_labels]
    pred_t = [classify_turn(r).label for it in items for r in it.replies]
    acc = sum(g == p for g, p in zip(gold_t, pred_t, strict=True)) / len(gold_t)
    index = {label: i for i, label in enumerate(TURN_LABELS)}
    kappa = ag.kappa(ag.confusion([index[g] for g in gold_t], [index[p] for p in pred_t], len(TURN_LABELS)))
    print(f"{'per-turn labels':<22} n={len(gold_t):<3} accuracy={acc:.3f}  cohen kappa={kappa:.3f}")
    if args.show_errors:
        for it, p in zip(items, preds, strict=True):
            if p != it.score:
                v = (score_helpfulness(it.replies) if it.kind == "helpfulness"
                     else score_safety("A" if it.kind == "safety_a" else "B", it.replies))
                print(f"{it.id} gold={it.score} pred={p} [{v.rationale}] {it.note}")
        for it in items:
            for k, (r, g) in enumerate(zip(it.replies, it.turn_labels, strict=True)):
                t = classify_turn(r)
                if t.label != g:
                    print(f"{it.id} t{k + 1} gold={g} pred={t.label} [{t.rationale}] {r[:100]!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
