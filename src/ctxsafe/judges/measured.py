"""Each judge's measured agreement on the project's frozen test labels, quoted beside every judged metric.

Why: nobody should publish a number from a judge without seeing how far that judge can be trusted.
The figures live in `measured_agreement.json`, written from `ctxsafe judge-eval --split test --json`
runs (the commands are in docs/judges.md); a judge without an entry says it was never measured.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

RESOURCE = "measured_agreement.json"


@cache
def _document() -> dict[str, Any]:
    return dict(json.loads(resources.files("ctxsafe.judges").joinpath(RESOURCE).read_text(encoding="utf-8")))


def measured() -> dict[str, dict[str, Any]]:
    """judge id (or family:offline-* id) -> {kappa, ci95, n, metric, labels, use}."""
    return dict(_document()["judges"])


def annotators() -> dict[str, dict[str, Any]]:
    """label space (the judge id's first part, e.g. `mss4`) -> how well two annotators agree on the same test
    records ({metric, value, n}): the ceiling a judge's figure is read against."""
    return dict(_document().get("annotators", {}))


def judge_note(judge_id: str, prompt_version: str | None = None) -> str:
    """One line for reports: the judge and its measured test agreement, or that it was never measured."""
    entry = measured().get(judge_id)
    if entry is None or (prompt_version is not None and entry.get("prompt_version") not in (None, prompt_version)):
        return (f"judge {judge_id}: not measured on the project's frozen test labels; measure it with "
                f"`ctxsafe judge-eval --judge ... --split test` before trusting its numbers")
    lo, hi = entry["ci95"]
    note = (f"judge {judge_id}: {entry['metric']} {entry['value']:.2f} [{lo:.2f}-{hi:.2f}] on {entry['n']} frozen "
            f"test labels ({entry['labels']}): {entry['use']}")
    two = annotators().get(judge_id.split(":")[0])
    if two is not None:
        note += (f"; two annotators agree at {two['metric']} {two['value']:.2f} on the same {two['n']} "
                 f"test labels")
    return note
