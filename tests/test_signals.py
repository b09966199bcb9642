"""SIGTERM is handled like Ctrl-C: the run is marked interrupted, its lock released and removed, a resume
hint printed; `runs` shows true statuses, including a run whose process was killed outright.

The run under test blocks on a request the server stalls, so the signal always lands mid-run: no timing.
"""

from __future__ import annotations

import ctypes
import json
import os
import platform
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from ctxsafe.exit_codes import ExitCode
from ctxsafe.testing.openai_server import ContentFault, ServerConfig, ServerHandle


def native(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "cases.jsonl"
    path.write_text("".join(json.dumps({"id": f"p{p}-{c}", "pair_id": f"p{p}", "context": c,
                                        "turns": [f"case {p} {c}"]}) + "\n"
                            for p in range(3) for c in ("safe", "unsafe")), encoding="utf-8")
    return path


def turns(store: Path) -> int:
    if not store.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=5) as db:
            return int(db.execute("SELECT COUNT(*) FROM turns").fetchone()[0])
    except sqlite3.Error:
        return 0


def status(store: Path) -> str:
    with sqlite3.connect(store) as db:
        return str(db.execute("SELECT status FROM runs").fetchone()[0])


def start_blocked(tmp_path: Path, server: ServerHandle) -> tuple[subprocess.Popen[bytes], list[str], Path]:
    """A run that has stored some steps and then blocks on p1's safe twin (the server holds it open)."""
    store = tmp_path / "runs.sqlite"
    args = [sys.executable, "-m", "ctxsafe", "run", "native", "--data", str(native(tmp_path / "data")),
            "-m", "openai:mock", "--base-url", server.base_url, "--store", str(store), "--out", str(tmp_path / "out"),
            "--concurrency", "1", "--timeout", "300", "--no-progress"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while turns(store) < 1 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    # Wait until the server holds the stalled request, so the fault is spent before any signal (no race).
    while server.stats()["chat_completions"] <= turns(store) and time.monotonic() < deadline:
        time.sleep(0.05)
    # Some steps are stored, and the run cannot finish: the server holds p1's safe twin open for 10 minutes.
    assert proc.poll() is None and 1 <= turns(store) < 6
    return proc, args, store


@pytest.mark.parametrize(("sig", "code", "word"), [(signal.SIGTERM, ExitCode.TERMINATED, "terminated"),
                                                   (signal.SIGINT, ExitCode.INTERRUPTED, "interrupted")])
def test_sigterm_and_sigint_mark_the_run_interrupted_and_release_the_lock(
        tmp_path: Path, openai_server: Callable[..., ServerHandle], sig: int, code: int, word: str) -> None:
    server = openai_server(ServerConfig(reply="Sure.", stall_s=600.0, content_faults=[
        ContentFault(pattern="case 1 safe", fault="stall", times=1)]))
    proc, args, store = start_blocked(tmp_path, server)
    os.kill(proc.pid, sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err.decode()
    text = " ".join(err.decode().split())
    assert f"{word}:" in text and "re-run the same command to resume" in text and "Traceback" not in text
    assert status(store) == "interrupted"
    assert not list(tmp_path.glob(".*.lock"))
    res = subprocess.run(args, capture_output=True, timeout=120, check=False)
    assert res.returncode == 0, res.stderr.decode()
    assert status(store) == "finished" and turns(store) == 6


TGKILL = {"x86_64": 234, "aarch64": 131}.get(platform.machine())  # Linux syscall numbers


@pytest.mark.skipif(TGKILL is None or not Path("/proc/self/wchan").exists(), reason="needs Linux tgkill and /proc")
@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, ExitCode.TERMINATED),
                                           (signal.SIGINT, ExitCode.INTERRUPTED)])
def test_a_signal_taken_by_another_thread_stops_a_run_asleep_on_a_held_request(
        tmp_path: Path, openai_server: Callable[..., ServerHandle], sig: int, code: int) -> None:
    """The rare hang of the test above, made certain: the signal's C handler runs where it cannot interrupt
    the loop's wait (here another thread of the run; under load, the main thread just before the wait), so
    only the loop's wakeup fd (signal_loop) wakes it; without it the run sleeps until the request's timeout."""
    server = openai_server(ServerConfig(reply="Sure.", stall_s=600.0, content_faults=[
        ContentFault(pattern="case 1 safe", fault="stall", times=1)]))
    proc, _, store = start_blocked(tmp_path, server)
    task = Path(f"/proc/{proc.pid}/task")
    deadline = time.monotonic() + 60
    while (task / str(proc.pid) / "wchan").read_text() != "do_epoll_wait" and time.monotonic() < deadline:
        time.sleep(0.05)  # until the main thread sleeps in the loop's wait
    others = [int(t.name) for t in task.iterdir() if t.name != str(proc.pid)]
    assert others, "the run has no other thread to take the signal"
    assert ctypes.CDLL(None, use_errno=True).syscall(TGKILL, proc.pid, others[0], sig) == 0
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err.decode()
    assert status(store) == "interrupted"
    assert not list(tmp_path.glob(".*.lock"))


def test_runs_shows_a_killed_run_as_interrupted(tmp_path: Path, openai_server: Callable[..., ServerHandle]) -> None:
    server = openai_server(ServerConfig(reply="Sure.", stall_s=600.0, content_faults=[
        ContentFault(pattern="case 1 safe", fault="stall", times=1)]))
    proc, _, store = start_blocked(tmp_path, server)
    runs = [sys.executable, "-m", "ctxsafe", "runs", "--store", str(store)]
    live = subprocess.run(runs, capture_output=True, text=True, timeout=60, check=False)
    assert " running " in live.stdout and "interrupted" not in live.stdout  # its process holds the lock
    proc.kill()
    proc.wait(30)
    dead = subprocess.run(runs, capture_output=True, text=True, timeout=60, check=False)
    assert dead.returncode == 0 and "interrupted" in dead.stdout and " running " not in dead.stdout
