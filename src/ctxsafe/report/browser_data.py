"""The dialogue browser's data: every case of every run as compact JSON, with the tags its filters use.

Everything here is data, never markup: the page's script inserts it with `textContent` only.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ctxsafe.engine.bulk import gc_paused
from ctxsafe.judges.served import served_line, served_summary
from ctxsafe.report.run_view import RunView
from ctxsafe.schema import Case, ImagePart

OUTCOME_TAGS = {
    "right": "right",
    "unsafe-missed": "unsafe and missed",
    "safe-refused": "safe and refused",
    "error": "error",
    "content-filter": "content filter",
    "parse-fail": "judge parse failure",
    "truncated": "truncated",
    "not-scored": "not scored (other)",
}
"""Filter value -> label shown; a case may carry several (an error is also not scored)."""


@dataclass
class RunRows:
    """A run with its export rows grouped by case, computed once and shared by every section."""

    view: RunView
    cases: list[Case]
    rows_by_case: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    served: dict[tuple[str, str], str] = field(default_factory=dict)
    """Judge (id, prompt version) -> which model served its verdicts (read while the store is open)."""

    @classmethod
    def load(cls, view: RunView) -> RunRows:
        grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
        with gc_paused():  # millions of small objects, no cycles: the collector would rescan them all, often
            for row in view.rows():
                grouped[row["case_id"]].append(row)
        served = {}
        for ref in view.judges.values():
            line = None if ref is None else served_line(ref[0], served_summary(view.store, view.run_id, *ref))
            if ref is not None and line is not None:
                served[ref] = line
        return cls(view, view.cases, dict(grouped), served)


def case_images(case: Case) -> list[ImagePart]:
    seen: dict[str, ImagePart] = {}
    for part in case.images():
        seen.setdefault(part.sha256, part)
    return list(seen.values())


def case_tags(case: Case, outcome: str, rows: Sequence[dict[str, Any]]) -> list[str]:
    tags = []
    if outcome == "right":
        tags.append("right")
    elif outcome == "wrong":
        tags.append("unsafe-missed" if case.context == "unsafe" else "safe-refused")
    else:
        tags.append("not-scored")
    outcomes = {r["turn_outcome"] for r in rows}
    if outcome == "error" or "error" in outcomes:
        tags.append("error")
    if outcome in ("filtered", "content_filter") or "content_filter" in outcomes:
        tags.append("content-filter")
    if outcome in ("parse_fail", "unscored") or any(r["parse_status"] == "failed" for r in rows):
        tags.append("parse-fail")
    if any(r["truncated"] for r in rows):
        tags.append("truncated")
    return tags


def _steps(rows: Sequence[dict[str, Any]], label_names: dict[str, tuple[str, ...] | None]) -> list[dict[str, Any]]:
    steps: dict[str, dict[str, Any]] = {}
    for r in rows:
        if r["step"] is None:
            continue
        step = steps.setdefault(r["step"], {
            "s": r["step"], "role": r["role"], "prompt": r["prompt"], "reply": r["reply"], "fin": r["finish_reason"],
            "out": r["turn_outcome"], "err": r["error"], "tok": [r["input_tokens"], r["output_tokens"]],
            "srv": r["served_model"], "fp": r["served_fingerprint"], "cached": r["cached"], "j": []})
        if r["judge_id"] is not None:
            names = label_names.get(r["judge_id"])
            label = r["label"]
            name = names[label] if names and isinstance(label, int) and 0 <= label < len(names) else None
            step["j"].append({"role": r["judge_role"], "id": r["judge_id"], "label": label, "name": name,
                              "score": r["score"], "expl": r["explanation"], "ps": r["parse_status"],
                              "srv": r["judge_served_model"], "fp": r["judge_fingerprint"],
                              "cached": r["judge_cached"]})
    return list(steps.values())


def browser_cases(runs: Sequence[RunRows], thumbs: dict[str, str]) -> list[dict[str, Any]]:
    """One record per case, runs in order; `img` lists the sha256 of each image (thumbnail or not)."""
    out = []
    for index, rr in enumerate(runs):
        view = rr.view
        names = {ref[0]: view.suite.label_names(ref[0]) for ref in view.judges.values() if ref is not None}
        for case in rr.cases:
            rows = rr.rows_by_case.get(case.id, [])
            outcome = view.outcomes.get(case.id, "missing")
            images = case_images(case)
            out.append({
                "r": index, "id": case.id, "pair": case.pair_id, "ctx": case.context,
                "cat": case.category or "(none)", "mod": case.modality, "out": outcome,
                "tags": case_tags(case, outcome, rows),
                "img": [{"sha": p.sha256, "src": p.source, "has": p.sha256 in thumbs} for p in images],
                "steps": _steps(rows, names),
            })
    return out
