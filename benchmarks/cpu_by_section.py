"""Where a text run's CPU goes: process time spent in each named section of one `ctxsafe run native`.

Why: the throughput ratio says how far ctxsafe is from the bare loop, not where the difference is, and
cProfile inflates Python-heavy code several times over on this VM. This runs `bench_throughput.py`'s text
workload once, in this process (imports before the clock, as drive.py), with the sections below wrapped
to add up their own process time; the rest is the SDK, HTTP, the event loop and ctxsafe's generation path.

    .venv/bin/python benchmarks/cpu_by_section.py [--dialogues 500] [--judge none]
"""

from __future__ import annotations

import argparse
import collections
import functools
import importlib
import inspect
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ctxsafe_args, dialogues, instant_server, run_cli_in_process, write_jsonl

SECTIONS = (  # module holding the name the run calls, class (or ""), function, what it stands for
    ("ctxsafe.judges.four_class", "FourClassLearnedJudge", "judge",
     "offline judge (first call loads numpy and the weights)"),
    ("ctxsafe.engine.store", "RunStore", "record_turn", "per-turn commit"),
    ("ctxsafe.engine.store", "RunStore", "record_judgements", "judgement batches"),
    ("ctxsafe.suites.runner", "", "results_document",
     "results document (its intervals import numpy, unjudged too)"),
    ("ctxsafe.metrics.stats", "", "t_quantile", "  of which the t quantile (plain Python, cached)"),
    ("ctxsafe.cli_run", "", "print_rows", "terminal tables (imports rich)"),
    ("ctxsafe.suites.runner", "", "make_provider", "SDK client (the SDK builds an SSL context)"),
)


def timed(spent: collections.Counter[str], label: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """`fn` adding its process time to `spent[label]` (a coroutine's own time: these sections never await)."""
    if inspect.iscoroutinefunction(fn):
        @functools.wraps(fn)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            start = time.process_time()
            try:
                return await fn(*args, **kwargs)
            finally:
                spent[label] += time.process_time() - start
        return async_wrapper

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.process_time()
        try:
            return fn(*args, **kwargs)
        finally:
            spent[label] += time.process_time() - start
    return wrapper


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dialogues", type=int, default=500)
    ap.add_argument("--judge", default="offline", help="'none': play and store only")
    args = ap.parse_args()
    from ctxsafe.cli import load_command

    for module in ("ctxsafe.providers.openai_compat", "ctxsafe.suites.registry", "ctxsafe.suites.runner"):
        importlib.import_module(module)
    load_command("run")
    spent: collections.Counter[str] = collections.Counter()
    for module, owner, name, label in SECTIONS:
        holder = importlib.import_module(module)
        target = getattr(holder, owner) if owner else holder
        setattr(target, name, timed(spent, label, getattr(target, name)))
    with tempfile.TemporaryDirectory(prefix="ctxsafe-bench-") as tmp, instant_server() as srv:
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) >= 2:
            os.sched_setaffinity(0, {cpus[0]})
            os.sched_setaffinity(srv.pid, {cpus[1]})
        work = Path(tmp)
        data = write_jsonl(dialogues(args.dialogues), work / "suite.jsonl")
        start = time.process_time()
        wall = run_cli_in_process(ctxsafe_args(data, srv.base_url, work / "runs.sqlite", work / "out",
                                               judge=args.judge))
        total = time.process_time() - start
    print(f"{args.dialogues} two-turn dialogues, --judge {args.judge}: wall {wall:.2f} s, CPU {total:.2f} s")
    for _, _, _, label in SECTIONS:
        print(f"  {spent[label]:6.3f} s  {label}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
