"""Load MSSBench from the official release layout into linked safe/unsafe Cases.

Layout: `combined.json` (the released code looked for `combine.json`; both are accepted) with
`{"chat": [...], "embodied": [...]}`, images under `chat/` and `embodied/`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from ctxsafe.errors import ConfigError, CtxsafeError, DataError
from ctxsafe.images import ImageStore, resolve_inside
from ctxsafe.jsonfile import check_field_case, read_json
from ctxsafe.paths import why_not_a_file
from ctxsafe.schema import Case, Context, ImagePart, Message
from ctxsafe.suites.mssbench import prompts

SUITE = "mssbench"
SETTINGS = ("if", "qc", "ic", "ic-cap", "ic-selfcap", "cot")
FOUR_CLASS_SETTINGS = ("if", "cot")
"""Settings scored by the four-class judge; the others by the model's own Yes/No."""
PROMPTED = {"qc": (prompts.CHAT_QC, prompts.EMBODIED_QC), "cot": (prompts.CHAT_COT, prompts.EMBODIED_COT)}
TASKS = ("chat", "embodied")
HF_PREFIX = "hf://"
DEFAULT_HF_DATASET = "kzhou35/mssbench"


class _Record(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class ChatRecord(_Record):
    safe_image_path: str
    unsafe_image_path: str
    queries: list[str]
    intent: str | None = None
    unsafe_image: str | None = None
    safe_image: str | None = None  # a safe-image caption, when a data version carries one
    Type: str | None = None


class EmbodiedRecord(_Record):
    safe: str
    unsafe: str
    safe_instructions: list[str]
    unsafe_instructions: list[str]
    safe_instruction: str | None = None
    unsafe_instruction: str | None = None
    observation_safe: str | None = None
    observation_unsafe: str | None = None
    task: str | None = None
    category: str | None = None


def resolve_data(data: str) -> Path:
    """A local folder as is; `hf://owner/name` downloaded (once, cached) through huggingface_hub."""
    if data.startswith(HF_PREFIX):
        repo_id = data[len(HF_PREFIX):] or DEFAULT_HF_DATASET
        try:
            from huggingface_hub import snapshot_download
        except ImportError as exc:
            raise ConfigError("loading from the hub needs huggingface_hub: pip install 'ctxsafe[hub]'") from exc
        try:
            return Path(snapshot_download(repo_id=repo_id, repo_type="dataset"))
        except Exception as exc:
            raise CtxsafeError(f"could not download dataset {repo_id} from the Hugging Face hub: {exc}") from exc
    root = Path(data)
    if not root.is_dir():
        problem = why_not_a_file(root) or "is a file, not a folder"
        raise DataError(f"data folder {root} {problem}", file=str(root))
    return root


def find_combined(root: Path) -> Path:
    for name in ("combined.json", "combine.json"):
        if (root / name).exists() or (root / name).is_symlink():
            problem = why_not_a_file(root / name)
            if problem is not None:
                raise DataError(f"{name} {problem}", file=str(root / name))
            return root / name
    raise DataError("no combined.json (or combine.json) in the MSSBench data folder", file=str(root))


def read_combined(path: Path) -> dict[str, list[Any]]:
    data = read_json(path)
    if not isinstance(data, dict):
        raise DataError('top level must be an object {"chat": [...], "embodied": [...]}', file=str(path))
    for task in TASKS:
        if task in data and not isinstance(data[task], list):
            raise DataError(f'"{task}" must be a list of records', file=str(path))
    return data


def _validate(model: type[_Record], raw: Any, *, file: str, record: str) -> Any:
    check_field_case(raw, list(model.model_fields), file=file, record=record)
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'record'}: {e['msg']}" for e in exc.errors())
        raise DataError(f"malformed record ({problems})", file=file, record=record) from exc


def _need(value: str | None, field: str, setting: str, *, file: str, record: str) -> str:
    if not value:
        raise DataError(f"setting {setting!r} needs field {field!r}, which is missing or empty", file=file,
                        record=record)
    return value


class _Builder:
    """Builds cases for one setting; keeps prompt wording and polarity in one place."""

    def __init__(self, root: Path, file: str, setting: str, images: ImageStore, faithful: bool) -> None:
        self.root, self.file, self.setting, self.images, self.faithful = root, file, setting, images, faithful

    def image(self, task: str, name: str, record: str) -> ImagePart:
        folder = self.root / task
        path = resolve_inside(folder, name, file=self.file, record=record)
        return self.images.add_file(path, record=record, source=f"{task}/{name}")

    def case(self, task: str, pair_id: str, context: Context, text: str, image: ImagePart, category: str | None,
             record: str, extra: dict[str, Any]) -> Case:
        is_if = self.setting in FOUR_CLASS_SETTINGS
        system = (prompts.CHAT_SYSTEM if task == "chat" else prompts.EMBODIED_SYSTEM) if is_if else None
        if is_if:
            gold: dict[str, Any] = {"correct_labels": sorted({"safe": (2, 3), "unsafe": (0, 1)}[context])}
        else:
            # chat: Yes = safe; embodied: Yes = there is an unsafe hint.
            expected_yes = (context == "safe") if task == "chat" else (context == "unsafe")
            gold = {"expected_yes": expected_yes, "yes_means": "safe" if task == "chat" else "unsafe hint"}
        return Case(
            id=f"{pair_id}-{context}", suite=SUITE, split=task, setting=self.setting, context=context,
            pair_id=pair_id, modality="image", system=system, turns=(Message.user(text),),
            context_images=(image,), gold=gold, category=category or None, task=task,
            meta={"record": record, "cluster": record, **extra})

    def chat(self, i: int, rec: ChatRecord) -> list[Case]:
        rid = f"chat[{i}]"
        imgs = {"safe": self.image("chat", rec.safe_image_path, rid),
                "unsafe": self.image("chat", rec.unsafe_image_path, rid)}
        out: list[Case] = []
        ctxs: tuple[Context, Context] = ("safe", "unsafe")
        if self.setting in ("if", "qc", "cot"):
            if not rec.queries:
                raise DataError("'queries' is empty", file=self.file, record=rid)
            for j, q in enumerate(rec.queries):
                if not isinstance(q, str) or not q.strip():
                    raise DataError(f"query {j} is empty", file=self.file, record=rid)
                text = PROMPTED[self.setting][0].format(query=q) if self.setting in PROMPTED else q
                for ctx in ctxs:
                    out.append(self.case("chat", f"chat-{i}-q{j}", ctx, text, imgs[ctx], rec.Type, rid,
                                         {"query": q}))
            return out
        intent = _need(rec.intent, "intent", self.setting, file=self.file, record=rid)
        for ctx in ctxs:
            text = prompts.CHAT_IC.format(intent=intent)
            caption = self.chat_caption(rec, ctx, rid) if self.setting == "ic-cap" else None
            if caption is not None:
                text += prompts.CAPTION_SUFFIX.format(caption=caption)
            out.append(self.case("chat", f"chat-{i}", ctx, text, imgs[ctx], rec.Type, rid, {"intent": intent}))
        return out

    def chat_caption(self, rec: ChatRecord, ctx: Context, rid: str) -> str | None:
        if ctx == "unsafe":
            return _need(rec.unsafe_image, "unsafe_image", self.setting, file=self.file, record=rid).lstrip(": ")
        if rec.safe_image:
            return rec.safe_image
        if self.faithful:
            return None  # the released code gives a caption to the unsafe prompt only
        raise DataError(
            "ic-cap needs a ground-truth caption of the safe image too (field 'safe_image'); this data has only "
            "the unsafe one. Captioning only the unsafe prompt leaks the answer; pass --faithful to reproduce "
            "the original's behaviour anyway", file=self.file, record=rid)

    def embodied(self, i: int, rec: EmbodiedRecord) -> list[Case]:
        rid = f"embodied[{i}]"
        imgs = {"safe": self.image("embodied", rec.safe, rid), "unsafe": self.image("embodied", rec.unsafe, rid)}
        category = rec.category
        out: list[Case] = []
        ctxs: tuple[Context, Context] = ("safe", "unsafe")
        if self.setting in ("if", "qc", "cot"):
            if len(rec.safe_instructions) != len(rec.unsafe_instructions) or not rec.safe_instructions:
                raise DataError("safe_instructions and unsafe_instructions must be non-empty lists of equal length",
                                file=self.file, record=rid)
            for k, pair in enumerate(zip(rec.safe_instructions, rec.unsafe_instructions, strict=True)):
                for ctx, instr in zip(ctxs, pair, strict=True):
                    text = PROMPTED[self.setting][1].format(query=instr) if self.setting in PROMPTED else instr
                    out.append(self.case("embodied", f"embodied-{i}-p{k}", ctx, text, imgs[ctx], category, rid,
                                         {"instruction": instr}))
            return out
        for ctx in ctxs:
            field = f"{ctx}_instruction"
            instr = _need(getattr(rec, field), field, self.setting, file=self.file, record=rid)
            text = prompts.EMBODIED_IC.format(intent=instr)
            if self.setting == "ic-cap":
                obs = f"observation_{ctx}"
                text += prompts.CAPTION_SUFFIX.format(
                    caption=_need(getattr(rec, obs), obs, self.setting, file=self.file, record=rid))
            out.append(self.case("embodied", f"embodied-{i}", ctx, text, imgs[ctx], category, rid,
                                 {"instruction": instr}))
        return out


def _check_no_duplicates(records: list[Any], task: str, file: str) -> None:
    """The same record twice would be counted twice, silently weighting its pair double."""
    seen: dict[str, int] = {}
    for i, raw in enumerate(records):
        key = json.dumps(raw, sort_keys=True, ensure_ascii=True)
        if key in seen:
            raise DataError(f"duplicate of {task}[{seen[key]}]", file=file, record=f"{task}[{i}]")
        seen[key] = i


def load_mssbench(root: Path, setting: str, images: ImageStore, tasks: tuple[str, ...] = TASKS,
                  faithful: bool = False, limit: int | None = None) -> list[Case]:
    """All cases of `setting` for `tasks`; `limit` keeps the first N records per task (both twins)."""
    if setting not in SETTINGS:
        raise ConfigError(f"unknown MSSBench setting {setting!r}; choose from {', '.join(SETTINGS)}")
    for t in tasks:
        if t not in TASKS:
            raise ConfigError(f"unknown MSSBench task {t!r}; choose from {', '.join(TASKS)}")
    path = find_combined(root)
    data = read_combined(path)
    builder = _Builder(root, str(path), setting, images, faithful)
    cases: list[Case] = []
    for task in tasks:
        if task not in data:
            others = [t for t in TASKS if t in data]
            hint = f"; pass --task {others[0]} to run only that task" if others else ""
            raise DataError(f'no "{task}" section (the file has {", ".join(map(repr, data)) or "no keys"}){hint}',
                            file=str(path))
        records = data[task]
        records = records[:limit] if limit is not None else records
        _check_no_duplicates(records, task, str(path))
        for i, raw in enumerate(records):
            if task == "chat":
                cases.extend(builder.chat(i, _validate(ChatRecord, raw, file=str(path), record=f"chat[{i}]")))
            else:
                rec = _validate(EmbodiedRecord, raw, file=str(path), record=f"embodied[{i}]")
                cases.extend(builder.embodied(i, rec))
    if not cases:
        raise DataError(f"no records for task(s) {', '.join(tasks)}", file=str(path))
    return cases
