"""What scoring reads of each case, as columns of one streamed query over the run store (`RunStore.case_facts`):
no Case, TurnRecord or Judgement is built, so a 100,000-case run is scored in seconds (docs/performance.md).
Apart from the store because it is the reports' read model, not the store's persistence."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T", str, str | None)

StepFacts = tuple[str, str | None, str | None, str | None, int | None]
"""One turn of a case as scoring reads it: (turn outcome, finish reason, and the chosen judge's outcome,
parse status and label, None without a judgement)."""


@dataclass(slots=True)  # not frozen: ~4x cheaper to build, and a report builds one per case
class CaseFacts:
    """What scoring reads of one case, straight from the store's columns: no Case, TurnRecord or Judgement
    is built, so a 100,000-case run is scored in seconds (docs/performance.md)."""

    id: str
    pair_id: str
    context: str
    task: str | None
    category: str | None
    cluster: Any
    """`meta.cluster` as stored (JSON-decoded), None without one."""
    gold: dict[str, Any]
    n_turns: int
    replayed: frozenset[int]
    """The 0-based user turns answered by a fixed reply."""
    steps: dict[str, StepFacts]
    """The case's turns (`t1`, `t2`, ...; not their sub-steps) by step."""


# json_extract, not `->>` (SQLite 3.38+): the report must read stores on older SQLite too. It gives strings,
# numbers and NULL as SQL values, objects and arrays as JSON text, and true/false as 1/0 (hence json_type).
FACTS_SQL = """
SELECT c.case_id, json_extract(c.body, '$.pair_id'), json_extract(c.body, '$.context'),
       json_extract(c.body, '$.task'), json_extract(c.body, '$.category'),
       json_type(c.body, '$.meta.cluster'), json_extract(c.body, '$.meta.cluster'), json_extract(c.body, '$.gold'),
       json_array_length(c.body, '$.turns'), json_extract(c.body, '$.fixed_replies'),
       t.step, t.outcome, t.finish_reason, j.outcome, j.parse_status, j.label
FROM cases c
LEFT JOIN turns t ON t.run_id = c.run_id AND t.case_id = c.case_id AND instr(t.step, '/') = 0
LEFT JOIN judgements j ON j.run_id = t.run_id AND j.case_id = t.case_id AND j.step = t.step
     AND j.judge_id = ? AND j.prompt_version = ?
WHERE c.run_id = ? ORDER BY c.ord"""


def _json_value(kind: str | None, value: Any) -> Any:
    """A `json_extract` result as the JSON value it was (`kind` from `json_type`)."""
    if kind in ("true", "false"):
        return kind == "true"
    return json.loads(value) if kind in ("object", "array") else value


def facts_of(rows: Iterable[tuple[Any, ...]]) -> Iterator[CaseFacts]:
    """Group the joined rows (one per case and turn, in case order) into one CaseFacts per case."""
    decoded: dict[str | None, Any] = {None: None}  # gold texts repeat across cases: decode each once
    shared: dict[Any, Any] = {}  # contexts, tasks, categories: one string object each
    no_replays = frozenset[int]()

    def one(text: T) -> T:
        """The same object for every equal short field (SQLite gives a new string per row): ~100 bytes less
        per case for a report's whole run; bounded like `decoded`."""
        kept = shared.get(text)
        if kept is not None:
            return kept  # type: ignore[no-any-return]
        if len(shared) < 1024:
            shared[text] = text
        return text

    def load(text: str | None) -> Any:
        if text in decoded:
            return decoded[text]
        value = json.loads(text)  # type: ignore[arg-type]
        if len(decoded) < 1024:  # bounded: a run with a gold per case must not grow the cache with it
            decoded[text] = value
        return value

    case: CaseFacts | None = None
    for r in rows:
        if case is None or r[0] != case.id:
            if case is not None:
                yield case  # complete: its rows are consecutive
            fixed = r[9]
            replayed = no_replays if fixed in (None, "[]") else frozenset(
                i for i, reply in enumerate(json.loads(fixed)) if reply is not None)
            case = CaseFacts(r[0], r[1], one(r[2]), one(r[3]), one(r[4]), _json_value(r[5], r[6]), load(r[7]) or {},
                             r[8] or 0, replayed, {})
        if r[10] is not None:
            case.steps[r[10]] = (r[11], r[12], r[13], r[14], r[15])
    if case is not None:
        yield case
