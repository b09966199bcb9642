"""A run is read a chunk at a time (flat memory at any size): the chunked readers and the lazy worker pool
give exactly what whole-run reads give, across chunk boundaries."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from ctxsafe.engine import runner
from ctxsafe.engine import store as store_module
from ctxsafe.engine.runner import run_pool
from ctxsafe.engine.store import RunStore
from ctxsafe.report.document import results_document
from ctxsafe.suites.registry import get_suite
from ctxsafe.testing.synthetic_store import JUDGE, synthetic_run


def test_case_chunks_equal_whole_run_reads(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite"
    synthetic_run(path, "r", 200)
    st = RunStore(path, readonly=True)
    try:
        chunks = list(st.case_chunks("r", JUDGE, size=7))
        assert [len(c) for c, _, _ in chunks] == [7] * 28 + [4]
        assert [c for chunk, _, _ in chunks for c in chunk] == st.cases("r")
        turns: dict[tuple[str, str], object] = {}
        judged: dict[tuple[str, str], object] = {}
        for chunk, t, j in chunks:
            ids = {c.id for c in chunk}
            assert {k[0] for k in t} <= ids and {k[0] for k in j} <= ids
            turns |= t
            judged |= j
        assert turns == st.turns("r")
        assert judged == st.judgements("r", *JUDGE)
        assert all(j == {} for _, _, j in st.case_chunks("r", None, size=50))
    finally:
        st.close()


def test_results_do_not_depend_on_the_chunk_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "runs.sqlite"
    synthetic_run(path, "r", 300)
    st = RunStore(path, readonly=True)
    try:
        whole = results_document(st, get_suite("native"), "r")
        monkeypatch.setattr(store_module, "CHUNK", 11)
        chunked = results_document(st, get_suite("native"), "r")
    finally:
        st.close()
    assert chunked == whole
    assert whole["metrics"]["outcomes"]["cases"] == 300 and whole["metrics"]["outcomes"]["error"] > 0


def test_the_pool_pulls_lazily_and_bounds_what_is_in_flight() -> None:
    pulled = 0
    in_flight = 0
    most = 0
    seen: list[int] = []
    pulled_at_first_finish: list[int] = []

    def items() -> Iterator[int]:
        nonlocal pulled
        for i in range(100):
            pulled += 1
            yield i

    async def work(i: int) -> None:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        in_flight -= 1
        if not pulled_at_first_finish:
            pulled_at_first_finish.append(pulled)
        seen.append(i)

    asyncio.run(run_pool(items(), work, 8))
    assert sorted(seen) == list(range(100))
    assert most == 8
    assert pulled_at_first_finish == [8]  # nothing read ahead of the free workers


def test_judging_a_run_in_small_chunks_resumes_exactly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Judging skips what is already judged and judges the rest, whichever chunk each case falls in."""
    from ctxsafe.judges.four_class import FourClassOfflineJudge

    class FreshJudge(FourClassOfflineJudge):
        prompt_version = "streaming-test"  # not the synthetic run's stored judge

    path = tmp_path / "runs.sqlite"
    synthetic_run(path, "r", 60)
    monkeypatch.setattr(runner, "CHUNK", 7)
    st = RunStore(path)
    try:
        cases = st.cases("r")
        judge = FreshJudge()
        first = asyncio.run(runner.judge_run(st, "r", cases[:30], judge))
        second = asyncio.run(runner.judge_run(st, "r", cases, judge))
        answered = sum(1 for t in st.turns("r").values() if t.outcome == "ok")
        assert first.already_done == 0 and first.new_steps == sum(
            1 for c in cases[:30] if st.turns("r")[(c.id, "t1")].outcome == "ok")
        assert second.already_done == first.new_steps and second.already_done + second.new_steps == answered
        assert len(st.judgements("r", judge.judge_id, judge.prompt_version)) == answered
    finally:
        st.close()


def test_cost_read_from_the_store_equals_cost_from_every_case_row(tmp_path: Path) -> None:
    """The terminal report prices the store's per-step token sums; the HTML report has every case's rows:
    both give the same calls, tokens and cost per role (the cost as written: summing first may move the
    unrounded float in its last bit)."""
    from ctxsafe.report.browser_data import RunRows
    from ctxsafe.report.run_view import load_view
    from ctxsafe.report.summary import cost_by_role, view_cost

    path = tmp_path / "runs.sqlite"
    synthetic_run(path, "r", 120, model="openai:gpt-4o-mini")
    st = RunStore(path, readonly=True)
    try:
        view = load_view(st, "r", suites=get_suite)
        expected = cost_by_role(RunRows.load(view))
        fast = view_cost(view)
        assert {r: c.as_dict() for r, c in fast.items()} == {r: c.as_dict() for r, c in expected.items()}
        assert abs(fast["model"].cost - expected["model"].cost) < 1e-15
        assert expected["model"].calls == 120
    finally:
        st.close()


@pytest.mark.parametrize(("suite", "data", "extra"), [("cosafe", "cosafe", ()), ("xstest", "xstest", ()),
                                                      ("mmsafety", "mmsafety", ("--setting", "all"))])
def test_benchmark_rates_do_not_depend_on_the_chunk_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         suite: str, data: str, extra: tuple[str, ...]) -> None:
    """A published benchmark's rates (per side, per turn for a multi-turn rubric) read the run a chunk at a time."""
    from typer.testing import CliRunner

    from ctxsafe.cli import app

    path = tmp_path / "runs.sqlite"
    res = CliRunner().invoke(app, ["run", suite, "--data", str(Path(__file__).parent / "data" / data), *extra,
                                   "--model", "ref:always-comply", "--no-progress", "--store", str(path),
                                   "--out", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    st = RunStore(path, readonly=True)
    try:
        [info] = st.runs()
        whole = results_document(st, get_suite(suite), info.run_id)
        monkeypatch.setattr(store_module, "CHUNK", 1)
        chunked = results_document(st, get_suite(suite), info.run_id)
    finally:
        st.close()
    assert json.dumps(chunked, sort_keys=True) == json.dumps(whole, sort_keys=True)  # NaN shares compare as text
    assert whole["metrics"]["published"]["sides"], whole["metrics"]
