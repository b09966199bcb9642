"""Nothing is paid twice, and reports are cheap: cached re-runs and report time from the store.

(1) Run 5,000 two-turn dialogues through `ctxsafe run native` against the instant local server,
then (2) re-run the same command (a finished run: resume finds nothing to do) and (3) run the same
requests as a *new* run (every call answered from the shared request cache). Both re-runs must
make no model call and take under 10% of the original time. (4) Build a 100,000-case run in a
store through the store's own API (`ctxsafe.testing.synthetic_store`) and time `ctxsafe report` on
it (the terminal report: every metric recomputed from the store, the results file rewritten, the
tables printed; the run has planted errors, so the report exits 3 by design). Baselines from the same run:
`ctxsafe report` of a 1,000-case run (the fixed cost: imports, one query, the tables), and the run's
results computed in this process both ways: from the columns (`RunStore.case_facts`, what `report`
does) and from whole per-case objects (`RunStore.case_chunks`, the path before).

    .venv/bin/python benchmarks/bench_cache_and_report.py
    .venv/bin/python benchmarks/bench_cache_and_report.py --quick
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ctxsafe_args, dialogues, instant_server, machine, run_cli_in_process, verdict, write_jsonl
from ctxsafe.engine.bulk import gc_paused
from ctxsafe.engine.store import RunStore
from ctxsafe.exit_codes import ExitCode
from ctxsafe.metrics import accuracy
from ctxsafe.testing.synthetic_store import JUDGE, synthetic_run

CACHED_TARGET = 0.10
REPORT_TARGET_S = 5.0
SMALL_REPORT = 1000


def report(store: Path, run_id: str, out: Path) -> tuple[float, float]:
    """`ctxsafe report` of one run: wall and CPU seconds."""
    cpu = time.process_time()
    wall = run_cli_in_process(["report", run_id, "--store", str(store), "--out", str(out)],
                              expect=(0, ExitCode.FINISHED_WITH_ERRORS))  # the synthetic run plants errors
    return wall, time.process_time() - cpu


def results_both_ways(store: Path, run_id: str) -> tuple[float, float]:
    """Seconds to compute the run's accuracy from the store's columns, and from whole per-case objects."""
    st = RunStore(store, readonly=True)
    try:
        t0 = time.perf_counter()
        fast = accuracy.compute_scored([accuracy.score_facts(f) for f in st.case_facts(run_id, JUDGE)])
        t1 = time.perf_counter()
        with gc_paused():  # as the per-case readers ran
            slow = accuracy.compute_scored([accuracy.score(c, turns, judged)
                                            for cases, turns, judged in st.case_chunks(run_id, JUDGE) for c in cases])
        t2 = time.perf_counter()
    finally:
        st.close()
    if fast != slow:
        raise AssertionError("the two paths disagree")
    return t1 - t0, t2 - t1


def cached_reruns(n: int) -> bool:
    """The same command again and a new run answered from the cache: no call, under 10% of the original."""
    with tempfile.TemporaryDirectory(prefix="ctxsafe-bench-") as tmp, instant_server() as srv:
        work = Path(tmp)
        data = write_jsonl(dialogues(n), work / "suite.jsonl")
        store, out = work / "runs.sqlite", work / "out"
        first = run_cli_in_process(ctxsafe_args(data, srv.base_url, store, out))
        calls_first = srv.stats()["chat_completions"]
        srv.reset()
        again = run_cli_in_process(ctxsafe_args(data, srv.base_url, store, out))
        calls_again = srv.stats()["chat_completions"]
        srv.reset()
        cached = run_cli_in_process([*ctxsafe_args(data, srv.base_url, store, out), "--run-id", "fresh-run"])
        calls_cached = srv.stats()["chat_completions"]
        print(f"original run:              {first:7.2f} s  ({calls_first} model calls)")
        print(f"same command again:        {again:7.2f} s  ({calls_again} model calls)  "
              f"{again / first:.1%} of the original")
        print(f"new run, all from cache:   {cached:7.2f} s  ({calls_cached} model calls)  "
              f"{cached / first:.1%} of the original")
        ok = calls_again == 0 and calls_cached == 0 and max(again, cached) < CACHED_TARGET * first
        print(f"SUMMARY cached re-run: {max(again, cached) / first:.1%} of the original, 0 calls required, "
              f"target < {CACHED_TARGET:.0%}: {verdict(ok)}")
    return ok


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dialogues", type=int, default=5000)
    ap.add_argument("--report-cases", type=int, default=100000)
    ap.add_argument("--quick", action="store_true", help="1,000 dialogues and a 10,000-case report")
    ap.add_argument("--report-only", action="store_true", help="only the report of a big run")
    args = ap.parse_args()
    n = 1000 if args.quick else args.dialogues
    n_report = 10000 if args.quick else args.report_cases
    print(f"workload: {n} two-turn dialogues ({2 * n} calls), concurrency 64; report of {n_report} cases; "
          f"{machine()}")
    ok = args.report_only or cached_reruns(n)

    with tempfile.TemporaryDirectory(prefix="ctxsafe-bench-") as tmp:
        path = Path(tmp) / "big.sqlite"
        t0 = time.perf_counter()
        run_id = synthetic_run(path, "report-bench", n_report)
        synthetic_run(path, "report-small", SMALL_REPORT)
        built = time.perf_counter() - t0
        small_s, _ = report(path, "report-small", Path(tmp) / "out")
        report_s, report_cpu = report(path, run_id, Path(tmp) / "out")
        doc = json.loads((Path(tmp) / "out" / f"{run_id}.json").read_text())
        m = doc["metrics"]["outcomes"]
        assert m["cases"] == n_report, m
        columns_s, objects_s = results_both_ways(path, run_id)
        report_ok = report_s < REPORT_TARGET_S
        ok &= report_ok
        print(f"store of {n_report} cases built in {built:.1f} s; `ctxsafe report` on it took {report_s:.2f} s "
              f"(CPU {report_cpu:.2f} s; {m['correct']} correct, {m['error']} errors)")
        print(f"baseline: `ctxsafe report` of {SMALL_REPORT} cases {small_s:.2f} s -> {report_s / small_s:.1f}x the "
              f"time for {n_report // SMALL_REPORT}x the cases")
        print(f"the run's results in this process: from columns {columns_s:.2f} s, from per-case objects "
              f"{objects_s:.2f} s -> {objects_s / columns_s:.1f}x faster (same numbers)")
        print(f"SUMMARY report: {report_s:.2f} s for {n_report} cases, target < {REPORT_TARGET_S:.0f} s: "
              f"{verdict(report_ok)}")
    return 0 if ok else 2


if __name__ == "__main__":
    raise SystemExit(main())
