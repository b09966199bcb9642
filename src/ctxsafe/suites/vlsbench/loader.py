"""Load VLSBench from its release folder: `data.json` (a list of items with instruction_id,
instruction, image_path, category, sub_category, image_description, safety_reason) and `imgs/`.

Quirk of the release: `image_path` already includes the `imgs/` folder and is relative to the JSON
file. Every item is unsafe (the image carries the risk), so the suite is unsafe-only; the image
description and the safety reason go to the judge as reference material, never to the model.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict

from ctxsafe.errors import DataError
from ctxsafe.images import ImageStore, resolve_inside
from ctxsafe.schema import Case, Message
from ctxsafe.suites.records import read_items

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
    cases: list[Case] = []
    for rec, iid, where in read_items(path, VlsRecord, "instruction_id"):
        image = images.add_file(resolve_inside(path.parent, rec.image_path, file=str(path), record=where),
                                record=f"{path.name} {where}", source=rec.image_path)
        context = {k: v for k, v in (("image_description", rec.image_description),
                                     ("safety_reason", rec.safety_reason)) if v}
        cid = f"{SUITE}-{iid}"
        cases.append(Case(id=cid, suite=SUITE, context="unsafe", pair_id=cid, modality="image",
                          turns=(Message.user(rec.instruction),), context_images=(image,),
                          gold={"correct_labels": CORRECT_LABELS}, category=rec.category, task=rec.sub_category,
                          meta={"record": f"{path.name} {where}", "instruction_id": iid}, judge_context=context))
    return cases
