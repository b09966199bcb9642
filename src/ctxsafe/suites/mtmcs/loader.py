"""MTMCS rows -> linked safe/unsafe Cases, one pair per row x modality (x variant image).

Each case carries the three user turns, its image (attached to the latest user message on every
call, as the protocol says), and its intent-recognition probes: the multiple-choice items whose
`question_type` names its side, plus the true/false items on the unsafe side.
"""

from __future__ import annotations

import base64
import binascii
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from ctxsafe.errors import ConfigError, DataError
from ctxsafe.images import ImageStore, resolve_inside
from ctxsafe.schema import Case, Context, ImagePart, Message, Probe
from ctxsafe.suites.mtmcs import prompts
from ctxsafe.suites.mtmcs.rows import (
    MODALITY_PREFIX,
    SPLITS,
    Row,
    assemble_turns,
    mcq_gold,
    mcq_side,
    option_texts,
    validate_row,
)
from ctxsafe.suites.mtmcs.sources import RawData, RawRow

SUITE = "mtmcs"
MODALITIES = ("image", "text")
TYPE_OF_SPLIT = {"type_a": "A", "type_b": "B"}
RISK_TURN = {"type_a": 3, "type_b": 1}
"""The user turn where the unsafe twin's risk appears (escalation at turn 3, a context switch at turn 1);
guard evaluation measures when a guard fires against it."""


@dataclass(frozen=True)
class LoadOptions:
    splits: tuple[str, ...] = SPLITS
    modalities: tuple[str, ...] = MODALITIES
    variants: bool = False
    require_captions: bool = False
    limit: int | None = None

    def check(self) -> None:
        for s in self.splits:
            if s not in SPLITS:
                raise ConfigError(f"unknown MTMCS split {s!r}; choose from {', '.join(SPLITS)}")
        for m in self.modalities:
            if m not in MODALITIES:
                raise ConfigError(f"unknown modality {m!r}; choose from {', '.join(MODALITIES)}")
        if not self.splits or not self.modalities:
            raise ConfigError("choose at least one type and one modality")


# --------------------------------------------------------------------------- images


def _image_bytes(value: Any, *, file: str, record: str) -> tuple[bytes | None, str | None]:
    """(bytes, path) from the forms a row's image takes: {bytes, path}, raw bytes, a path, or a PIL image."""
    if value is None:
        return None, None
    if isinstance(value, bytes | bytearray):
        return bytes(value), None
    if isinstance(value, str):
        return None, value
    if isinstance(value, dict):
        data, path = value.get("bytes"), value.get("path")
        if isinstance(data, str):
            try:
                data = base64.b64decode(data, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise DataError("image 'bytes' is a string but not valid base64", file=file, record=record) from exc
        if data is not None and not isinstance(data, bytes | bytearray):
            raise DataError(f"image 'bytes' has type {type(data).__name__}", file=file, record=record)
        if path is not None and not isinstance(path, str):
            raise DataError(f"image 'path' has type {type(path).__name__}", file=file, record=record)
        return (bytes(data) if data is not None else None), path
    if hasattr(value, "save") and hasattr(value, "size"):  # a decoded PIL image from `datasets`
        buf = io.BytesIO()
        value.save(buf, format="PNG")
        return buf.getvalue(), getattr(value, "filename", None) or None
    raise DataError(f"unsupported image value of type {type(value).__name__}", file=file, record=record)


def load_image(value: Any, slot: str, raw: RawRow, images: ImageStore) -> ImagePart:
    """Register one image of a row; bad or missing images are DataErrors naming the file and the row."""
    data, path = _image_bytes(value, file=raw.file, record=raw.record)
    if data:
        # Unique per row and slot: hub rows may all carry the same bare file name in 'path'.
        return images.add_bytes(data, source=f"{raw.file}#{raw.data.get('id')}/{path or slot}", record=raw.record)
    if path:
        if raw.root is None:
            raise DataError(f"image {slot} is a path ({path!r}) but the rows came without a folder", file=raw.file,
                            record=raw.record)
        full = resolve_inside(raw.root, path, file=raw.file, record=raw.record)
        return images.add_file(full, record=raw.record, source=path)
    raise DataError(f"row has no {slot} (needed for the image modality)", file=raw.file, record=raw.record)


# --------------------------------------------------------------------------- cases


def _probes(row: Row, modality: str, side: Context, raw: RawRow) -> tuple[Probe, ...]:
    with_image = modality == "image"
    out: list[Probe] = []
    for j, item in enumerate(row.mcq(modality)):
        if mcq_side(item, file=raw.file, record=raw.record) != side:
            continue
        texts = option_texts(item)
        out.append(Probe(id=f"mcq{j}", kind="mcq", template=prompts.mcq_prompt(item.question, texts, with_image),
                         attach_images=with_image, gold=mcq_gold(item, file=raw.file, record=raw.record),
                         options=tuple(texts), meta={"question": item.question,
                                                     "question_type": item.question_type}))
    if side == "unsafe":
        for j, tf in enumerate(row.tf(modality)):
            out.append(Probe(id=f"tf{j}", kind="tf", template=prompts.tf_prompt(tf.question, with_image),
                             attach_images=with_image, gold=tf.ground_truth, meta={"question": tf.question}))
    return tuple(out)


class _Builder:
    def __init__(self, opts: LoadOptions, images: ImageStore, captions: dict[str, str] | None,
                 captions_file: str | None) -> None:
        self.opts, self.images, self.captions, self.captions_file = opts, images, captions, captions_file

    def caption(self, row: Row, raw: RawRow) -> str | None:
        caption = (self.captions or {}).get(str(row.id))
        if caption is None and self.opts.require_captions:
            where = f"caption file {self.captions_file}" if self.captions_file else "no caption file was given"
            raise DataError(f"faithful mode shows the judge a caption instead of the image, but there is none for "
                            f"row id {row.id} ({where}; pass --captions PATH)", file=raw.file, record=raw.record)
        return caption

    def row_cases(self, raw: RawRow) -> list[Case]:
        row = validate_row(raw.data, file=raw.file, record=raw.record)
        out: list[Case] = []
        for modality in self.opts.modalities:
            dialogue = row.dialogue(modality)
            if dialogue is None:
                raise DataError(f"row has no {MODALITY_PREFIX[modality]}_dialogue", file=raw.file, record=raw.record)
            turns = assemble_turns(raw.split, dialogue, file=raw.file, record=raw.record)
            variants: list[tuple[int, ImagePart | None]] = [(0, None)]
            caption = None
            if modality == "image":
                caption = self.caption(row, raw)
                variants = [(0, load_image(raw.data.get("image"), "image", raw, self.images))]
                if self.opts.variants:
                    extra = raw.data.get("variant_images") or []
                    if not isinstance(extra, list):
                        raise DataError("variant_images must be a list", file=raw.file, record=raw.record)
                    variants += [(k, load_image(v, f"variant_images[{k - 1}]", raw, self.images))
                                 for k, v in enumerate(extra, start=1)]
            for k, image in variants:
                pair = f"{raw.split}-{row.id}-{modality}" + (f"-v{k}" if k else "")
                for side in ("safe", "unsafe"):
                    ctx: Context = "safe" if side == "safe" else "unsafe"
                    out.append(Case(
                        id=f"{pair}-{side}", suite=SUITE, split=raw.split, setting="variant" if k else "original",
                        context=ctx, pair_id=pair, modality="image" if modality == "image" else "text",
                        system=None, turns=tuple(Message.user(t) for t in getattr(turns, side)),
                        context_images=(image,) if image is not None else (), image_placement="latest_user",
                        probes=_probes(row, modality, ctx, raw), gold={"type": TYPE_OF_SPLIT[raw.split],
                                                                        "risk_turn": RISK_TURN[raw.split]},
                        meta={"record": raw.record, "file": raw.file, "row_id": row.id,
                              "unsafe_intent": row.unsafe_intent, "caption": caption, "variant": k,
                              "fallbacks": list(turns.fallbacks)}))
        return out


def build_cases(raw: RawData, opts: LoadOptions, images: ImageStore) -> list[Case]:
    """All cases for the chosen types, modalities and images; any bad row stops the load with its name."""
    return list(iter_cases(raw, opts, images))


def iter_cases(raw: RawData, opts: LoadOptions, images: ImageStore) -> Iterator[Case]:
    """`build_cases` as a stream, a row's cases at a time: a run spools them as they come, so ~12,000
    dialogues are never all held as objects (the options are checked at once, the rows as they stream)."""
    opts.check()
    builder = _Builder(opts, images, raw.captions, raw.captions_file)

    def rows_cases() -> Iterator[Case]:
        for split in opts.splits:
            rows: Sequence[RawRow] = raw.rows.get(split, [])
            if not rows:
                raise DataError(f"no rows for split {split}", file=raw.source)
            seen: dict[str, str] = {}
            for r in rows[: opts.limit] if opts.limit is not None else rows:
                rid = str(r.data.get("id"))
                if rid in seen:
                    raise DataError(f"duplicate row id {rid} (also {seen[rid]})", file=r.file, record=r.record)
                seen[rid] = r.record
                yield from builder.row_cases(r)

    return rows_cases()
