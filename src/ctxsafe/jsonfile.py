"""Reading JSON data with errors that name the file and the record at fault, never a traceback.

One strict parser for every loader: a UTF-8 BOM is accepted, while duplicate keys, nesting too deep
to parse and lone UTF-16 surrogates (escapes like \\ud800, which are not text) are refused, because
each would otherwise load silently as something the author did not write.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ctxsafe.errors import DataError
from ctxsafe.paths import explain_unreadable

_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_SURROGATE = re.compile("[\ud800-\udfff]")


class _DuplicateKeyError(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise _DuplicateKeyError(key)
        obj[key] = value
    return obj


def _lone_surrogate(value: Any) -> str | None:
    """The first string (or key) holding a lone surrogate, walking iteratively (no recursion limit)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return item
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return None


def parse_json(text: str, *, file: str, record: str | None = None) -> Any:
    """Parse one JSON document strictly; every problem is a DataError naming `file` (and `record`)."""
    try:
        value = json.loads(text.removeprefix("\ufeff"), object_pairs_hook=_no_duplicates)
    except _DuplicateKeyError as exc:
        raise DataError(f"duplicate key {exc.args[0]!r} in one JSON object (the later value would silently "
                        "win)", file=file, record=record) from None
    except json.JSONDecodeError as exc:
        at = f"line {exc.lineno} column {exc.colno}" if record is None else f"column {exc.colno}"
        raise DataError(f"invalid JSON at {at}: {exc.msg}", file=file, record=record) from None
    except RecursionError:
        raise DataError("JSON nested too deeply to load", file=file, record=record) from None
    if _SURROGATE_ESCAPE.search(text):
        bad = _lone_surrogate(value)
        if bad is not None:
            raise DataError(f"text {bad[:60]!r} holds a lone UTF-16 surrogate escape, which is not valid "
                            "Unicode", file=file, record=record)
    return value


def read_json(path: Path) -> Any:
    """The parsed document; a missing, unreadable or malformed file is a DataError naming it."""
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(f"not valid UTF-8 at byte {exc.start}: {exc.reason}", file=str(path)) from None
    except OSError as exc:
        raise DataError(f"cannot read: {explain_unreadable(path, exc)}", file=str(path)) from None
    return parse_json(text, file=str(path))


def check_field_case(raw: Any, fields: Sequence[str], *, file: str, record: str) -> None:
    """Field names are case-sensitive: `Safe_image_path` or `type` for `Type` would load as an unknown field
    and the real one would silently be missing or default."""
    if not isinstance(raw, dict):
        return
    lower = {f.lower(): f for f in fields}
    for key in raw:
        if isinstance(key, str) and key not in fields and key.lower() in lower:
            raise DataError(f"field {key!r} should be spelled {lower[key.lower()]!r} (field names are "
                            "case-sensitive)", file=file, record=record)
