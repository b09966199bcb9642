"""Per-case export (CSV, JSONL, Parquet) and the notebook entry point `cases_frame`.

    >>> from ctxsafe.report.export import cases_frame
    >>> df = cases_frame(".ctxsafe/runs.sqlite")            # every run in the store
    >>> df[(df.context == "unsafe") & (df.correct == False)]  # the risks a model missed

Columns are `ctxsafe.report.cases.COLUMNS`; one row per case, step and judge role.
pandas and pyarrow are optional extras (`ctxsafe[pandas]`, `ctxsafe[parquet]`), imported only here.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ctxsafe.engine.store import RunStore
from ctxsafe.errors import ConfigError
from ctxsafe.report.cases import COLUMNS
from ctxsafe.report.run_view import SuiteLookup, load_view

if TYPE_CHECKING:
    import pandas

FORMATS = ("csv", "jsonl", "parquet")


def export_format(path: Path, fmt: str | None) -> str:
    """The format asked for, else the file's suffix."""
    name = (fmt or path.suffix.lstrip(".")).lower()
    if name not in FORMATS:
        raise ConfigError(f"cannot tell the export format of {path}; use a .csv, .jsonl or .parquet file "
                          "or --format")
    return name


def store_rows(store: RunStore, run_ids: Sequence[str] | None = None,
               judge: str | None = None, *, suites: SuiteLookup) -> Iterator[dict[str, Any]]:
    """The rows of the runs named (default: every run in the store), in order."""
    ids = list(run_ids) if run_ids else [info.run_id for info in store.runs()]
    for run_id in ids:
        yield from load_view(store, run_id, judge, suites=suites).rows()


def _csv_value(v: Any) -> Any:
    return "" if v is None else v


def write_rows(rows: Iterable[dict[str, Any]], path: Path, fmt: str) -> int:
    """Write rows in `fmt`; returns how many. Text is written exactly (CSV quoting, JSON escaping)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    if fmt == "parquet":
        pa, pq = _pyarrow()
        data = list(rows)
        table = pa.Table.from_pylist(data, schema=_arrow_schema(pa)) if data else _arrow_schema(pa).empty_table()
        pq.write_table(table, path)
        return len(data)
    with path.open("w", encoding="utf-8", newline="") as fh:
        if fmt == "csv":
            w = csv.DictWriter(fh, fieldnames=COLUMNS)
            w.writeheader()
            for row in rows:
                w.writerow({k: _csv_value(row.get(k)) for k in COLUMNS})
                n += 1
        else:
            for row in rows:
                fh.write(json.dumps({k: row.get(k) for k in COLUMNS}, ensure_ascii=False) + "\n")
                n += 1
    return n


def _pyarrow() -> tuple[Any, Any]:
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError:
        raise ConfigError("Parquet export needs pyarrow: pip install 'ctxsafe[parquet]' "
                          "(or export to .csv / .jsonl)") from None
    return pyarrow, pyarrow.parquet


_INTS = {"turn", "input_tokens", "output_tokens", "label"}
_FLOATS = {"score", "cost_usd"}
_BOOLS = {"truncated", "correct", "cached", "judge_cached"}


def _arrow_schema(pa: Any) -> Any:
    def typ(col: str) -> Any:
        if col in _INTS:
            return pa.int64()
        if col in _FLOATS:
            return pa.float64()
        if col in _BOOLS:
            return pa.bool_()
        return pa.string()

    return pa.schema([(c, typ(c)) for c in COLUMNS])


def cases_frame(store: str | Path, run_ids: Sequence[str] | None = None, judge: str | None = None) -> pandas.DataFrame:
    """Every case of the runs named (default: all runs) as a pandas DataFrame, one row per case, step and
    judge role, computed from the store alone; `judge` picks which stored judgements to use."""
    try:
        import pandas as pd
    except ImportError:
        raise ConfigError("cases_frame needs pandas: pip install 'ctxsafe[pandas]'") from None
    from ctxsafe.suites.registry import get_suite  # the notebook's entry point wires the suites in, as the CLI does
    path = Path(store)
    if not path.exists():
        raise ConfigError(f"no run store at {path}")
    st = RunStore(path)
    try:
        rows = list(store_rows(st, run_ids, judge, suites=get_suite))
    finally:
        st.close()
    frame = pd.DataFrame.from_records(rows, columns=list(COLUMNS))
    for col in _INTS:
        frame[col] = frame[col].astype("Int64")
    for col in _BOOLS:
        frame[col] = frame[col].astype("boolean")
    return frame
