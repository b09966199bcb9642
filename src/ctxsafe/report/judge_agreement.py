"""A judge's measured agreement with human labels, shown beside the numbers that judge produced.

The figures come from `ctxsafe judge-eval ... --json FILE`; a report given such files (`--judge-eval`)
matches them to its runs' judges by judge id and prompt version, so a reader sees how far to trust
the labels behind each headline.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ctxsafe.errors import DataError

JudgeKey = tuple[str, str]


def load_agreement(paths: Sequence[Path]) -> dict[JudgeKey, list[str]]:
    """(judge id, prompt version) -> one line per view: n, split, accuracy and kappa with their intervals."""
    out: dict[JudgeKey, list[str]] = {}
    for path in paths:
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            judges = [(j["id"], j["prompt_version"]) for j in doc["judges"]]
            views = doc["views"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise DataError(f"{path} is not a `ctxsafe judge-eval --json` file: {exc}", file=str(path)) from exc
        lines = [_line(name, v, doc.get("split")) for name, v in views.items()]
        for key in judges:
            out.setdefault(key, []).extend(lines)
    return out


def _num(block: Any, pct: bool) -> str:
    if not isinstance(block, dict) or block.get("value") is None:
        return "-"
    lo, hi = (block.get("ci95") or [None, None])[:2]

    def f(x: float) -> str:
        return f"{100 * x:.1f}" if pct else f"{x:.2f}"

    inner = "" if lo is None or hi is None else f" [{f(lo)}-{f(hi)}]"
    return f"{f(block['value'])}{inner}"


def _line(name: str, view: dict[str, Any], split: str | None) -> str:
    return (f"{name}: n={view.get('n')} human labels (split {split}), accuracy {_num(view.get('accuracy'), True)}%, "
            f"kappa {_num(view.get('kappa'), False)}")
