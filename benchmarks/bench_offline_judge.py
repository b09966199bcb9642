"""CPU per reply of the default offline judge (`mss4:offline-learned`), weights already loaded.

Why: the judge runs once per judged dialogue inside every text run, so its per-reply cost is part of the
throughput ratio. Two sets of replies: the 244 labelled model responses of `tests/data` (real replies,
varied vocabulary) and the replies of `bench_throughput.py`'s text workload (the echo server's). Process
time, best of `--rounds` passes (noise only ever slows a pass down). To compare with other code, run the
same command with `PYTHONPATH=<checkout>/src`.

    .venv/bin/python benchmarks/bench_offline_judge.py [--rounds 15]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import ctxsafe
from common import dialogues
from ctxsafe.judges.learned import classify_learned, shipped_model

LABELS = Path(__file__).resolve().parents[1] / "tests" / "data" / "mssbench_judge_labels.jsonl"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=15)
    args = ap.parse_args()
    model = shipped_model()
    rows = [json.loads(line) for line in LABELS.read_text(encoding="utf-8").splitlines() if line.strip()]
    echo = dialogues(500)
    sets = {
        "labelled responses": [(r["response"], r["query"]) for r in rows],
        "throughput workload replies": [(f"Echo: {d.turns[-1]}"[:120], d.turns[-1]) for d in echo],
    }
    best = dict.fromkeys(sets, float("inf"))
    for _ in range(args.rounds):
        for name, pairs in sets.items():
            start = time.process_time()
            for response, query in pairs:
                classify_learned(response, query, model)
            best[name] = min(best[name], (time.process_time() - start) / len(pairs))
    print(f"ctxsafe from {Path(ctxsafe.__file__).parent}, best of {args.rounds} passes, process time per reply:")
    for name, seconds in best.items():
        print(f"  {name:<28} ({len(sets[name]):>3} replies): {seconds * 1e6:7.1f} us")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
