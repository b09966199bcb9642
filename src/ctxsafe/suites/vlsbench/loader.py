"""Load VLSBench from its release folder: `data.json` (a list of items with instruction_id,
instruction, image_path, category, sub_category, image_description, safety_reason) and `imgs/`.

Quirks of the release: `image_path` already includes the `imgs/` folder and is relative to the JSON
file; the hub copy ships the images as `imgs.tar` beside `data.json`, which is read in place (member
by member, nothing extracted) when there is no `imgs/` folder. Every item is unsafe (the image
carries the risk), so the suite is unsafe-only; the image
description and the safety reason go to the judge as reference material, never to the model.
"""

from __future__ import annotations

import tarfile
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from ctxsafe.errors import DataError
from ctxsafe.images import ImageStore, resolve_inside
from ctxsafe.schema import Case, ImagePart, Message
from ctxsafe.suites.records import read_items

SUITE = "vlsbench"
HF_DATASET = "Foreshhh/vlsbench"
FILE = "data.json"
ARCHIVE = "imgs.tar"
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


def _archive_image(archive: tarfile.TarFile, members: dict[str, tarfile.TarInfo], name: str, images: ImageStore,
                   blame: str) -> ImagePart:
    """One image from the release's tar, by its `image_path` (a plain file member, read in memory)."""
    member = members.get(name)
    if member is None:
        raise DataError(f"image {name!r} is not in {ARCHIVE}", file=blame)
    stream = archive.extractfile(member) if member.isfile() else None
    if stream is None:
        raise DataError(f"{name!r} in {ARCHIVE} is not a regular file", file=blame)
    return images.add_bytes(stream.read(), source=name, record=blame)


def load_vlsbench(root: Path, images: ImageStore) -> list[Case]:
    path = root / FILE if root.is_dir() else root
    if not path.is_file():
        raise DataError(f"VLSBench needs {FILE} in the data folder", file=str(path))
    tar = path.parent / ARCHIVE
    if not tar.is_file() or (path.parent / "imgs").is_dir():
        return _cases(path, images, None)
    try:
        with tarfile.open(tar) as archive:
            return _cases(path, images, archive)
    except tarfile.TarError as exc:
        raise DataError(f"cannot read {ARCHIVE}: {exc}", file=str(tar)) from exc


def _cases(path: Path, images: ImageStore, archive: tarfile.TarFile | None) -> list[Case]:
    cases: list[Case] = []
    members = {m.name.removeprefix("./"): m for m in archive.getmembers()} if archive is not None else {}
    for rec, iid, where in read_items(path, VlsRecord, "instruction_id"):
        blame = f"{path.name} {where}"
        if archive is not None:
            image = _archive_image(archive, members, rec.image_path, images, blame)
        else:
            image = images.add_file(resolve_inside(path.parent, rec.image_path, file=str(path), record=where),
                                    record=blame, source=rec.image_path)
        context = {k: v for k, v in (("image_description", rec.image_description),
                                     ("safety_reason", rec.safety_reason)) if v}
        cid = f"{SUITE}-{iid}"
        cases.append(Case(id=cid, suite=SUITE, context="unsafe", pair_id=cid, modality="image",
                          turns=(Message.user(rec.instruction),), context_images=(image,),
                          gold={"correct_labels": CORRECT_LABELS}, category=rec.category, task=rec.sub_category,
                          meta={"record": f"{path.name} {where}", "instruction_id": iid}, judge_context=context))
    return cases
