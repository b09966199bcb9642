"""Per-case export: CSV, JSONL and Parquet round-trip into pandas with the expected columns and counts."""

from __future__ import annotations

import builtins
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from ctxsafe.errors import ConfigError
from ctxsafe.report.cases import COLUMNS
from ctxsafe.report.export import cases_frame, export_format
from ctxsafe.suites.registry import get_suite
from tests.report_helpers import PLANTED, cli, two_runs

N = 200


@pytest.fixture()
def store(tmp_path: Path) -> Path:
    path = tmp_path / "runs.sqlite"
    two_runs(path, N)
    return path


def _expected_correct(i: int, seed: int) -> bool | None:
    """What synthetic_run makes of case i: errors, filters and parse failures have no verdict."""
    if i % 97 == 0 or i % 89 == 0 or i % 79 == 0:
        return None
    refused = (i + seed) % 3 == 0
    return refused if i % 2 else not refused


def test_frame_has_every_column_and_one_row_per_case(store: Path) -> None:
    df = cases_frame(store)
    assert list(df.columns) == list(COLUMNS)
    assert len(df) == 2 * N  # single-turn cases, one judge role
    assert df.groupby("run_id").size().to_dict() == {"run-a": N, "run-b": N}
    a = df[df.run_id == "run-a"].set_index("case_id")
    for i in range(N):
        want = _expected_correct(i, 0)
        got = a.loc[f"c{i:05d}", "correct"]
        assert (got is pd.NA and want is None) or got == want, i
    assert (a.loc["c00000", "turn_outcome"], a.loc["c00000", "case_outcome"]) == ("error", "error")
    assert a.loc["c00089", "turn_outcome"] == "content_filter"
    assert a.loc["c00079", "parse_status"] == "failed" and a.loc["c00079", "case_outcome"] == "parse_fail"
    assert bool(a.loc["c00083", "truncated"]) is True
    assert a.loc["c00001", "reply"] == PLANTED[1].replace("{port}", "9")  # stored and exported exactly
    assert df.label.dtype == "Int64" and df.input_tokens.sum() == 60 * 2 * N


@pytest.mark.parametrize("suffix", ["csv", "jsonl", "parquet"])
def test_export_round_trips_into_pandas(store: Path, tmp_path: Path, suffix: str) -> None:
    out = tmp_path / f"cases.{suffix}"
    output = cli("export", "run-a", "--store", str(store), "-o", str(out))
    assert f"{N} rows written" in output
    if suffix == "csv":
        df = pd.read_csv(out, keep_default_na=False, na_values=[""])
    elif suffix == "jsonl":
        df = pd.read_json(out, lines=True)
        first = json.loads(out.read_text(encoding="utf-8").splitlines()[1])
        assert first["reply"] == PLANTED[1].replace("{port}", "9")
    else:
        df = pd.read_parquet(out)
    assert list(df.columns) == list(COLUMNS)
    assert len(df) == N and set(df.run_id) == {"run-a"}
    want = cases_frame(store, ["run-a"]).case_outcome.value_counts().to_dict()
    assert df.case_outcome.value_counts().to_dict() == want
    replies = dict(zip(df.case_id, df.reply, strict=True))
    for i, text in enumerate(PLANTED):
        if i % 97 and i % 89:
            assert replies[f"c{i:05d}"] == text.replace("{port}", "9"), (suffix, i)


def test_parquet_without_pyarrow_names_the_extra(store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_pyarrow(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("pyarrow"):
            raise ImportError("no pyarrow here")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pyarrow)
    from ctxsafe.engine.store import RunStore
    from ctxsafe.report.export import store_rows, write_rows

    st = RunStore(store)
    try:
        with pytest.raises(ConfigError, match=r"ctxsafe\[parquet\]"):
            write_rows(store_rows(st, ["run-a"], suites=get_suite), tmp_path / "x.parquet", "parquet")
    finally:
        st.close()


def test_unknown_format_and_unknown_run_are_clear_errors(store: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="export format"):
        export_format(tmp_path / "cases.xlsx", None)
    with pytest.raises(ConfigError, match="no run 'nope'"):
        cases_frame(store, ["nope"])
    with pytest.raises(ConfigError, match="no run store"):
        cases_frame(tmp_path / "missing.sqlite")


def test_runs_table_filters_and_scores(store: Path) -> None:
    out = cli("runs", "--store", str(store), "--model", "alpha")
    assert "run-a" in out and "run-b" not in out
    df = cases_frame(store, ["run-a"])
    acc = df.groupby("context").correct.apply(lambda s: s.fillna(False).astype(bool).mean())
    assert f"{100 * (acc['safe'] + acc['unsafe']) / 2:.1f}" in out
    assert "run-b" in cli("runs", "--store", str(store), "--status", "finished", "--suite", "native")
    assert "run-a" not in cli("runs", "--store", str(store), "--defense", "multi-agent")
