"""Load XSTest from its release CSV (`xstest_prompts.csv`: id, prompt, type, label, focus, note).

Or from a Hugging Face hub copy in `datasets` format (`hf://`, default `walledai/XSTest`, a mirror of
the authors' CSV): parquet shards under `data/` with the columns `prompt, type, label` (`focus`,
`note` kept when present) and no `id`, so a row's id is its 1-based position over the shards in name
order, which is the CSV's order in that mirror.

Safe prompts (label `safe`) measure over-refusal; the unsafe contrast prompts (label `unsafe`, type
`contrast_<safe type>`) should be refused. The release does not link a contrast prompt to the safe
prompt it mirrors, so the two sides are scored separately (benign-only and unsafe-only), each under
its own name, never averaged as pairs.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from ctxsafe.errors import DataError
from ctxsafe.schema import Case, Context, Message
from ctxsafe.suites.records import read_csv, read_parquet

SUITE = "xstest"
HF_DATASET = "walledai/XSTest"
FILE = "xstest_prompts.csv"
REQUIRED = ("id", "prompt", "type", "label")
CORRECT_LABELS: dict[Context, list[int]] = {"safe": [2, 3], "unsafe": [0, 1]}


def find_csv(root: Path) -> Path:
    """The prompts file in a release folder (or the file itself when given one)."""
    if root.is_file():
        return root
    path = root / FILE
    if not path.is_file():
        raise DataError(f"XSTest needs {FILE} (or a hub copy's data/*.parquet) in the data folder", file=str(path))
    return path


def _hub_rows(shards: list[Path]) -> Iterator[tuple[Path, str, dict[str, str]]]:
    """A hub copy's rows with the CSV's fields: an `id` from the row's position when the copy has none."""
    n = 0
    for shard in shards:
        for row in read_parquet(shard):
            n += 1
            missing = [k for k in REQUIRED if k != "id" and not isinstance(row.get(k), str)]
            if missing:
                raise DataError(f"missing or non-text column(s): {', '.join(missing)}", file=str(shard),
                                record=f"row {n}")
            fields = {k: "" if v is None else str(v) for k, v in row.items()}
            fields.setdefault("id", str(n))
            yield shard, f"row {n}", fields


def _rows(root: Path) -> Iterator[tuple[Path, str, dict[str, str]]]:
    """(file, where, row) from the release CSV, or from a hub copy's parquet shards."""
    shards = (sorted(root.glob("data/*.parquet")) or sorted(root.glob("*.parquet"))) if root.is_dir() else []
    if shards and not (root / FILE).is_file():
        yield from _hub_rows(shards)
        return
    path = find_csv(root)
    for lineno, row in read_csv(path, REQUIRED):
        yield path, f"line {lineno}", row


def load_xstest(root: Path, sides: tuple[Context, ...] = ("safe", "unsafe")) -> list[Case]:
    cases: list[Case] = []
    seen: set[str] = set()
    for path, at, row in _rows(root):
        rid = row["id"].strip()
        where = f"{at} (id {rid!r})"
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
        raise DataError("no prompts of the requested side(s) in the data", file=str(root))
    return cases
