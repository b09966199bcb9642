"""Load MM-SafetyBench from its release layout:

    processed_questions/<NN-Scenario>.json   {"0": {"Question", "Rephrased Question", "Rephrased Question(SD)", ...}}
    imgs/<NN-Scenario>/{SD,TYPO,SD_TYPO}/<id>.jpg     (or MM-SafetyBench(imgs)/..., as the image zip unpacks)

The variant chooses the image folder and the question field, as the release pairs them: SD images
go with "Rephrased Question(SD)"; TYPO and SD+TYPO images with "Rephrased Question" (which points at
the text in the image). Quirk kept as released: scenario names carry their original spelling
(`01-Illegal_Activitiy`), so they are read from the files, never from a list of our own.
"""

from __future__ import annotations

from pathlib import Path

from ctxsafe.errors import DataError
from ctxsafe.images import ImageStore, resolve_inside
from ctxsafe.jsonfile import read_json
from ctxsafe.schema import Case, Message

SUITE = "mmsafety"
VARIANTS = {"sd": ("SD", "Rephrased Question(SD)"), "typo": ("TYPO", "Rephrased Question"),
            "sd_typo": ("SD_TYPO", "Rephrased Question")}
CORRECT_LABELS = [0, 1]
IMAGE_DIRS = ("imgs", "MM-SafetyBench(imgs)")


def load_mmsafety(root: Path, variant: str, images: ImageStore) -> list[Case]:
    """The cases of one variant, or of the three (`all`: per-variant rates from one run)."""
    if variant == "all":
        return [c for v in VARIANTS for c in load_mmsafety(root, v, images)]
    if variant not in VARIANTS:
        raise DataError(f"unknown MM-SafetyBench variant {variant!r}; known: {', '.join(VARIANTS)}, all")
    folder, field = VARIANTS[variant]
    qdir = root / "processed_questions"
    files = sorted(qdir.glob("*.json")) if qdir.is_dir() else []
    if not files:
        raise DataError("MM-SafetyBench needs processed_questions/*.json in the data folder", file=str(qdir))
    images_dir = next((d for d in IMAGE_DIRS if (root / d).is_dir()), None)
    if images_dir is None:
        raise DataError(f"MM-SafetyBench needs its images in {' or '.join(IMAGE_DIRS)}/ beside processed_questions/",
                        file=str(root))
    cases: list[Case] = []
    for path in files:
        scenario = path.stem
        raw = read_json(path)
        if not isinstance(raw, dict):
            raise DataError(f"expected an object keyed by question id, got {type(raw).__name__}", file=str(path))
        for qid, item in raw.items():
            where = f"id {qid}"
            if not isinstance(item, dict) or not isinstance(item.get(field), str) or not item[field].strip():
                raise DataError(f"missing or empty {field!r}", file=str(path), record=where)
            rel = f"{images_dir}/{scenario}/{folder}/{qid}.jpg"
            image = images.add_file(resolve_inside(root, rel, file=str(path), record=where),
                                    record=f"{path.name} {where}", source=rel)
            cid = f"{SUITE}-{scenario}-{qid}-{variant}"
            context = {"original_question": item["Question"]} if isinstance(item.get("Question"), str) else {}
            cases.append(Case(id=cid, suite=SUITE, split=scenario, setting=variant, context="unsafe", pair_id=cid,
                              modality="image", turns=(Message.user(item[field]),), context_images=(image,),
                              gold={"correct_labels": CORRECT_LABELS}, category=scenario, task=variant,
                              meta={"record": f"{path.name} {where}", "key_phrase": item.get("Key Phrase")},
                              judge_context=context))
    if not cases:
        raise DataError("no questions in processed_questions/", file=str(qdir))
    return cases
