"""Reading a benchmark release's record files with errors that name the file and the record: shared
by the loaders of the added benchmarks (a generic layer; suites never import each other)."""

from __future__ import annotations

import csv
import importlib
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from ctxsafe.errors import ConfigError, DataError
from ctxsafe.jsonfile import read_json

M = TypeVar("M", bound=BaseModel)


def problems(exc: ValidationError) -> str:
    """A validation error as one line: `field: message; field: message`."""
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'record'}: {e['msg']}" for e in exc.errors())


def validate(model: type[M], obj: object, *, file: str, record: str) -> M:
    try:
        return model.model_validate(obj)
    except ValidationError as exc:
        raise DataError(f"malformed item ({problems(exc)})", file=file, record=record) from exc


def read_items(path: Path, model: type[M], id_field: str) -> list[tuple[M, str, str]]:
    """A JSON list of items -> (item, its id as text, where to blame it); ids must be unique."""
    raw = read_json(path)
    if not isinstance(raw, list):
        raise DataError(f"expected a list of items, got {type(raw).__name__}", file=str(path))
    out: list[tuple[M, str, str]] = []
    seen: set[str] = set()
    for i, obj in enumerate(raw):
        where = f"item {i}" + (f" ({id_field} {obj.get(id_field)!r})" if isinstance(obj, dict) else "")
        rec = validate(model, obj, file=str(path), record=where)
        rid = str(getattr(rec, id_field))
        if rid in seen:
            raise DataError(f"duplicate {id_field} {rid}", file=str(path), record=where)
        seen.add(rid)
        out.append((rec, rid, where))
    if not out:
        raise DataError("no items in the file", file=str(path))
    return out


def read_csv(path: Path, required: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    """The rows of a CSV file with a header, by line number; the required columns must be present."""
    try:
        text = path.read_text(encoding="utf-8-sig")  # a BOM from a spreadsheet re-save is not part of a name
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read: {exc}", file=str(path)) from exc
    reader = csv.DictReader(text.splitlines())
    missing = [c for c in required if c not in (reader.fieldnames or [])]
    if missing:
        raise DataError(f"missing column(s) {', '.join(missing)}; found {reader.fieldnames}", file=str(path))
    rows = [(lineno, {k: v or "" for k, v in row.items() if k is not None}) for lineno, row in
            enumerate(reader, start=2)]
    if not rows:
        raise DataError("no rows in the file", file=str(path))
    return rows


def read_parquet(path: Path) -> list[dict[str, Any]]:
    """The rows of a parquet file (a hub dataset's shard, or a local copy); pyarrow is optional, needed only here."""
    try:
        pq = importlib.import_module("pyarrow.parquet")
    except ImportError as exc:
        raise ConfigError(f"reading {path} needs pyarrow (pip install pyarrow), or convert it to JSONL") from exc
    try:
        rows: list[dict[str, Any]] = pq.read_table(path).to_pylist()
    except Exception as exc:
        raise DataError(f"cannot read parquet: {exc}", file=str(path)) from exc
    return rows
