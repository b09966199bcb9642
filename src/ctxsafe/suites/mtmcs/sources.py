"""Where MTMCS rows come from: the Hugging Face hub, or a local copy (folder, JSONL, JSON or parquet).

The dataset's license is unknown, so ctxsafe never ships or mirrors it: it reads the user's copy
or the hub. A local folder holds `type_a.*` / `type_b.*` row files (any of .jsonl, .json,
.parquet; hub-style shards like `data/type_a-00000-of-00001.parquet` too), image files referenced
by relative path, and optionally the caption file (`captions.json` or `MTMCS_Bench_captions.json`,
an object mapping row id to caption).
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ctxsafe.errors import ConfigError, CtxsafeError, DataError
from ctxsafe.jsonfile import read_json
from ctxsafe.suites.mtmcs.rows import SPLITS
from ctxsafe.suites.records import read_parquet

HF_PREFIX = "hf://"
DEFAULT_HF_DATASET = "ND-25/MCS-bench"
CAPTION_FILES = ("captions.json", "MTMCS_Bench_captions.json")
ROW_SUFFIXES = (".jsonl", ".json", ".parquet")


@dataclass(frozen=True)
class RawRow:
    """One row as read, with where it came from (for error messages) and the folder its paths live in."""

    split: str
    index: int
    data: dict[str, Any]
    file: str
    root: Path | None

    @property
    def record(self) -> str:
        return f"{self.split}[{self.index}] id={self.data.get('id', '?')}"


@dataclass
class RawData:
    rows: dict[str, list[RawRow]] = field(default_factory=dict)
    captions: dict[str, str] | None = None
    captions_file: str | None = None
    source: str = ""


# --------------------------------------------------------------------------- files


def _read_jsonl(path: Path) -> Iterator[Any]:
    try:
        with path.open(encoding="utf-8") as fh:
            for lineno, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as exc:
                    raise DataError(f"invalid JSON on line {lineno}: {exc.msg}", file=str(path),
                                    record=f"line {lineno}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot read: {exc}", file=str(path)) from exc


def _read_json(path: Path) -> list[Any]:
    data = read_json(path)
    if isinstance(data, dict) and isinstance(data.get("rows"), list):
        data = data["rows"]
    if not isinstance(data, list):
        raise DataError("a JSON row file must hold a list of rows (or {\"rows\": [...]})", file=str(path))
    return data


def read_row_file(path: Path) -> list[Any]:
    if path.suffix == ".jsonl":
        return list(_read_jsonl(path))
    if path.suffix == ".json":
        return _read_json(path)
    if path.suffix == ".parquet":
        return read_parquet(path)
    raise DataError(f"unsupported row file type {path.suffix!r}; use .jsonl, .json or .parquet", file=str(path))


def split_of(path: Path) -> str | None:
    name = path.name.lower()
    return next((s for s in SPLITS if name.startswith(s) or name.startswith(s.replace("_", "-"))), None)


def _split_files(root: Path) -> dict[str, list[Path]]:
    found: dict[str, list[Path]] = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.suffix in ROW_SUFFIXES and path.name not in CAPTION_FILES:
            split = split_of(path)
            if split is not None:
                found.setdefault(split, []).append(path)
    return found


def read_captions(path: Path) -> dict[str, str]:
    """`{"<row id>": "<caption>", ...}`; keys are compared as strings."""
    data = read_json(path)
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise DataError("the caption file must be a JSON object mapping row id to caption text", file=str(path))
    return {str(k): v for k, v in data.items()}


def read_local(path: Path, splits: tuple[str, ...]) -> RawData:
    """A folder (split files found by name, recursively) or a single row file named after its split."""
    out = RawData(source=str(path))
    if path.is_file():
        split = split_of(path)
        if split is None:
            raise DataError("a single row file must be named after its split (type_a.jsonl, type_b.parquet, ...)",
                            file=str(path))
        files = {split: [path]}
        root = path.parent
    elif path.is_dir():
        files = _split_files(path)
        root = path
    else:
        raise DataError(f"data path {path} does not exist", file=str(path))
    for split in splits:
        rows: list[RawRow] = []
        for f in files.get(split, []):
            for raw in read_row_file(f):
                if not isinstance(raw, dict):
                    raise DataError(f"row {len(rows)} is not an object", file=str(f), record=f"{split}[{len(rows)}]")
                rows.append(RawRow(split, len(rows), raw, str(f), root))
        if not rows and path.is_dir():
            raise DataError(f"no rows for split {split} (expected a file named {split}.jsonl, .json or .parquet)",
                            file=str(path))
        if rows:
            out.rows[split] = rows
    for name in CAPTION_FILES:
        if (root / name).is_file():
            out.captions = read_captions(root / name)
            out.captions_file = str(root / name)
            break
    return out


# --------------------------------------------------------------------------- hub


def read_hub(repo_id: str, splits: tuple[str, ...]) -> RawData:
    """Rows from the hub: through `datasets` when installed, else a snapshot read as a local folder."""
    try:
        datasets = importlib.import_module("datasets")  # optional; a hub snapshot works without it
    except ImportError:
        return read_local(_snapshot(repo_id), splits)
    out = RawData(source=f"{HF_PREFIX}{repo_id}")
    for split in splits:
        try:
            ds = datasets.load_dataset(repo_id, split=split)
        except Exception as exc:
            raise CtxsafeError(f"could not load {repo_id} split {split} from the Hugging Face hub: {exc}") from exc
        ds = _undecoded_images(ds, datasets)
        out.rows[split] = [RawRow(split, i, dict(r), f"{HF_PREFIX}{repo_id}/{split}", None)
                           for i, r in enumerate(ds)]
    return out


def _undecoded_images(ds: Any, datasets: Any) -> Any:
    """Keep image columns as their original bytes (no decode and re-encode), so hashes are the file's own."""
    for name, feat in ds.features.items():
        if isinstance(feat, datasets.Image):
            ds = ds.cast_column(name, datasets.Image(decode=False))
        elif isinstance(feat, datasets.Sequence) and isinstance(feat.feature, datasets.Image):
            ds = ds.cast_column(name, datasets.Sequence(datasets.Image(decode=False)))
        elif isinstance(feat, list) and feat and isinstance(feat[0], datasets.Image):
            ds = ds.cast_column(name, [datasets.Image(decode=False)])
    return ds


def _snapshot(repo_id: str) -> Path:
    try:
        from huggingface_hub import snapshot_download
    except ImportError as exc:
        raise ConfigError("loading from the hub needs huggingface_hub (pip install 'ctxsafe[hub]') "
                          "or datasets") from exc
    try:
        return Path(snapshot_download(repo_id=repo_id, repo_type="dataset"))
    except Exception as exc:
        raise CtxsafeError(f"could not download dataset {repo_id} from the Hugging Face hub: {exc}") from exc


def read_data(data: str, splits: tuple[str, ...]) -> RawData:
    """`hf://owner/name` (an empty name means the official dataset) or a local path."""
    if data.startswith(HF_PREFIX):
        return read_hub(data[len(HF_PREFIX):] or DEFAULT_HF_DATASET, splits)
    return read_local(Path(data), splits)
