"""Load VLSBench from its release folder: `data.json` (a list of items with instruction_id,
instruction, image_path, category, sub_category, image_description, safety_reason) and `imgs/`.

Quirk of the release: `image_path` already includes the `imgs/` folder and is relative to the JSON
file. Every item is unsafe (the image carries the risk), so the suite is unsafe-only; the image
description and the safety reason go to the judge as reference material, never to the model.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from ctxsafe.errors import DataError
from ctxsafe.images import ImageStore, resolve_inside
from ctxsafe.jsonfile import read_json
from ctxsafe.schema import Case, Message

SUITE = "vlsbench"
HF_DATASET = "Foreshhh/vlsbench"
FILE = "data.json"
CORRECT_LABELS = [0, 1]


class VlsRecord(BaseModel):
    model_config = ConfigDict(extra="allow")
    instruction_id: int | str
    instruction: str
    image_path: str
    category: str | None = None
    sub_category: str | None = None
    image_description: str | None = None
    safety_reason: str | None = None


def load_vlsbench(root: Path, images: ImageStore) -> list[Case]:
    path = root / FILE if root.is_dir() else root
    if not path.is_file():
        raise DataError(f"VLSBench needs {FILE} in the data folder", file=str(path))
    raw = read_json(path)
    if not isinstance(raw, list):
        raise DataError(f"expected a list of items, got {type(raw).__name__}", file=str(path))
    cases: list[Case] = []
    seen: set[str] = set()
    for i, obj in enumerate(raw):
        where = f"item {i}" + (f" (instruction_id {obj.get('instruction_id')!r})" if isinstance(obj, dict) else "")
        try:
            rec = VlsRecord.model_validate(obj)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise DataError(f"malformed item ({problems})", file=str(path), record=where) from exc
        iid = str(rec.instruction_id)
        if iid in seen:
            raise DataError(f"duplicate instruction_id {iid}", file=str(path), record=where)
        seen.add(iid)
        image = images.add_file(resolve_inside(path.parent, rec.image_path, file=str(path), record=where),
                                record=f"{path.name} {where}", source=rec.image_path)
        context = {k: v for k, v in (("image_description", rec.image_description),
                                     ("safety_reason", rec.safety_reason)) if v}
        cid = f"{SUITE}-{iid}"
        cases.append(Case(id=cid, suite=SUITE, context="unsafe", pair_id=cid, modality="image",
                          turns=(Message.user(rec.instruction),), context_images=(image,),
                          gold={"correct_labels": CORRECT_LABELS}, category=rec.category, task=rec.sub_category,
                          meta={"record": f"{path.name} {where}", "instruction_id": iid}, judge_context=context))
    if not cases:
        raise DataError("no items in the file", file=str(path))
    return cases
