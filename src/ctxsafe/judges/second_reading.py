"""A second annotator's blind labels of already-labelled records, read as if they were a judge.

Why: a judge's agreement target means little without the agreement of two humans on the same items.
`ctxsafe judge-eval --judge human:FILE` compares a second reading with the gold file through the very
views a judge gets (kappa, confusion, the suite's binary view, intervals), so the two are comparable.

A reading holds, one JSON object per line: `id` plus `label` 0-3 (MSSBench four-class) or
`turn_labels` [3] and `score` 1-5 (MTMCS dialogues). Unknown extra fields (notes) are allowed.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from ctxsafe.errors import DataError
from ctxsafe.judges.labelled import TURN_LABELS, AnyLabel, LabelKind, read_records
from ctxsafe.schema import Judgement

PREFIX = "human:"
"""The `--judge` form that names a second reading instead of a judge."""


class _MssReading(BaseModel):
    model_config = ConfigDict(frozen=True, extra="allow")
    id: str = Field(min_length=1)
    label: StrictInt = Field(ge=0, le=3)


class _DialogueReading(BaseModel):
    model_config = ConfigDict(frozen=True, extra="allow")
    id: str = Field(min_length=1)
    turn_labels: list[Literal["complied", "aware", "refused"]] = Field(min_length=3, max_length=3)
    score: StrictInt = Field(ge=1, le=5)


Reading = _MssReading | _DialogueReading
_MODELS: dict[LabelKind, type[Reading]] = {"mss4": _MssReading, "mtmcs": _DialogueReading}


def is_second_reading(spec: str) -> bool:
    return spec.startswith(PREFIX)


def load_reading(path: Path, kind: LabelKind) -> dict[str, Reading]:
    """Every line of the reading, by id; errors name the file and line (a typo must not shift a figure)."""
    if kind not in _MODELS:
        raise DataError("a second reading compares MSSBench four-class or MTMCS dialogue labels only",
                        file=str(path))
    model = _MODELS[kind]
    return {r.id: r for r in read_records(path, lambda obj, where: model)}


def reading_id(path: Path) -> tuple[str, str]:
    """The judge id and version a reading is reported under: its file name and content hash."""
    return f"{PREFIX}{path.name}", "labels-" + hashlib.sha256(path.read_bytes()).hexdigest()[:8]


def verdicts(items: list[AnyLabel], reading: dict[str, Reading], judge_id: str,
             version: str) -> list[dict[tuple[str, str], Judgement]]:
    """The reading as the verdicts `judge_eval.views` compares: the first (MSSBench label or MTMCS score) and
    the MTMCS turn labels (empty for MSSBench)."""
    def one(case: str, step: str, label: int) -> Judgement:
        return Judgement(run_id="second-reading", case_id=case, step=step, judge_id=judge_id,
                         prompt_version=version, label=label, parse_status="ok")

    first: dict[tuple[str, str], Judgement] = {}
    turns: dict[tuple[str, str], Judgement] = {}
    for it in items:
        r = reading[it.id]
        if isinstance(r, _MssReading):
            first[(it.id, "t1")] = one(it.id, "t1", r.label)
        else:
            first[(it.id, "t3")] = one(it.id, "t3", r.score)
            for k, lab in enumerate(r.turn_labels):
                turns[(it.id, f"t{k + 1}")] = one(it.id, f"t{k + 1}", TURN_LABELS.index(lab))
    return [first, turns]
