"""The MTMCS-Bench row schema (as on the Hugging Face hub) and the protocol's turn assembly.

A row holds one base image, a free-text unsafe intent, and for each modality (multimodal, and a
text-only rewrite) a dialogue with its safe and unsafe variants, four multiple-choice intent
questions and two true/false statements.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ctxsafe.errors import DataError
from ctxsafe.suites.mtmcs.prompts import LETTERS

SPLITS = ("type_a", "type_b")
SplitName = Literal["type_a", "type_b"]
MODALITY_PREFIX = {"image": "multimodal", "text": "unimodal"}


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


def _text(value: Any) -> Any:
    """Missing fields arrive as None from parquet/`datasets`; they are empty strings in the protocol."""
    return "" if value is None else value


class Dialogue(_Model):
    r1: str = ""
    unsafe_r1: str = ""
    safe_r1: str = ""
    r2: str = ""
    r3: str = ""
    unsafe_r3: str = ""
    safe_r3: str = ""

    _none_is_empty = field_validator("*", mode="before")(_text)


class McqItem(_Model):
    question: str = Field(min_length=1)
    question_type: str = Field(min_length=1)
    options: list[str] = Field(min_length=2, max_length=len(LETTERS))
    ground_truth: str

    @field_validator("ground_truth", mode="before")
    @classmethod
    def _gt_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class TfItem(_Model):
    question: str = Field(min_length=1)
    ground_truth: bool

    @field_validator("ground_truth", mode="before")
    @classmethod
    def _gt_bool(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip().lower() in ("true", "false"):
            return value.strip().lower() == "true"
        return value


class Row(_Model):
    id: int | str
    unsafe_intent: str = ""
    multimodal_dialogue: Dialogue | None = None
    multimodal_mcq: list[McqItem] = Field(default_factory=list)
    multimodal_tf: list[TfItem] = Field(default_factory=list)
    unimodal_dialogue: Dialogue | None = None
    unimodal_mcq: list[McqItem] = Field(default_factory=list)
    unimodal_tf: list[TfItem] = Field(default_factory=list)

    _none_is_empty = field_validator("unsafe_intent", mode="before")(_text)

    @field_validator("multimodal_mcq", "multimodal_tf", "unimodal_mcq", "unimodal_tf", mode="before")
    @classmethod
    def _none_is_no_items(cls, value: Any) -> Any:
        return [] if value is None else value

    def dialogue(self, modality: str) -> Dialogue | None:
        value: Dialogue | None = getattr(self, f"{MODALITY_PREFIX[modality]}_dialogue")
        return value

    def mcq(self, modality: str) -> list[McqItem]:
        value: list[McqItem] = getattr(self, f"{MODALITY_PREFIX[modality]}_mcq")
        return value

    def tf(self, modality: str) -> list[TfItem]:
        value: list[TfItem] = getattr(self, f"{MODALITY_PREFIX[modality]}_tf")
        return value


def validate_row(raw: Any, *, file: str, record: str) -> Row:
    """A Row, or a DataError naming the file, the record and every problem found."""
    if not isinstance(raw, dict):
        raise DataError(f"a row must be an object, got {type(raw).__name__}", file=file, record=record)
    try:
        return Row.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'row'}: {e['msg']}" for e in exc.errors())
        raise DataError(f"malformed row ({problems})", file=file, record=record) from exc


class Turns(BaseModel):
    """The user turns of both twins and the fields that had to fall back to the shared one."""

    model_config = ConfigDict(frozen=True)

    safe: tuple[str, str, str]
    unsafe: tuple[str, str, str]
    fallbacks: tuple[str, ...] = ()


def assemble_turns(split: str, d: Dialogue, *, file: str, record: str) -> Turns:
    """Type A twins differ at turn 3, Type B twins at turn 1; an empty safe_/unsafe_ field falls back.

    Type A: unsafe = r1, r2, unsafe_r3; safe = r1, r2, safe_r3 (empty -> r3).
    Type B: unsafe = unsafe_r1, r2, r3; safe = safe_r1, r2, r3 (empty -> r1).
    """
    fallbacks: list[str] = []

    def pick(field: str, shared: str) -> str:
        value: str = getattr(d, field)
        if value.strip():
            return value
        fallbacks.append(field)
        return getattr(d, shared)  # type: ignore[no-any-return]

    if split == "type_a":
        safe = (d.r1, d.r2, pick("safe_r3", "r3"))
        unsafe = (d.r1, d.r2, pick("unsafe_r3", "r3"))
    elif split == "type_b":
        safe = (pick("safe_r1", "r1"), d.r2, d.r3)
        unsafe = (pick("unsafe_r1", "r1"), d.r2, d.r3)
    else:
        raise DataError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}", file=file, record=record)
    for name, turns in (("safe", safe), ("unsafe", unsafe)):
        for i, text in enumerate(turns):
            if not text.strip():
                raise DataError(f"the {name} dialogue has an empty turn {i + 1} after the fallbacks "
                                f"(fields used: {', '.join(_fields(split, name, i))})", file=file, record=record)
    return Turns(safe=safe, unsafe=unsafe, fallbacks=tuple(fallbacks))


def _fields(split: str, side: str, i: int) -> list[str]:
    if split == "type_a":
        return [["r1"], ["r2"], [f"{side}_r3", "r3"]][i]
    return [[f"{side}_r1", "r1"], ["r2"], ["r3"]][i]


_LABELLED = re.compile(r"^\s*\(?([A-Z])\s*[.):]\s+")


def option_texts(item: McqItem) -> list[str]:
    """Options without a leading label ("B. text" -> "text") when the label matches its position."""
    out = []
    for i, opt in enumerate(item.options):
        m = _LABELLED.match(opt)
        out.append(opt[m.end():] if m and m.group(1) == LETTERS[i] else opt)
    return out


_GT_LETTER = re.compile(r"^\s*(?:option\s+)?\(?([A-Za-z])\)?\s*[.):]?\s*$", re.IGNORECASE)


def mcq_gold(item: McqItem, *, file: str, record: str) -> str:
    """The correct letter: a letter ("B", "(B)") or the exact text of one option, else a DataError."""
    n = len(item.options)
    m = _GT_LETTER.match(item.ground_truth)
    if m:
        letter = m.group(1).upper()
        if LETTERS.index(letter) < n:
            return letter
    texts = option_texts(item)
    gt = item.ground_truth.strip().lower()
    hits = [LETTERS[i] for i, t in enumerate(texts) if t.strip().lower() == gt]
    if len(hits) == 1:
        return hits[0]
    lead = _LABELLED.match(item.ground_truth)
    if lead and LETTERS.index(lead.group(1)) < n:
        return lead.group(1)
    raise DataError(f"MCQ ground_truth {item.ground_truth!r} is neither a letter A-{LETTERS[n - 1]} nor the "
                    f"text of exactly one option", file=file, record=record)


def mcq_side(item: McqItem, *, file: str, record: str) -> Literal["safe", "unsafe"]:
    """Which transcript an MCQ is asked about: by its question_type prefix."""
    qt = item.question_type.strip().lower()
    if qt.startswith("unsafe"):
        return "unsafe"
    if qt.startswith("safe"):
        return "safe"
    raise DataError(f"MCQ question_type {item.question_type!r} starts with neither 'safe' nor 'unsafe'",
                    file=file, record=record)
