"""How quickly a big HTML report is built, and how quickly it becomes interactive in a real headless Chromium.

Builds a 200-case run (the baseline) and a 20,000-case run in one store, writes both reports (the
`ctxsafe report --html` data path: the run's view, every case's rows, the page), opens each in
Chromium and reads the time from navigation start until the dialogue browser has rendered its first
page (`document.body.dataset.readyMs`). Prints the build times (wall and CPU, and per 1,000 cases),
the load times and their ratios; the point of the design (data embedded once, rendered 20 pairs at a
time) is that the load ratio stays far below the 100x growth in cases, and that the build grows no
faster than the cases.

    .venv/bin/python benchmarks/bench_report_html.py
    .venv/bin/python benchmarks/bench_report_html.py --cases 50000
    .venv/bin/python benchmarks/bench_report_html.py --no-browser     # the build only
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from ctxsafe.engine.store import RunStore
from ctxsafe.report.browser_data import RunRows
from ctxsafe.report.html_page import build_html, write_html
from ctxsafe.report.run_view import load_view
from ctxsafe.suites.registry import get_suite
from ctxsafe.testing.cdp import chromium_page, find_chromium
from ctxsafe.testing.synthetic_store import synthetic_run


def build(store: Path, run_id: str, out: Path) -> tuple[float, float, int]:
    """Wall and CPU seconds to compute and write the report from the store, and its size in bytes."""
    start, cpu = time.perf_counter(), time.process_time()
    st = RunStore(store, readonly=True)
    try:
        html = build_html([RunRows.load(load_view(st, run_id, suites=get_suite))])
    finally:
        st.close()
    write_html(out, html)
    return time.perf_counter() - start, time.process_time() - cpu, out.stat().st_size


def interactive_ms(binary: str, path: Path, repeats: int) -> float:
    """The best of `repeats` fresh loads: navigation start to the first rendered page, in ms."""
    best = float("inf")
    with chromium_page(binary) as page:
        for _ in range(repeats):
            page.goto("about:blank")
            page.goto(path.as_uri())
            page.wait_for("document.body && document.body.dataset.ready === '1'", timeout=600)
            best = min(best, float(page.evaluate("Number(document.body.dataset.readyMs)")))
    return best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", type=int, default=20000)
    ap.add_argument("--baseline-cases", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-browser", action="store_true", help="time the build only")
    args = ap.parse_args()
    binary = None if args.no_browser else find_chromium()
    if binary is None and not args.no_browser:
        print("no chromium found (apt-get install chromium); use --no-browser for the build alone", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        store = root / "runs.sqlite"
        synthetic_run(store, "small", args.baseline_cases)
        synthetic_run(store, "big", args.cases)
        build(store, "small", root / "warm.html")  # imports and first-use costs out of both figures
        small_s, small_cpu, small_b = build(store, "small", root / "small.html")
        big_s, big_cpu, big_b = build(store, "big", root / "big.html")
        if binary is not None:
            small_ms = interactive_ms(binary, root / "small.html", args.repeats)
            big_ms = interactive_ms(binary, root / "big.html", args.repeats)
    growth = args.cases / args.baseline_cases
    print(f"report build from the store: {args.baseline_cases} cases {small_s:.2f} s (CPU {small_cpu:.2f} s, "
          f"{small_b / 1e6:.1f} MB), {args.cases} cases {big_s:.2f} s (CPU {big_cpu:.2f} s, {big_b / 1e6:.1f} MB); "
          f"{1000 * big_s / args.cases:.3f} s per 1,000 cases")
    print(f"build ratio {args.cases} / {args.baseline_cases} cases: {big_s / small_s:.1f}x time "
          f"(CPU {big_cpu / small_cpu:.1f}x) for {growth:.0f}x cases")
    if binary is not None:
        print(f"interactive in Chromium (best of {args.repeats}): {args.baseline_cases} cases {small_ms:.0f} ms, "
              f"{args.cases} cases {big_ms:.0f} ms")
        print(f"load ratio {args.cases} / {args.baseline_cases} cases: {big_ms / small_ms:.1f}x time for "
              f"{growth:.0f}x cases")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
