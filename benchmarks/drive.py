"""Run one side of a benchmark in a fresh process and print one JSON line with its measurements.

Why a fresh process per measurement: both sides start from the same clean interpreter (no heap
or caches left over from the other side), and peak RSS belongs to that side alone. Interpreter
start-up and imports happen before the clock starts, for both sides alike.

    python benchmarks/drive.py bare    --base-url URL --data FILE.jsonl [--concurrency 64]
    python benchmarks/drive.py ctxsafe --base-url URL --data FILE.jsonl --store S --out DIR [--workload W]
                               [--judge none]
    python benchmarks/drive.py replay  --base-url URL --data REQUESTS.jsonl --images DIR
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import CONCURRENCY, Dialogue, bare_loop, ctxsafe_args, peak_rss_mb, run_cli_in_process


def read_dialogues(path: Path) -> list[Dialogue]:
    out = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                d = json.loads(line)
                out.append(Dialogue(d["id"], d["pair_id"], d["context"], tuple(d["turns"])))
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("side", choices=["bare", "bare-lean", "ctxsafe", "replay"])
    ap.add_argument("--workload", default="text", choices=["text", "images", "mtmcs"])
    ap.add_argument("--images", type=Path, help="replay: the folder holding the logged requests' images")
    ap.add_argument("--base-url", required=True)
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--store", type=Path)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--concurrency", type=int, default=CONCURRENCY)
    ap.add_argument("--cpu", type=int, default=None, help="pin this process to one CPU")
    ap.add_argument("--judge", default="offline", help="ctxsafe, text workload: the judge ('none': play only)")
    args = ap.parse_args()
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    if args.side in ("bare", "bare-lean"):
        items = read_dialogues(args.data)
        cpu0 = time.process_time()
        seconds = asyncio.run(bare_loop(args.base_url, items, args.concurrency, lean=args.side == "bare-lean"))
    elif args.side == "replay":
        from workloads import image_urls, replay

        bodies = [json.loads(line) for line in args.data.read_text(encoding="utf-8").splitlines() if line]
        files = image_urls(args.images) if args.images else {}
        cpu0 = time.process_time()
        seconds = asyncio.run(replay(args.base_url, bodies, files, args.concurrency))
    else:
        if args.store is None or args.out is None:
            ap.error("ctxsafe needs --store and --out")
        # imports before the clock, as for the bare side: the run command, every suite, the runner, the SDK
        import importlib

        from ctxsafe.cli import load_command

        for module in ("ctxsafe.providers.openai_compat", "ctxsafe.suites.registry", "ctxsafe.suites.runner"):
            importlib.import_module(module)

        load_command("run")

        cpu0 = time.process_time()
        if args.workload == "text":
            argv = ctxsafe_args(args.data, args.base_url, args.store, args.out, args.concurrency, args.judge)
        else:
            from workloads import run_args

            argv = run_args(args.workload, args.data, args.base_url, args.store, args.out)
        seconds = run_cli_in_process(argv)
    cpu_s = time.process_time() - cpu0  # this process's CPU (user + system): unaffected by other processes' load
    print(json.dumps({"side": args.side, "seconds": seconds, "cpu_s": cpu_s, "peak_rss_mb": peak_rss_mb()}),
          flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
