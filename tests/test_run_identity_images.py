"""Runs are identified by content: an image changed on disk under the same name never reuses old answers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from ctxsafe.cli import app
from ctxsafe.engine.store import RunStore
from ctxsafe.judges.learned import shipped_model
from ctxsafe.judges.measured import judge_note
from tests.mss_data import make_mss_dir, png


def cli(*args: str) -> Any:
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def run(data: Path, store: Path, *more: str) -> Any:
    return cli("run", "mssbench", "--data", str(data), "--model", "ref:always-comply", "--store", str(store),
               "--out", str(store.parent / "out"), "--no-progress", *more)


def run_ids(store: Path) -> list[str]:
    st = RunStore(store)
    try:
        return sorted(r.run_id for r in st.runs())
    finally:
        st.close()


def test_a_changed_image_under_the_same_name_is_a_new_run(tmp_path: Path) -> None:
    data = make_mss_dir(tmp_path / "data", n_chat=2, n_embodied=1)
    store = tmp_path / "s" / "runs.sqlite"
    res = run(data, store)
    assert res.exit_code == 0
    # every judged table is followed by its judge's measured agreement (or "not measured" for weights that have
    # not been measured yet) for the shipped weights' version
    note = judge_note("mss4:offline-learned", shipped_model().judge_version)
    assert " ".join(note.split()) in " ".join(res.output.split())
    [first] = run_ids(store)
    assert run(data, store).exit_code == 0
    assert run_ids(store) == [first]  # unchanged input resumes the same run
    (data / "chat" / "unsafe_0.png").write_bytes(png((1, 2, 3)))
    assert run(data, store).exit_code == 0
    ids = run_ids(store)
    assert len(ids) == 2 and first in ids


def test_an_explicit_run_id_with_a_changed_image_is_a_clear_error(tmp_path: Path) -> None:
    data = make_mss_dir(tmp_path / "data", n_chat=2, n_embodied=1)
    store = tmp_path / "s" / "runs.sqlite"
    assert run(data, store, "--run-id", "mine").exit_code == 0
    (data / "chat" / "safe_1.png").write_bytes(png((9, 9, 9)))
    res = run(data, store, "--run-id", "mine")
    assert res.exit_code == 2
    text = " ".join(res.output.split())
    assert "different input" in text and "safe_1.png" in text
    results = json.loads((store.parent / "out" / "mine.json").read_text())
    assert results["run_id"] == "mine"  # the finished run's results are untouched
