"""How quickly a big HTML report is built and becomes interactive in a real headless Chromium.

Builds a 200-case run (the baseline) and a 20,000-case run in one store, writes both reports, opens
each in Chromium and reads the time from navigation start until the dialogue browser has rendered
its first page (`document.body.dataset.readyMs`). Prints both figures and their ratio; the point
of the design (data embedded once, rendered 20 pairs at a time) is that the ratio stays far below
the 100x growth in cases.

    .venv/bin/python benchmarks/bench_report_html.py
    .venv/bin/python benchmarks/bench_report_html.py --cases 50000
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
from ctxsafe.testing.cdp import chromium_page, find_chromium
from ctxsafe.testing.synthetic_store import synthetic_run


def build(store: Path, run_id: str, out: Path) -> tuple[float, int]:
    """Seconds to compute and write the report from the store, and its size in bytes."""
    start = time.perf_counter()
    st = RunStore(store)
    try:
        html = build_html([RunRows.load(load_view(st, run_id))])
    finally:
        st.close()
    write_html(out, html)
    return time.perf_counter() - start, out.stat().st_size


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
    args = ap.parse_args()
    binary = find_chromium()
    if binary is None:
        print("no chromium found (apt-get install chromium)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        store = root / "runs.sqlite"
        synthetic_run(store, "small", args.baseline_cases)
        synthetic_run(store, "big", args.cases)
        small_s, small_b = build(store, "small", root / "small.html")
        big_s, big_b = build(store, "big", root / "big.html")
        small_ms = interactive_ms(binary, root / "small.html", args.repeats)
        big_ms = interactive_ms(binary, root / "big.html", args.repeats)
    print(f"report build from the store: {args.baseline_cases} cases {small_s:.2f} s ({small_b / 1e6:.1f} MB), "
          f"{args.cases} cases {big_s:.2f} s ({big_b / 1e6:.1f} MB)")
    print(f"interactive in Chromium (best of {args.repeats}): {args.baseline_cases} cases {small_ms:.0f} ms, "
          f"{args.cases} cases {big_ms:.0f} ms")
    print(f"ratio {args.cases} / {args.baseline_cases} cases: {big_ms / small_ms:.1f}x time for "
          f"{args.cases / args.baseline_cases:.0f}x cases")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
