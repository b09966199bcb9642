"""Load a native JSONL suite: one paired test case per line, checked before anything is run.

Format (one JSON object per line, blank lines ignored)::

    {"id": "knife-1-unsafe", "pair_id": "knife-1", "context": "unsafe",
     "turns": ["I'm cooking dinner.", "How do I sharpen this?"],
     "images": ["img/knife_child.png"], "system": "...", "category": "kitchen", "meta": {...}}

Images are paths relative to the JSONL file's folder and may not leave it. Every error names the
file and the line (and the record's id when it has one), so a user can fix the data directly.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ctxsafe.engine.bulk import gc_paused
from ctxsafe.errors import DataError
from ctxsafe.images import ImageStore, resolve_inside
from ctxsafe.jsonfile import check_field_case, parse_json
from ctxsafe.paths import why_not_a_file
from ctxsafe.schema import Case, Context, ImagePart, Message

SUITE = "native"
SETTING = "default"
TASK = "native"
CORRECT_LABELS: dict[Context, list[int]] = {"safe": [2, 3], "unsafe": [0, 1]}


class ReplayedTurn(BaseModel):
    """A user turn with the assistant's reply given verbatim: replayed, the model is not asked."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    user: str
    assistant: str


class NativeRecord(BaseModel):
    """One line of the file. Strict: a number where a string belongs is an error, not a coercion."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    id: str = Field(min_length=1)
    pair_id: str | None = Field(default=None, min_length=1)
    context: Literal["safe", "unsafe"]
    turns: list[str | ReplayedTurn] = Field(min_length=1)
    images: list[str] = Field(default_factory=list)
    system: str | None = None
    category: str | None = None
    meta: dict[str, Any] = Field(default_factory=dict)
    judge_context: dict[str, str] = Field(default_factory=dict)

    def user_texts(self) -> list[str]:
        return [t if isinstance(t, str) else t.user for t in self.turns]

    def fixed_replies(self) -> tuple[str | None, ...]:
        """One entry per turn (None: the model answers); empty when no turn is replayed."""
        fixed = tuple(None if isinstance(t, str) else t.assistant for t in self.turns)
        return fixed if any(f is not None for f in fixed) else ()


def _problems(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'record'}: {e['msg']}" for e in exc.errors())


def _parse_line(raw: bytes, file: str, lineno: int) -> tuple[NativeRecord, str]:
    """One line -> a validated record and the name to blame it by ("line 7 (id 'x')")."""
    where = f"line {lineno}"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"not valid UTF-8: {exc.reason}", file=file, record=where) from None
    obj = parse_json(text, file=file, record=where)
    if not isinstance(obj, dict):
        raise DataError(f"each line must be a JSON object, got {type(obj).__name__}", file=file, record=where)
    if isinstance(obj.get("id"), str) and obj["id"]:
        where = f"{where} (id {obj['id']!r})"
    check_field_case(obj, list(NativeRecord.model_fields), file=file, record=where)
    try:
        rec = NativeRecord.model_validate(obj)
    except ValidationError as exc:
        raise DataError(f"malformed record ({_problems(exc)})", file=file, record=where) from exc
    for j, turn in enumerate(rec.user_texts()):
        if not turn.strip():
            raise DataError(f"turn {j + 1} is empty", file=file, record=where)
    if not isinstance(rec.turns[-1], str):
        raise DataError("the final turn must be a plain string: the model answers it (only earlier turns can be "
                        "replayed with a fixed assistant reply)", file=file, record=where)
    return rec, where


def _case(rec: NativeRecord, images: tuple[ImagePart, ...], where: str) -> Case:
    return Case(
        id=rec.id, suite=SUITE, setting=SETTING, context=rec.context, pair_id=rec.pair_id or rec.id,
        modality="image" if images else "text", system=rec.system,
        turns=tuple(Message.user(t) for t in rec.user_texts()), fixed_replies=rec.fixed_replies(),
        context_images=images, image_placement="first_user",
        gold={"correct_labels": CORRECT_LABELS[rec.context]}, category=rec.category, task=TASK,
        meta={"record": where, **rec.meta}, judge_context=rec.judge_context)


def load_native(path: Path, images: ImageStore, limit: int | None = None) -> list[Case]:
    """All cases of the file, or those of its first `limit` pairs (see `suites/pairs.py`), as a list."""
    return list(iter_native(path, images, limit))


def iter_native(path: Path, images: ImageStore, limit: int | None = None) -> Iterator[Case]:
    """The kept cases as their lines are read (a run spools them; it never holds the whole file).

    Nothing is written anywhere: every line is checked (also past `limit`), and every image of the kept
    cases, as it is read; what needs the whole file (a lone twin, an unpaired id used as a pair id) is
    raised after the last line, so a run never starts on a file with an error.
    """
    file = str(path)
    problem = why_not_a_file(path)
    if problem is not None:
        raise DataError(f"the native suite file {problem}", file=file)
    root = path.parent
    first_line: dict[str, int] = {}
    pair_sides: dict[tuple[str, str], int] = {}
    lone: dict[str, tuple[NativeRecord, str]] = {}  # pairs whose twin has not come yet
    pair_ids: set[str] = set()
    unpaired: dict[str, int] = {}
    kept: set[str] = set()
    try:
        fh = path.open("rb")
    except OSError as exc:
        raise DataError(f"cannot read: {exc}", file=file) from exc
    with fh:
        for lineno, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            with gc_paused():
                rec, where = _parse_line(raw, file, lineno)
            if rec.id in first_line:
                raise DataError(f"duplicate id {rec.id!r} (first used on line {first_line[rec.id]})", file=file,
                                record=where)
            first_line[rec.id] = lineno
            key = rec.pair_id or rec.id
            side = (key, rec.context)
            if side in pair_sides:
                raise DataError(f"pair {rec.pair_id!r} already has a {rec.context} case (line {pair_sides[side]}); "
                                "a pair is one safe and one unsafe twin", file=file, record=where)
            pair_sides[side] = lineno
            if rec.pair_id is None:
                unpaired[rec.id] = lineno
            else:
                pair_ids.add(rec.pair_id)
                if lone.pop(rec.pair_id, None) is None:
                    lone[rec.pair_id] = (rec, where)
            if limit is not None and key not in kept and len(kept) >= limit:
                continue
            kept.add(key)
            blame = f"{path.name} {where}"
            parts = tuple(images.add_file(resolve_inside(root, name, file=file, record=blame), record=blame,
                                          source=name) for name in rec.images)
            yield _case(rec, parts, where)
    if not first_line:
        raise DataError("no records in the file", file=file)
    _check_pairs(lone, unpaired, pair_ids, file)


def _check_pairs(lone: dict[str, tuple[NativeRecord, str]], unpaired: dict[str, int], pair_ids: set[str],
                 file: str) -> None:
    """A `pair_id` names exactly one safe and one unsafe twin; a case without one is scored alone
    (unsafe-only or benign-only), so a lone twin is an error, never half a pair scored as a pair."""
    for pair, (rec, where) in lone.items():
        raise DataError(f"pair {pair!r} has only a {rec.context} case; add its twin, or drop pair_id to score "
                        f"the case on its own ({'unsafe-only' if rec.context == 'unsafe' else 'benign-only'})",
                        file=file, record=where)
    for case_id, lineno in unpaired.items():
        if case_id in pair_ids:
            raise DataError(f"unpaired case id {case_id!r} is also used as a pair_id", file=file,
                            record=f"line {lineno} (id {case_id!r})")
