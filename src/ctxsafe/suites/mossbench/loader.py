"""Load MOSSBench from its release layout: `benign.json` and `contrast.json` keyed by pid, `images/`.

The contrast file reuses the benign item's pid and image, so a pid present in both is a real
safe/unsafe pair on the same image. Items whose image is missing in the release (`"image": null`)
cannot be asked as the benchmark intends; they are left out and counted, never silently dropped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from ctxsafe.errors import DataError
from ctxsafe.images import ImageStore, resolve_inside
from ctxsafe.jsonfile import read_json
from ctxsafe.schema import Case, Context, Message
from ctxsafe.suites.records import validate

SUITE = "mossbench"
HF_DATASET = "AIcell/MOSSBench"
SETTINGS = ("benign", "contrast", "pairs")
CORRECT_LABELS: dict[Context, list[int]] = {"safe": [2, 3], "unsafe": [0, 1]}


class _Meta(BaseModel):
    model_config = ConfigDict(extra="allow")
    over: str


class MossRecord(BaseModel):
    """One item of benign.json or contrast.json (extra fields kept: the release adds some over time)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)
    pid: str
    question: str
    image: str | None
    metadata: _Meta
    description: str | None = None


def _read(path: Path) -> dict[str, MossRecord]:
    raw = read_json(path)
    if not isinstance(raw, dict):
        raise DataError(f"expected an object keyed by pid, got {type(raw).__name__}", file=str(path))
    out: dict[str, MossRecord] = {}
    for key, obj in raw.items():
        rec = validate(MossRecord, obj, file=str(path), record=f"pid {key}")
        if rec.pid != key:
            raise DataError(f"item keyed {key!r} says pid {rec.pid!r}", file=str(path), record=f"pid {key}")
        if not rec.question.strip():
            raise DataError("empty question", file=str(path), record=f"pid {key}")
        out[key] = rec
    return out


def _case(root: Path, file: Path, rec: MossRecord, context: Context, setting: str, images: ImageStore) -> Case:
    assert rec.image is not None
    blame = f"{file.name} pid {rec.pid}"
    image = images.add_file(resolve_inside(root, rec.image, file=str(file), record=f"pid {rec.pid}"),
                            record=blame, source=rec.image)
    side = "benign" if context == "safe" else "contrast"
    extra: dict[str, Any] = {k: v for k, v in rec.metadata.model_dump().items() if k != "over"}
    return Case(id=f"{SUITE}-{rec.pid}-{side}", suite=SUITE, split=side, setting=setting, context=context,
                pair_id=f"{SUITE}-{rec.pid}", modality="image", turns=(Message.user(rec.question),),
                context_images=(image,), gold={"correct_labels": CORRECT_LABELS[context]},
                category=rec.metadata.over, task=side, meta={"record": blame, "pid": rec.pid, **extra},
                judge_context={"image_description": rec.description} if rec.description else {})


def load_mossbench(root: Path, setting: str, images: ImageStore) -> tuple[list[Case], dict[str, int]]:
    """The cases of a setting and how many items were left out for lack of an image, by file.

    `benign`: the benign items (the published over-refusal metric); `contrast`: the harmful contrast
    items (should be refused); `pairs`: the pids that have both, with their images, as twins.
    """
    if setting not in SETTINGS:
        raise DataError(f"unknown MOSSBench setting {setting!r}; known: {', '.join(SETTINGS)}")
    files = {"safe": root / "benign.json", "unsafe": root / "contrast.json"}
    sides: dict[str, list[Context]] = {"benign": ["safe"], "contrast": ["unsafe"], "pairs": ["safe", "unsafe"]}
    wanted = sides[setting]
    for ctx in wanted:
        if not files[ctx].is_file():
            raise DataError(f"MOSSBench {setting} needs {files[ctx].name} in the data folder", file=str(files[ctx]))
    recs = {ctx: _read(files[ctx]) for ctx in wanted}
    skipped = {files[ctx].name: sum(1 for r in recs[ctx].values() if r.image is None) for ctx in wanted}
    usable = {ctx: {pid: r for pid, r in recs[ctx].items() if r.image is not None} for ctx in wanted}
    if setting == "pairs":
        both = [pid for pid in usable["safe"] if pid in usable["unsafe"]]
        cases = [_case(root, files[ctx], usable[ctx][pid], ctx, setting, images) for pid in both for ctx in wanted]
    else:
        ctx = wanted[0]
        cases = [_case(root, files[ctx], r, ctx, setting, images) for r in usable[ctx].values()]
    if not cases:
        raise DataError(f"no usable MOSSBench items for setting {setting!r}", file=str(root))
    return cases, skipped
