"""How fast ctxsafe starts: `--help`, configuration errors, and the first request of a run (issue 12).

Every figure is the wall-clock time of a fresh process, best of N rounds (noise only ever slows a
process down; the median is printed beside it), shown absolute and as a ratio to a bare
`python -c pass` measured in the same rounds, so a slow or busy machine shows as a slow baseline.
Byte-code caching is on for every child (as after `pip install`), after one warm-up round.

    python benchmarks/bench_startup.py [--rounds 7]

The first request is timed from just before the process is spawned until a local listener receives
the first bytes of an HTTP request; the listener never answers and the child is then stopped. Its
baseline is the bare SDK doing the same (`import openai`, a client, one chat completion), measured in
the same rounds: what ctxsafe adds before its first request is the difference between the two.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import machine, verdict

TARGET_S = 0.5
FIRST_REQUEST_TARGET_S = 1.0
FIRST = "first request of a run"
BARE_FIRST = "first request, bare openai SDK (baseline)"


def ctxsafe_command() -> list[str]:
    script = Path(sys.executable).parent / "ctxsafe"
    return [str(script)] if script.exists() else [sys.executable, "-m", "ctxsafe"]


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # an installed package has its .pyc files; measure that case
    env["NO_COLOR"] = "1"
    return env


def timed(argv: list[str], cwd: Path, expect: int) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=child_env(), capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != expect:
        raise SystemExit(f"{argv}: exit {done.returncode}, expected {expect}\n{done.stderr[-2000:]}")
    return seconds


BARE_FIRST_REQUEST = """
import sys, openai
client = openai.OpenAI(base_url=sys.argv[1], api_key="EMPTY", max_retries=0, timeout=30)
client.chat.completions.create(model="bench", messages=[{"role": "user", "content": "Hello there, how are you?"}])
"""


def first_request(work: Path, bare: bool = False) -> float:
    """Seconds from spawning `ctxsafe run native` (or the bare SDK, `bare`) to the first request's bytes at a
    local listener."""
    data = work / "one.jsonl"
    data.write_text(json.dumps({"id": "a", "turns": ["Hello there, how are you?"], "context": "safe"}) + "\n")
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    arrived: list[float] = []

    def accept() -> None:
        conn, _ = listener.accept()
        with conn:
            if conn.recv(1):
                arrived.append(time.perf_counter())

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    store = work / f"s{time.monotonic_ns()}.sqlite"
    argv = [sys.executable, "-c", BARE_FIRST_REQUEST, f"http://127.0.0.1:{port}/v1"] if bare else [
        *ctxsafe_command(), "run", "native", "--data", str(data), "--model", "vllm:bench", "--base-url",
        f"http://127.0.0.1:{port}/v1", "--store", str(store), "--out", str(work / "out"), "--no-progress",
        "--max-attempts", "1", "--timeout", "30"]
    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=work, env=child_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        thread.join(timeout=60)
    finally:
        proc.kill()
        proc.wait()
        listener.close()
    if not arrived:
        raise SystemExit("no request arrived within 60 s")
    return arrived[0] - start


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    cli = ctxsafe_command()
    with tempfile.TemporaryDirectory(prefix="ctxsafe-bench-startup-") as tmp:
        work = Path(tmp)
        cases: dict[str, tuple[list[str], int]] = {
            "python -c pass (baseline)": ([sys.executable, "-c", "pass"], 0),
            "python -c 'import typer' (the CLI framework alone)": ([sys.executable, "-c", "import typer"], 0),
            "ctxsafe --help": ([*cli, "--help"], 0),
            "ctxsafe run mssbench --help": ([*cli, "run", "mssbench", "--help"], 0),
            "configuration error: unknown model prefix": (
                [*cli, "run", "mssbench", "--model", "opnai:gpt-4o", "--store", str(work / "x.sqlite")], 2),
            "configuration error: missing data path": (
                [*cli, "run", "native", "--data", str(work / "nowhere.jsonl"), "--store", str(work / "x.sqlite")], 2),
        }
        for argv, expect in cases.values():  # warm-up: byte-code caches, the OS page cache
            timed(argv, work, expect)
        first_request(work, bare=True)
        first_request(work)
        times: dict[str, list[float]] = {name: [] for name in [*cases, BARE_FIRST, FIRST]}
        for _ in range(args.rounds):  # interleaved, so a burst of load hits every case alike
            for name, (argv, expect) in cases.items():
                times[name].append(timed(argv, work, expect))
            times[BARE_FIRST].append(first_request(work, bare=True))
            times[FIRST].append(first_request(work))
    base = min(times["python -c pass (baseline)"])
    print(f"# start-up, {machine()}, best of {args.rounds} fresh processes (median in brackets)")
    print(f"{'what':<52} {'best s':>7} {'median s':>9} {'x baseline':>11}")
    for name, values in times.items():
        best = min(values)
        print(f"{name:<52} {best:7.3f} {statistics.median(values):9.3f} {best / base:11.1f}")
    worst_error = max(min(times[n]) for n in ("configuration error: unknown model prefix",
                                              "configuration error: missing data path"))
    help_s = min(times["ctxsafe --help"])
    first, bare_first = min(times[FIRST]), min(times[BARE_FIRST])
    typer_alone = min(times["python -c 'import typer' (the CLI framework alone)"])
    for what, best in (("--help", help_s), ("configuration errors: slowest", worst_error)):
        print(f"SUMMARY {what} best {best:.3f} s = {best / typer_alone:.2f}x `import typer` (target < {TARGET_S} s): "
              f"{verdict(best < TARGET_S)}")
    print(f"SUMMARY first request sent {first:.3f} s after start = {first / bare_first:.2f}x the bare SDK's "
          f"{bare_first:.3f} s (+{first - bare_first:.3f} s; target < {FIRST_REQUEST_TARGET_S} s): "
          f"{verdict(first < FIRST_REQUEST_TARGET_S)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
