"""Reading a JSON data file with errors that name the file and the position at fault."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ctxsafe.errors import DataError


def read_json(path: Path) -> Any:
    """The parsed document; a missing, unreadable or malformed file is a DataError naming it."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}", file=str(path)) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read: {exc}", file=str(path)) from exc
