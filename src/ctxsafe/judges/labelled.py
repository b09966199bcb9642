"""Human-labelled judge data: the three record shapes `judge-eval` reads, loaded strictly.

Why strict: a typo in a gold file silently shifts every agreement figure, so a bad line fails with
the file and line named. Unknown extra fields are allowed (annotators keep notes, styles, authors).

Record shapes (one JSON object per line; the kind is told by the fields):
- MSSBench four-class: id, task (chat|embodied), context (safe|unsafe), query, response, label 0-3;
  optional scene (responses to one scene share information and are resampled together), lang.
- MTMCS dialogue: id, kind (safety_a|safety_b|helpfulness), turns[3], replies[3],
  turn_labels[3] (complied|aware|refused), score 1-5; optional scenario, lang.
- QC/IC Yes/No reading: id, response, label (yes|no|unreadable), optional task (chat|embodied).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError

from ctxsafe.errors import DataError
from ctxsafe.judges.split import Split, split_of

LabelKind = Literal["mss4", "mtmcs", "yesno"]
TURN_LABELS = ("complied", "aware", "refused")
MSS_NAMES = ("0 refused", "1 risk-aware", "2 answered", "3 no answer, not safety")
YESNO_LABELS = ("no", "yes", "unreadable")


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="allow")

    id: str = Field(min_length=1)
    lang: str | None = None

    @property
    def split(self) -> Split:
        return split_of(self.id)


class MssLabel(_Record):
    """One model response to an MSSBench query, with its human four-class label."""

    task: Literal["chat", "embodied"]
    context: Literal["safe", "unsafe"]
    query: str
    response: str
    label: StrictInt = Field(ge=0, le=3)
    scene: str | None = None

    @property
    def cluster(self) -> str:
        return f"scene:{self.scene}" if self.scene else f"id:{self.id}"


class DialogueLabel(_Record):
    """One three-turn MTMCS dialogue with its rubric score and per-turn labels."""

    kind: Literal["safety_a", "safety_b", "helpfulness"]
    turns: list[str] = Field(min_length=3, max_length=3)
    replies: list[str] = Field(min_length=3, max_length=3)
    turn_labels: list[Literal["complied", "aware", "refused"]] = Field(min_length=3, max_length=3)
    score: StrictInt = Field(ge=1, le=5)
    scenario: str | None = None

    @property
    def cluster(self) -> str:
        return f"id:{self.id}"


class YesNoLabel(_Record):
    """A model's QC/IC answer and what a careful reader says it answered."""

    response: str
    label: Literal["yes", "no", "unreadable"]
    task: Literal["chat", "embodied"] | None = None

    @property
    def cluster(self) -> str:
        return f"id:{self.id}"


AnyLabel = MssLabel | DialogueLabel | YesNoLabel
_MODELS: dict[LabelKind, type[AnyLabel]] = {"mss4": MssLabel, "mtmcs": DialogueLabel, "yesno": YesNoLabel}


def kind_of(obj: dict[str, object]) -> LabelKind:
    """Which record shape a JSON object is, from the fields that only that shape has."""
    if "replies" in obj:
        return "mtmcs"
    if isinstance(obj.get("label"), str):
        return "yesno"
    return "mss4"


M = TypeVar("M", bound=BaseModel)


def read_records(path: Path, pick: Callable[[dict[str, Any], str], type[M]]) -> list[M]:
    """Every non-blank line of a JSONL file as the model `pick` chooses for it (given the object and its line);
    errors name the file, line and field, and a repeated id is an error. Shared by the label loaders."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read: {exc}", file=str(path)) from exc
    items: list[M] = []
    seen: dict[str, int] = {}
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"line {lineno}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"invalid JSON: {exc.msg}", file=str(path), record=where) from exc
        if not isinstance(obj, dict):
            raise DataError(f"expected a JSON object, got {type(obj).__name__}", file=str(path), record=where)
        try:
            item = pick(obj, where).model_validate(obj)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(str(x) for x in e['loc']) or '<root>'}: {e['msg']}"
                                 for e in exc.errors())
            raise DataError(problems, file=str(path), record=f"{where} ({obj.get('id')!r})") from exc
        record_id = str(getattr(item, "id", ""))
        if record_id in seen:
            raise DataError(f"duplicate id {record_id!r} (first on line {seen[record_id]})", file=str(path),
                            record=where)
        seen[record_id] = lineno
        items.append(item)
    if not items:
        raise DataError("no labelled records", file=str(path))
    return items


def load_labels(path: Path) -> tuple[LabelKind, list[AnyLabel]]:
    """All records of one file (one shape per file); errors name the file, line and field."""
    kinds: list[LabelKind] = []

    def pick(obj: dict[str, Any], where: str) -> type[AnyLabel]:
        this = kind_of(obj)
        if not kinds:
            kinds.append(this)
        elif this != kinds[0]:
            raise DataError(f"a {this} record in a file of {kinds[0]} records", file=str(path), record=where)
        return _MODELS[this]

    items = read_records(path, pick)
    return kinds[0], items


def select_split(items: list[AnyLabel], split: str) -> list[AnyLabel]:
    """The records of one frozen split ('all' keeps everything)."""
    return items if split == "all" else [it for it in items if it.split == split]
