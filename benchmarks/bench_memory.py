"""Peak memory of `ctxsafe run native`, its fully cached re-run and `ctxsafe report`, by run size.

Each measurement runs in a fresh Python process (so peaks do not mask each other) against the
instant local server: the run of N two-turn dialogues, the same command again (a finished run:
nothing to do but check, judge and report), and `ctxsafe report` of the run. The script prints each
peak RSS and the growth per 1,000 dialogues between sizes; the target is a peak that does not grow
with the run (at most 250 MB at 100,000 dialogues), so the slope is the figure to watch.

    .venv/bin/python benchmarks/bench_memory.py                       # 2,000 / 8,000 / 20,000 dialogues
    .venv/bin/python benchmarks/bench_memory.py --quick               # 500 / 1,000 / 2,000
    .venv/bin/python benchmarks/bench_memory.py --sizes 1000 100000   # the full-scale target (long)
    .venv/bin/python benchmarks/bench_memory.py --reference --sizes 20000 100000  # no HTTP: ~6 min at 100,000
    .venv/bin/python benchmarks/bench_memory.py --suite mtmcs --sizes 2000 6000    # MTMCS Type A rows (reference)

`--suite mtmcs` runs `ctxsafe run mtmcs` over a local copy of N/2 Type A image rows (benchmarks/workloads.py:
three-turn dialogues, two multiple-choice and one true/false intent question each, real photos) with the
reference model and the offline judges: MTMCS-Bench has ~12,000 dialogues per model.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import workloads
from common import ctxsafe_args, dialogues, instant_server, machine, verdict, write_jsonl

TARGET_MB = 250.0
TARGET_AT = 100_000
CHILD = """
import json, sys
sys.path.insert(0, {bench!r})
from common import peak_rss_mb, run_cli_in_process
seconds = run_cli_in_process({args!r})
print(json.dumps({{"peak_mb": peak_rss_mb(), "seconds": seconds}}))
"""
PHASES = ("run", "re-run", "report")


def measure(args: list[str]) -> dict[str, float]:
    code = CHILD.format(bench=str(Path(__file__).resolve().parent), args=args)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=7200)
    if proc.returncode != 0:
        raise RuntimeError(f"ctxsafe {' '.join(args[:2])} failed (rc {proc.returncode}):\n{proc.stderr[-2000:]}")
    result: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="500 / 1,000 / 2,000 dialogues")
    ap.add_argument("--sizes", type=int, nargs="+", help="run sizes in dialogues (ascending)")
    ap.add_argument("--reference", action="store_true",
                    help="the offline reference model instead of the local server (no HTTP: 100,000 in minutes)")
    ap.add_argument("--suite", choices=("native", "mtmcs"), default="native",
                    help="mtmcs: MTMCS Type A image rows, reference model and offline judges (sizes in dialogues)")
    args = ap.parse_args()
    sizes = args.sizes or ([500, 1000, 2000] if args.quick else [2000, 8000, 20000])
    args.reference |= args.suite == "mtmcs"
    model = "the reference model" if args.reference else "the local server"
    print(f"peak RSS of `ctxsafe run {args.suite}` (concurrency 64, {model}), its re-run and `ctxsafe report`, "
          f"sizes {sizes}; {machine()}")
    peaks: dict[str, list[float]] = {p: [] for p in PHASES}
    with tempfile.TemporaryDirectory(prefix="ctxsafe-bench-") as tmp, instant_server(max_seconds=7200) as srv:
        work = Path(tmp)
        for n in sizes:
            store, out = work / f"{n}" / "runs.sqlite", work / f"{n}" / "out"
            if args.suite == "mtmcs":
                data = workloads.mtmcs_rows(work / f"{n}" / "mtmcs", n // 2)
                run = ["run", "mtmcs", "--data", str(data), "--type", "a", "--modality", "image",
                       "--model", "ref:always-comply", "--store", str(store), "--out", str(out), "--no-progress"]
            else:
                data = write_jsonl(dialogues(n), work / f"{n}" / "suite.jsonl")
                run = ctxsafe_args(data, srv.base_url, store, out)
            if args.reference:
                run[run.index("--model") + 1] = "ref:always-comply"
            srv.reset()
            first = measure(run)
            calls = srv.stats()["chat_completions"]
            srv.reset()
            again = measure(run)
            if srv.stats()["chat_completions"] != 0 or (args.reference and calls != 0):
                print(f"FAILED: the re-run of {n} dialogues called the model")
                return 1
            run_id = json.loads(next((out).glob("*.json")).read_text())["run_id"]
            rep = measure(["report", run_id, "--store", str(store), "--out", str(work / f"{n}" / "report")])
            for phase, r in zip(PHASES, (first, again, rep), strict=True):
                peaks[phase].append(r["peak_mb"])
            print(f"  {n:6d} dialogues: run {first['peak_mb']:6.1f} MB ({first['seconds']:.1f} s, {calls} calls), "
                  f"re-run {again['peak_mb']:6.1f} MB ({again['seconds']:.1f} s), "
                  f"report {rep['peak_mb']:6.1f} MB ({rep['seconds']:.1f} s)", flush=True)
            shutil.rmtree(work / f"{n}")  # a 100,000-dialogue store is ~400 MB
    ok = True
    for phase in PHASES:
        p = peaks[phase]
        slope = (p[-1] - p[0]) / ((sizes[-1] - sizes[0]) / 1000) if len(sizes) > 1 else 0.0
        at_target = p[-1] + slope * (TARGET_AT - sizes[-1]) / 1000
        met = at_target <= TARGET_MB
        ok &= met
        print(f"SUMMARY memory {phase}: {p[-1]:.1f} MB at {sizes[-1]} dialogues, slope {slope:+.2f} MB per 1,000 "
              f"-> {at_target:.0f} MB at {TARGET_AT} (target <= {TARGET_MB:.0f} MB): {verdict(met)}")
    return 0 if ok else 2


if __name__ == "__main__":
    raise SystemExit(main())
