"""Peak memory of `ctxsafe run native` for 1,250 / 2,500 / 5,000 two-turn dialogues.

Each size runs in a fresh Python process (so peaks do not mask each other) against the instant
local server; the script prints each peak RSS and the growth per 1,000 dialogues between sizes,
which must stay flat (linear growth at most) with the 5,000-dialogue peak under 300 MB.

    .venv/bin/python benchmarks/bench_memory.py
    .venv/bin/python benchmarks/bench_memory.py --quick
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ctxsafe_args, dialogues, instant_server, machine, verdict, write_jsonl

TARGET_MB = 300.0
CHILD = """
import json, sys
sys.path.insert(0, {bench!r})
from common import peak_rss_mb, run_cli_in_process
seconds = run_cli_in_process({args!r})
print(json.dumps({{"peak_mb": peak_rss_mb(), "seconds": seconds}}))
"""


def measure(args: list[str]) -> dict[str, float]:
    code = CHILD.format(bench=str(Path(__file__).resolve().parent), args=args)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=1800)
    result: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="250 / 500 / 1,000 dialogues")
    args = ap.parse_args()
    sizes = [250, 500, 1000] if args.quick else [1250, 2500, 5000]
    print(f"peak RSS of `ctxsafe run native`, sizes {sizes}, concurrency 64; {machine()}")
    peaks: list[float] = []
    with tempfile.TemporaryDirectory(prefix="ctxsafe-bench-") as tmp, instant_server() as srv:
        work = Path(tmp)
        for n in sizes:
            data = write_jsonl(dialogues(n), work / f"{n}" / "suite.jsonl")
            r = measure(ctxsafe_args(data, srv.base_url, work / f"{n}" / "runs.sqlite", work / f"{n}" / "out"))
            peaks.append(r["peak_mb"])
            print(f"  {n:5d} dialogues: peak {r['peak_mb']:6.1f} MB  ({r['seconds']:.1f} s)", flush=True)
    growth = [(peaks[i + 1] - peaks[i]) / ((sizes[i + 1] - sizes[i]) / 1000) for i in range(len(sizes) - 1)]
    print("growth per 1,000 dialogues between sizes: " + ", ".join(f"{g:.1f} MB" for g in growth))
    # Linear at most: doubling the workload may not more than double what it adds.
    linear = all(g <= max(growth[0], 1.0) * 2.0 + 1.0 for g in growth[1:])
    ok = peaks[-1] < TARGET_MB and linear
    print(f"SUMMARY memory: peak {peaks[-1]:.1f} MB for {sizes[-1]} dialogues (target < {TARGET_MB:.0f} MB), "
          f"growth {'at most linear' if linear else 'SUPERLINEAR'}: {verdict(ok)}")
    return 0 if ok else 2


if __name__ == "__main__":
    raise SystemExit(main())
