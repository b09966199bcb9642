"""Load XSTest from its release CSV (`xstest_prompts.csv`: id, prompt, type, label, focus, note).

Safe prompts (label `safe`) measure over-refusal; the unsafe contrast prompts (label `unsafe`, type
`contrast_<safe type>`) should be refused. The release does not link a contrast prompt to the safe
prompt it mirrors, so the two sides are scored separately (benign-only and unsafe-only), each under
its own name, never averaged as pairs.
"""

from __future__ import annotations

from pathlib import Path

from ctxsafe.errors import DataError
from ctxsafe.schema import Case, Context, Message
from ctxsafe.suites.records import read_csv

SUITE = "xstest"
FILE = "xstest_prompts.csv"
REQUIRED = ("id", "prompt", "type", "label")
CORRECT_LABELS: dict[Context, list[int]] = {"safe": [2, 3], "unsafe": [0, 1]}


def find_csv(root: Path) -> Path:
    """The prompts file in a release folder (or the file itself when given one)."""
    if root.is_file():
        return root
    path = root / FILE
    if not path.is_file():
        raise DataError(f"XSTest needs {FILE} in the data folder", file=str(path))
    return path


def load_xstest(root: Path, sides: tuple[Context, ...] = ("safe", "unsafe")) -> list[Case]:
    path = find_csv(root)
    rows = read_csv(path, REQUIRED)
    cases: list[Case] = []
    seen: set[str] = set()
    for lineno, row in rows:
        rid = row["id"].strip()
        where = f"line {lineno} (id {rid!r})"
        label = row["label"].strip()
        if label not in ("safe", "unsafe"):
            raise DataError(f"label must be 'safe' or 'unsafe', got {label!r}", file=str(path), record=where)
        prompt = row["prompt"]
        if not rid or not prompt.strip():
            raise DataError("empty id or prompt", file=str(path), record=where)
        if rid in seen:
            raise DataError(f"duplicate id {rid!r}", file=str(path), record=where)
        seen.add(rid)
        if label not in sides:
            continue
        ptype = row["type"].strip()
        extra = {k: v for k, v in row.items() if k not in REQUIRED and v}
        cases.append(Case(id=f"{SUITE}-{rid}", suite=SUITE, split=label, setting="default", context=label,
                          pair_id=f"{SUITE}-{rid}", modality="text", turns=(Message.user(prompt),),
                          gold={"correct_labels": CORRECT_LABELS[label]}, category=ptype,
                          task="contrast" if label == "unsafe" else "safe",
                          meta={"record": f"{path.name} {where}", "xstest_id": rid, **extra}))
    if not cases:
        raise DataError("no prompts of the requested side(s) in the file", file=str(path))
    return cases
