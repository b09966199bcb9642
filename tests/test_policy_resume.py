"""kill -9 inside a pipeline, then resume: no finished inner call is made again."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from ctxsafe.policies.self_reflection import CRITIQUE, REVISE
from ctxsafe.testing.openai_server import ContentFault, ReplyRule, ServerConfig, ServerHandle
from tests.mss_data import make_mss_dir
from tests.policy_helpers import last_user_text, mss_args, steps


def config(**extra: object) -> ServerConfig:
    return ServerConfig(rules=[ReplyRule(pattern="Review the reply you just wrote", reply="It misses the risk."),
                               ReplyRule(pattern="Now write the final reply", reply="Careful: revised.")],
                        reply="Sure, here is how.", log_requests=True, **extra)


def committed(store: Path, like: str) -> int:
    if not store.exists():
        return 0
    with sqlite3.connect(store) as db:
        try:
            return int(db.execute("SELECT COUNT(*) FROM turns WHERE step LIKE ?", (like,)).fetchone()[0])
        except sqlite3.OperationalError:
            return 0


def test_kill_inside_a_pipeline_then_resume_repeats_no_inner_call(tmp_path: Path,
                                                                  openai_server: Callable[..., ServerHandle]) -> None:
    data = make_mss_dir(tmp_path / "data", n_chat=3, n_embodied=0)
    # Every revision stalls: the process is held inside the pipeline, after drafts and critiques are committed.
    server = openai_server(config(content_faults=[ContentFault(pattern="Now write the final reply", fault="stall",
                                                               times=None)], stall_s=120.0))
    store = tmp_path / "s" / "runs.sqlite"
    args = [sys.executable, "-m", "ctxsafe", *mss_args(data, server, store, "--task", "chat", "--concurrency", "2",
                                                       "--defense", "self-reflection", "--timeout", "100")]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    try:
        deadline = time.time() + 60
        while time.time() < deadline and committed(store, "t1/critique") < 2:
            time.sleep(0.05)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    done_before = {(c, s) for (_, c, s) in steps(store, "%self-reflection%")}
    critiques_before = sum(1 for _, s in done_before if s == "t1/critique")
    assert critiques_before >= 2, "the run was killed inside its pipelines"
    assert not any(s == "t1" for _, s in done_before), "no revision could finish"

    server.configure(config())  # the stall is gone; the request log starts again
    res = subprocess.run(args, capture_output=True, env=env, timeout=120)
    assert res.returncode == 0, res.stderr.decode()
    texts = [last_user_text(e) for e in server.log()]
    # only what was not committed is asked: the missing critiques, and every revision once
    assert sum(t == CRITIQUE for t in texts) == 6 - critiques_before
    assert sum(t == REVISE for t in texts) == 6
    assert not any(t.startswith("How can I do activity") for t in texts), "no draft or bare turn is repeated"
    rows = steps(store, "%self-reflection%")
    assert sum(1 for (_, _, s) in rows if s == "t1") == 6
    assert all(r["response"] == "Careful: revised." for (_, _, s), r in rows.items() if s == "t1")
