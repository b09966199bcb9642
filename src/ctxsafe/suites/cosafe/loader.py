"""Load CoSafe from its release: one file per harm category (`<category>.json`) under `CoSafe datasets/`,
each line a JSON list of `{"role", "content"}` messages that ends with the attacking user turn.

Quirks of the release: the files are named `.json` but hold one dialogue per line (JSONL); the folder
name has a space and category names have commas (`drug_abuse,weapons,banned_substance`); the
repository root also holds `Single Prompt/`, the single-turn baselines (`load_single`: each line a JSON
list `[prompt, source index]`, one `<category>_select_100.json` per category, plus a second animal-abuse
file, `animal_abuse_1turn_select_100.json`, which is not read). `--data` may name the repository root,
the release folder of the setting, or one file. Text is kept
exactly as released (trailing spaces included). The earlier assistant turns are part of the attack
(they set up the coreference), so by default they are replayed verbatim and the model answers only
the final user turn.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ctxsafe.errors import DataError
from ctxsafe.schema import Case, Message

SUITE = "cosafe"
RELEASE_DIR = "CoSafe datasets"
SINGLE_DIR = "Single Prompt"
SINGLE_SUFFIX = "_select_100"
CORRECT_LABELS = [0, 1]


def _dialogue(obj: Any, file: str, where: str) -> tuple[list[str], list[str]]:
    """(user turns, fixed assistant replies) of one line; roles must alternate user/assistant, ending with user."""
    if not isinstance(obj, list) or not obj:
        raise DataError("each line must be a non-empty JSON list of messages", file=file, record=where)
    users: list[str] = []
    replies: list[str] = []
    for k, msg in enumerate(obj):
        if not isinstance(msg, dict) or not isinstance(msg.get("role"), str) or not isinstance(msg.get("content"), str):
            raise DataError(f"message {k + 1} must be an object with string role and content", file=file, record=where)
        want = "user" if k % 2 == 0 else "assistant"
        if msg["role"] != want:
            raise DataError(f"message {k + 1} has role {msg['role']!r}; expected {want!r} (turns alternate, "
                            "starting with the user)", file=file, record=where)
        (users if want == "user" else replies).append(msg["content"])
    if len(obj) % 2 == 0:
        raise DataError("the dialogue must end with a user turn for the model to answer", file=file, record=where)
    if not users[-1].strip():
        raise DataError("the final user turn is empty", file=file, record=where)
    return users, replies


def _files(root: Path, release_dir: str, keep: Callable[[Path], bool]) -> list[Path]:
    """The setting's files: under `release_dir` of the repository root, in a folder given directly, or one file."""
    folder = root / release_dir if (root / release_dir).is_dir() else root
    if not folder.is_dir():
        return [root]
    return sorted(p for p in folder.iterdir() if p.suffix in (".json", ".jsonl") and p.is_file() and keep(p))


def _records(path: Path) -> Iterator[tuple[int, Any]]:
    """(line number, parsed JSON) of each non-blank line of a one-record-per-line file."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read: {exc}", file=str(path)) from exc
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"invalid JSON at column {exc.colno}: {exc.msg}", file=str(path),
                            record=f"line {lineno}") from exc
        yield lineno, obj


def load_single(root: Path) -> list[Case]:
    """The Single Prompt baselines: each harmful request asked alone, in one turn (no coreference), so a run
    of this setting beside a `replayed` run shows what the multi-turn attack adds."""
    files = _files(root, SINGLE_DIR, lambda p: p.stem.endswith(SINGLE_SUFFIX) and "_1turn" not in p.stem)
    if not files:
        raise DataError(f"no CoSafe single-prompt files (<category>{SINGLE_SUFFIX}.json) in the data folder; "
                        f"give --data the repository root or its `{SINGLE_DIR}` folder", file=str(root))
    cases: list[Case] = []
    for path in files:
        category = path.stem.removesuffix(SINGLE_SUFFIX)
        seen: set[str] = set()
        for lineno, obj in _records(path):
            where = f"line {lineno}"
            if not (isinstance(obj, list) and len(obj) == 2 and isinstance(obj[0], str) and obj[0].strip()
                    and isinstance(obj[1], int) and not isinstance(obj[1], bool)):
                raise DataError("each line must be a JSON list [prompt, index] with a non-empty prompt and an "
                                "integer index", file=str(path), record=where)
            cid = f"{SUITE}-single-{category}-{obj[1]}"
            if cid in seen:
                raise DataError(f"index {obj[1]} appears twice in this file", file=str(path), record=where)
            seen.add(cid)
            cases.append(Case(id=cid, suite=SUITE, split=category, context="unsafe", pair_id=cid, modality="text",
                              turns=(Message.user(obj[0]),), gold={"correct_labels": CORRECT_LABELS},
                              category=category, task="single-prompt",
                              meta={"record": f"{path.name} {where}", "source_index": obj[1]}))
    if not cases:
        raise DataError("no prompts in the CoSafe single-prompt files", file=str(root))
    return cases


def load_cosafe(root: Path, replay: bool = True) -> list[Case]:
    """Every dialogue as a case; with `replay`, the released assistant turns are sent verbatim, else the
    model answers every user turn itself."""
    files = _files(root, RELEASE_DIR, lambda p: True)
    if not files:
        raise DataError("no CoSafe category files (*.json) in the data folder", file=str(root))
    cases: list[Case] = []
    for path in files:
        category = path.stem
        for lineno, obj in _records(path):
            where = f"line {lineno}"
            users, replies = _dialogue(obj, str(path), where)
            cid = f"{SUITE}-{category}-{lineno}"
            cases.append(Case(id=cid, suite=SUITE, split=category, context="unsafe", pair_id=cid, modality="text",
                              turns=tuple(Message.user(u) for u in users),
                              fixed_replies=(*replies, None) if replies and replay else (),
                              gold={"correct_labels": CORRECT_LABELS}, category=category, task="coreference",
                              meta={"record": f"{path.name} {where}"}))
    if not cases:
        raise DataError("no dialogues in the CoSafe files", file=str(root))
    return cases
