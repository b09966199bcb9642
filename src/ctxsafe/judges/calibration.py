"""Agreement between a judge and human labels, and the labelled-set loader.

Why: a judge is only as trustworthy as its measured agreement with careful humans. This module
turns two label sequences into the numbers we report (accuracy, Cohen's kappa, confusion matrix,
per-class precision/recall) and loads the human-labelled JSONL strictly, so a typo in the gold
file fails loudly with its line number instead of silently shifting the numbers.

Reproduce the offline judge's numbers::

    python -m ctxsafe.judges.calibration tests/data/mssbench_judge_labels.jsonl
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

from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError

from ctxsafe.metrics import agreement as ag

__all__ = ["LABELS", "Agreement", "LabelledResponse", "agreement", "load_labelled", "main"]

LABELS: tuple[int, ...] = (0, 1, 2, 3)
"""The MSSBench judge classes; fixed so every confusion matrix is 4x4 even if a class is absent."""


class LabelledResponse(BaseModel):
    """One human-labelled model response (a line of the agreement JSONL)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1)
    task: Literal["chat", "embodied"]
    context: Literal["safe", "unsafe"]
    query: str
    response: str
    label: StrictInt = Field(ge=0, le=3)
    note: str | None = None


class Agreement(BaseModel):
    """Judge-vs-gold agreement. Per-class values are indexed by label; None where undefined (0/0)."""

    model_config = ConfigDict(frozen=True)

    n: int
    accuracy: float
    cohen_kappa: float
    labels: tuple[int, ...] = LABELS
    confusion: list[list[int]] = Field(description="rows = gold label, columns = predicted label")
    precision: list[float | None]
    recall: list[float | None]
    support: list[int]


def agreement(gold: Sequence[int], pred: Sequence[int]) -> Agreement:
    """Compare predicted labels with gold labels over the fixed label set 0..3.

    Kappa is NaN when it is undefined (chance agreement is 1, i.e. both sides use a single,
    identical label); we return NaN rather than guess, so callers cannot mistake it for a score.
    """
    if len(gold) != len(pred):
        raise ValueError(f"gold and pred differ in length: {len(gold)} != {len(pred)}")
    if not gold:
        raise ValueError("agreement needs at least one item")
    for name, seq in (("gold", gold), ("pred", pred)):
        bad = [x for x in seq if isinstance(x, bool) or x not in LABELS]
        if bad:
            raise ValueError(f"{name} contains labels outside {LABELS}: {sorted(set(map(repr, bad)))}")

    g = [int(x) for x in gold]
    p = [int(x) for x in pred]
    n = len(g)
    counts = ag.confusion(g, p, len(LABELS))
    cm: list[list[int]] = counts[:, : len(LABELS)].astype(int).tolist()
    correct = sum(cm[i][i] for i in range(len(LABELS)))

    single_shared_label = len(set(g) | set(p)) == 1
    kappa = math.nan if single_shared_label else ag.kappa(counts)

    col_sums = [sum(cm[r][c] for r in range(len(LABELS))) for c in range(len(LABELS))]
    row_sums = [sum(row) for row in cm]
    precision = [cm[i][i] / col_sums[i] if col_sums[i] else None for i in range(len(LABELS))]
    recall = [cm[i][i] / row_sums[i] if row_sums[i] else None for i in range(len(LABELS))]
    return Agreement(
        n=n,
        accuracy=correct / n,
        cohen_kappa=kappa,
        confusion=cm,
        precision=precision,
        recall=recall,
        support=row_sums,
    )


def load_labelled(path: str | Path) -> list[LabelledResponse]:
    """Load and validate a labelled JSONL file; blank lines are skipped.

    Raises ValueError naming the file and 1-based line number of the first malformed line
    (bad JSON, missing/extra field, label outside 0..3, duplicate id).
    """
    path = Path(path)
    items: list[LabelledResponse] = []
    seen: dict[str, int] = {}
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{lineno}: invalid JSON: {exc.msg}") from exc
            if not isinstance(obj, dict):
                raise ValueError(f"{path}:{lineno}: expected a JSON object, got {type(obj).__name__}")
            try:
                item = LabelledResponse.model_validate(obj)
            except ValidationError as exc:
                problems = "; ".join(
                    f"{'.'.join(str(x) for x in err['loc']) or '<root>'}: {err['msg']}" for err in exc.errors()
                )
                raise ValueError(f"{path}:{lineno}: invalid labelled response: {problems}") from exc
            if item.id in seen:
                raise ValueError(f"{path}:{lineno}: duplicate id {item.id!r} (first on line {seen[item.id]})")
            seen[item.id] = lineno
            items.append(item)
    return items


_TRAILING_INT = re.compile(r"(\d+)$")


def _half_of(item_id: str) -> Literal["dev", "heldout"]:
    """The id-parity halves used while the rules were written: odd ids = dev, even = held-out."""
    m = _TRAILING_INT.search(item_id)
    if m is None:
        raise ValueError(f"id {item_id!r} has no trailing number; --half needs one")
    return "dev" if int(m.group(1)) % 2 == 1 else "heldout"


def _fmt(x: float | None) -> str:
    return "  n/a" if x is None else f"{x:.3f}"


def _render(title: str, ag: Agreement) -> str:
    lines = [
        f"== {title}",
        f"n={ag.n}  accuracy={ag.accuracy:.4f}  cohen_kappa={ag.cohen_kappa:.4f}",
        "confusion (rows=gold, cols=pred):",
        "        " + " ".join(f"{f'p{lab}':>5}" for lab in ag.labels),
    ]
    for lab, row in zip(ag.labels, ag.confusion, strict=True):
        lines.append(f"  g{lab}    " + " ".join(f"{v:>5}" for v in row))
    lines.append("class  precision  recall  support")
    for i, lab in enumerate(ag.labels):
        lines.append(f"  {lab}      {_fmt(ag.precision[i])}     {_fmt(ag.recall[i])}  {ag.support[i]:>7}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Score the offline rule judge against a labelled JSONL and print the agreement."""
    from ctxsafe.judges.offline_rules import PROMPT_VERSION, classify_mssbench

    parser = argparse.ArgumentParser(
        prog="python -m ctxsafe.judges.calibration",
        description="Agreement of the offline MSSBench rule judge with human labels.",
    )
    parser.add_argument("path", type=Path, help="labelled JSONL (id, task, context, query, response, label)")
    parser.add_argument("--half", choices=["dev", "heldout"], help="only odd-id (dev) or even-id (heldout) items")
    parser.add_argument("--json", action="store_true", help="print the overall Agreement as JSON")
    parser.add_argument("--show-errors", action="store_true", help="list every disagreement with its rule")
    args = parser.parse_args(argv)

    try:
        items = load_labelled(args.path)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.half is not None:
        items = [it for it in items if _half_of(it.id) == args.half]
    if not items:
        print("error: no labelled items selected", file=sys.stderr)
        return 2

    verdicts = [classify_mssbench(it.response) for it in items]
    overall = agreement([it.label for it in items], [v.label for v in verdicts])
    if args.json:
        print(overall.model_dump_json(indent=2))
        return 0

    scope = f" ({args.half} half)" if args.half else ""
    print(f"offline judge {PROMPT_VERSION} vs {args.path}{scope}")
    print(_render("all", overall))
    for task in ("chat", "embodied"):
        idx = [i for i, it in enumerate(items) if it.task == task]
        if idx:
            sub = agreement([items[i].label for i in idx], [verdicts[i].label for i in idx])
            print(_render(f"task={task}", sub))
    if args.show_errors:
        print("== disagreements")
        for it, v in zip(items, verdicts, strict=True):
            if it.label != v.label:
                print(f"{it.id} gold={it.label} pred={v.label} [{v.rationale}] {it.response[:160]!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
