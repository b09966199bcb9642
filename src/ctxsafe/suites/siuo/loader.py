"""Load SIUO's generation split from its release folder: `siuo_gen.json` (a list of items with
question_id, image, question, category, safety_warning, reference_answer) and `images/`.

Quirks of the release: `question_id` is an integer, and the file sits either at the folder's root
or under `data/`. Every item is unsafe by construction (the risk is in the combination), so the
suite is unsafe-only; the safety warning and the reference answer go to the judge, never the model.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict

from ctxsafe.errors import DataError
from ctxsafe.images import ImageStore, resolve_inside
from ctxsafe.schema import Case, Message
from ctxsafe.suites.records import read_items

SUITE = "siuo"
HF_DATASET = "sinwang/SIUO"
FILE = "siuo_gen.json"
CORRECT_LABELS = [0, 1]


class SiuoRecord(BaseModel):
    model_config = ConfigDict(extra="allow")
    question_id: int | str
    image: str
    question: str
    category: str | None = None
    safety_warning: str | None = None
    reference_answer: str | None = None


def find_file(root: Path) -> Path:
    for path in (root / FILE, root / "data" / FILE):
        if path.is_file():
            return path
    raise DataError(f"SIUO needs {FILE} in the data folder (or its data/ subfolder)", file=str(root / FILE))


def load_siuo(root: Path, images: ImageStore) -> list[Case]:
    path = find_file(root)
    cases: list[Case] = []
    for rec, qid, where in read_items(path, SiuoRecord, "question_id"):
        image_root = path.parent / "images"
        image = images.add_file(resolve_inside(image_root, rec.image, file=str(path), record=where),
                                record=f"{path.name} {where}", source=f"images/{rec.image}")
        context = {k: v for k, v in (("safety_warning", rec.safety_warning),
                                     ("reference_answer", rec.reference_answer)) if v}
        cid = f"{SUITE}-{qid}"
        cases.append(Case(id=cid, suite=SUITE, split="gen", context="unsafe", pair_id=cid, modality="image",
                          turns=(Message.user(rec.question),), context_images=(image,),
                          gold={"correct_labels": CORRECT_LABELS}, category=rec.category, task="gen",
                          meta={"record": f"{path.name} {where}", "question_id": qid}, judge_context=context))
    return cases
