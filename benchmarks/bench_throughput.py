"""Throughput: `ctxsafe run native` against a bare async loop on the same instant local server.

Why: the harness must never be the bottleneck. Both sides use the same `openai` SDK client, the
same 2-turn dialogues (turn 2 carries turn 1's reply) and concurrency 64, against a server in its
own process that answers instantly; the ratio of their calls per second is the harness's cost.
ctxsafe's side also loads the file, commits every turn to the SQLite run store, judges the final
turns and writes the results file, all inside the timed region.

    .venv/bin/python benchmarks/bench_throughput.py            # 5,000 dialogues (10,000 calls)
    .venv/bin/python benchmarks/bench_throughput.py --quick    # 1,000 dialogues
    .venv/bin/python benchmarks/bench_throughput.py --inspect-python /path/to/venv/bin/python
    .venv/bin/python benchmarks/bench_throughput.py --workload images --dialogues 400   # 3-turn image dialogues
    .venv/bin/python benchmarks/bench_throughput.py --workload mtmcs --dialogues 100    # MTMCS rows + LLM judge

The image and MTMCS workloads compare against a replay of ctxsafe's own requests through the bare SDK
(see workloads.py): the same bodies, the same client, the same concurrency.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import CONCURRENCY, dialogues, instant_server, machine, verdict, write_jsonl
from workloads import image_dialogues, mtmcs_rows, mtmcs_rules, write_log

TARGET = 0.90
INSPECT_TASK = Path(__file__).resolve().parent / "inspect_task.py"
DRIVE = Path(__file__).resolve().parent / "drive.py"


def committed_turns(store: Path) -> tuple[int, int]:
    """(turns stored, turns stored with an answer) across the store."""
    with sqlite3.connect(store) as db:
        total = db.execute("SELECT COUNT(*) FROM turns").fetchone()[0]
        ok = db.execute("SELECT COUNT(*) FROM turns WHERE outcome='ok'").fetchone()[0]
    return int(total), int(ok)


def run_inspect(python: str, data: Path, base_url: str, n: int, workdir: Path, cpu: int | None) -> float | str:
    """(c) the same workload as an Inspect AI task; seconds, or why it was skipped."""
    probe = subprocess.run([python, "-c", "import inspect_ai"], capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        return "inspect_ai is not importable by " + python
    cmd = [python, str(INSPECT_TASK), "--data", str(data), "--base-url", base_url, "--limit", str(n),
           "--concurrency", str(CONCURRENCY), "--log-dir", str(workdir / "inspect-logs")]
    if cpu is not None:
        cmd = ["taskset", "-c", str(cpu), *cmd]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=1800)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        return f"inspect run failed (rc {proc.returncode}): {proc.stderr[-500:]}"
    try:
        reported = json.loads(proc.stdout.strip().splitlines()[-1])["seconds"]
    except (ValueError, KeyError, IndexError):
        return elapsed
    return float(reported)


def drive(side: str, data: Path, base_url: str, cpu: int | None, store: Path | None = None,
          out: Path | None = None, workload: str = "text", images: Path | None = None,
          judge: str = "offline") -> dict[str, float]:
    """One measurement in a fresh process (see drive.py); returns its JSON line."""
    cmd = [sys.executable, str(DRIVE), side, "--base-url", base_url, "--data", str(data), "--workload", workload,
           "--judge", judge]
    if images is not None:
        cmd += ["--images", str(images)]
    if store is not None and out is not None:
        cmd += ["--store", str(store), "--out", str(out)]
    if cpu is not None:
        cmd += ["--cpu", str(cpu)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=1800)
    if proc.returncode != 0:
        raise RuntimeError(f"{side} run failed (rc {proc.returncode}):\n{proc.stderr[-2000:]}")
    result: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def placement(srv_pid: int, no_pin: bool) -> int | None:
    cpus = sorted(os.sched_getaffinity(0))
    if no_pin or len(cpus) < 2:
        print("placement: not pinned")
        return None
    os.sched_setaffinity(srv_pid, {cpus[1]})
    print(f"placement: each measured process pinned to CPU {cpus[0]}, the server to CPU {cpus[1]}")
    return cpus[0]


def replay_workload(workload: str, n: int, rounds: int, no_pin: bool) -> int:
    """Image dialogues or the MTMCS shape: ctxsafe against a bare SDK replay of the requests ctxsafe sends."""
    rules = mtmcs_rules() if workload == "mtmcs" else []
    with tempfile.TemporaryDirectory(prefix="ctxsafe-bench-") as tmp:
        work = Path(tmp)
        if workload == "mtmcs":
            data = mtmcs_rows(work / "data", n)
            images = data / "img"
            what = f"{n} MTMCS Type A rows (safe and unsafe three-turn image dialogues, intent questions, LLM judge)"
        else:
            data = image_dialogues(work / "data", n)
            images = data.parent / "img"
            what = f"{n} three-turn image dialogues (real photos, resent every turn)"
        with instant_server(rules=rules, log_requests=True, log_max=1_000_000) as logging_srv:
            drive("ctxsafe", data, logging_srv.base_url, None, work / "log.sqlite", work / "log-out", workload)
            requests = write_log(logging_srv.log(), work / "requests.jsonl")
        calls = len(requests.read_text(encoding="utf-8").splitlines())
        if not calls:
            print("FAILED: the capture run sent no request")
            return 1
        print(f"workload: {what} = {calls} calls, concurrency {CONCURRENCY}, {rounds} rounds; {machine()}")
        with instant_server(rules=rules) as srv:
            cpu = placement(srv.pid, no_pin)
            times: dict[str, list[float]] = {"replay": [], "ctxsafe": []}
            cpu_s: dict[str, list[float]] = {"replay": [], "ctxsafe": []}
            for r in range(rounds):
                for side in (("replay", "ctxsafe") if r % 2 == 0 else ("ctxsafe", "replay")):
                    srv.reset()
                    if side == "replay":
                        m = drive("replay", requests, srv.base_url, cpu, images=images)
                    else:
                        m = drive("ctxsafe", data, srv.base_url, cpu, work / f"run{r}.sqlite", work / f"out{r}",
                                  workload)
                    sent = srv.stats()["chat_completions"]
                    if sent != calls:
                        print(f"FAILED: {side} sent {sent} calls, expected {calls}")
                        return 1
                    times[side].append(m["seconds"])
                    cpu_s[side].append(m["cpu_s"])
                print(f"  round {r + 1}: bare replay {times['replay'][-1]:6.2f} s ({cpu_s['replay'][-1]:6.2f} s CPU), "
                      f"ctxsafe {times['ctxsafe'][-1]:6.2f} s ({cpu_s['ctxsafe'][-1]:6.2f} s CPU)", flush=True)
    ratio = min(times["replay"]) / min(times["ctxsafe"])
    median_ratio = statistics.median(times["replay"]) / statistics.median(times["ctxsafe"])
    cpu_ratio = min(cpu_s["replay"]) / min(cpu_s["ctxsafe"])
    print(f"(a) bare SDK replay of the same requests: best {min(times['replay']):6.2f} s "
          f"{calls / min(times['replay']):7.1f} calls/s")
    print(f"(b) ctxsafe run (CLI entry, fresh process): best {min(times['ctxsafe']):6.2f} s "
          f"{calls / min(times['ctxsafe']):7.1f} calls/s (loaded, checked, stored, judged, results written)")
    print(f"SUMMARY throughput ({workload}): ctxsafe/bare = {ratio:.1%} best-of-{rounds} (median {median_ratio:.1%}, "
          f"CPU {cpu_ratio:.1%}); target >= {TARGET:.0%}: {verdict(ratio >= TARGET)}")
    return 0 if ratio >= TARGET else 2


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dialogues", type=int, default=5000)
    ap.add_argument("--quick", action="store_true", help="1,000 dialogues, 2 rounds")
    ap.add_argument("--rounds", type=int, default=3,
                    help="measure both sides this many times, alternating which goes first; the ratio uses the "
                         "best of each (host noise only ever slows a run down), the median is printed beside it")
    ap.add_argument("--no-pin", action="store_true", help="do not pin the harness and the server to a core each")
    ap.add_argument("--inspect-python", default=None,
                    help="a Python with inspect_ai installed (default: this one, if it has it)")
    ap.add_argument("--lean-baseline", action="store_true",
                    help="text: also time the bare loop on ctxsafe's lean path (client.post), ctxsafe's own cost apart")
    ap.add_argument("--workload", default="text", choices=["text", "images", "mtmcs"],
                    help="text: two-turn text dialogues against a hand-written bare loop; images / mtmcs: against a "
                         "bare replay of ctxsafe's own requests")
    args = ap.parse_args()
    n = 1000 if args.quick else args.dialogues
    rounds = 2 if args.quick else max(1, args.rounds)
    if args.workload != "text":
        return replay_workload(args.workload, n, rounds, args.no_pin)
    items = dialogues(n)
    calls = n * len(items[0].turns)
    print(f"workload: {n} two-turn dialogues = {calls} calls, concurrency {CONCURRENCY}, {rounds} rounds; {machine()}")
    with tempfile.TemporaryDirectory(prefix="ctxsafe-bench-") as tmp, instant_server() as srv:
        cpus = sorted(os.sched_getaffinity(0))
        cpu = None
        if args.no_pin or len(cpus) < 2:
            print("placement: not pinned")
        else:
            cpu = cpus[0]
            os.sched_setaffinity(srv.pid, {cpus[1]})
            print(f"placement: each measured process pinned to CPU {cpus[0]}, the server to CPU {cpus[1]}")
        work = Path(tmp)
        data = write_jsonl(items, work / "suite.jsonl")
        warm = write_jsonl(dialogues(100), work / "warm.jsonl")
        drive("bare", warm, srv.base_url, cpu)  # first-run costs (page cache, .pyc) on neither side's clock
        drive("ctxsafe", warm, srv.base_url, cpu, work / "warm.sqlite", work / "warm-out")
        bare_s: list[float] = []
        ours_s: list[float] = []
        bare_cpu: list[float] = []
        ours_cpu: list[float] = []
        lean_s: list[float] = []
        lean_cpu: list[float] = []
        unjudged_s: list[float] = []
        unjudged_cpu: list[float] = []
        for r in range(rounds):
            order = ("bare", "ctxsafe", "ctxsafe-unjudged")
            for side in (order if r % 2 == 0 else order[::-1]) + (("bare-lean",) if args.lean_baseline else ()):
                srv.reset()
                if side.startswith("bare"):
                    m = drive(side, data, srv.base_url, cpu)
                    (bare_s if side == "bare" else lean_s).append(m["seconds"])
                    (bare_cpu if side == "bare" else lean_cpu).append(m["cpu_s"])
                    sent = srv.stats()["chat_completions"]
                    stored = answered = calls
                else:
                    judged = side == "ctxsafe"
                    store = work / f"{side}{r}" / "runs.sqlite"
                    m = drive("ctxsafe", data, srv.base_url, cpu, store, work / f"{side}{r}" / "out",
                              judge="offline" if judged else "none")
                    (ours_s if judged else unjudged_s).append(m["seconds"])
                    (ours_cpu if judged else unjudged_cpu).append(m["cpu_s"])
                    sent = srv.stats()["chat_completions"]
                    stored, answered = committed_turns(store)
                if sent != calls or stored != calls or answered != calls:
                    print(f"FAILED: {side} sent {sent} calls, stored {stored} turns ({answered} answered); "
                          f"expected {calls}")
                    return 1
            print(f"  round {r + 1}: bare {bare_s[-1]:6.2f} s ({bare_cpu[-1]:6.2f} s CPU), "
                  f"ctxsafe {ours_s[-1]:6.2f} s ({ours_cpu[-1]:6.2f} s CPU), "
                  f"unjudged {unjudged_s[-1]:6.2f} s ({unjudged_cpu[-1]:6.2f} s CPU)", flush=True)
        bare_rate = calls / min(bare_s)
        ours_rate = calls / min(ours_s)
        ratio = ours_rate / bare_rate
        median_ratio = statistics.median(bare_s) / statistics.median(ours_s)
        cpu_ratio = min(bare_cpu) / min(ours_cpu)
        print(f"(a) bare async loop (AsyncOpenAI, max_retries=0): best {min(bare_s):6.2f} s  {bare_rate:7.1f} calls/s")
        print(f"(b) ctxsafe run native (CLI entry, fresh process): best {min(ours_s):6.2f} s  {ours_rate:7.1f} calls/s"
              f"  ({calls} turns committed, judged, results written)")
        inspect_python = args.inspect_python or (sys.executable if importlib.util.find_spec("inspect_ai") else None)
        if inspect_python is None:
            print("(c) Inspect AI: skipped - inspect_ai is not installed here (pass --inspect-python PATH to a "
                  "Python that has it; it is not a ctxsafe dependency)")
        else:
            srv.reset()
            res = run_inspect(inspect_python, data, srv.base_url, n, work, cpu)
            if isinstance(res, str):
                print(f"(c) Inspect AI: skipped - {res}")
            else:
                rate = calls / res
                print(f"(c) Inspect AI (same dialogues, same server):     {res:6.2f} s  {rate:7.1f} calls/s  "
                      f"({rate / bare_rate:.0%} of bare; server saw {srv.stats()['chat_completions']} calls)")
        print(f"    per CPU-second of the measured process: bare {calls / min(bare_cpu):7.1f} calls, ctxsafe "
              f"{calls / min(ours_cpu):7.1f} calls ({cpu_ratio:.1%}; insensitive to other load on the machine)")
        if lean_s:
            print(f"(d) the bare loop on ctxsafe's lean path (client.post): best {min(lean_s):6.2f} s "
                  f"{calls / min(lean_s):7.1f} calls/s; ctxsafe = {min(lean_s) / min(ours_s):.1%} of it (median "
                  f"{statistics.median(lean_s) / statistics.median(ours_s):.1%}, "
                  f"CPU {min(lean_cpu) / min(ours_cpu):.1%})")
        print(f"(e) ctxsafe unjudged (--judge none: plays and stores every turn, judges nothing, as the bare loop): "
              f"best {min(unjudged_s):6.2f} s {calls / min(unjudged_s):7.1f} calls/s = "
              f"{min(bare_s) / min(unjudged_s):.1%} of bare (median "
              f"{statistics.median(bare_s) / statistics.median(unjudged_s):.1%}, "
              f"CPU {min(bare_cpu) / min(unjudged_cpu):.1%}); not the target's figure")
        print(f"SUMMARY throughput (judged, the target's figure): ctxsafe/bare = {ratio:.1%} best-of-{rounds} "
              f"(median {median_ratio:.1%}, CPU {cpu_ratio:.1%}); target >= {TARGET:.0%}: {verdict(ratio >= TARGET)}")
        return 0 if ratio >= TARGET else 2


if __name__ == "__main__":
    raise SystemExit(main())
