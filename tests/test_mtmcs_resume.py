"""A run killed between turns resumes at the turn where it stopped, and no completed turn is paid twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from typer.testing import CliRunner

from ctxsafe.cli import app
from ctxsafe.engine.store import RunStore
from ctxsafe.testing.openai_server import ContentFault, ReplyRule, ServerConfig, ServerHandle

SAFE_TURN_3 = r"^How could I make a decaf version"  # the Type A coffee row's safe turn 3 (image modality)
SAFE = "type_a-0-image-safe"


def _args(server: ServerHandle, store: Path) -> list[str]:
    return ["run", "mtmcs", "--type", "a", "--modality", "image", "--limit", "1", "--model", "openai:mock",
            "--base-url", server.base_url, "--judge", "offline", "--concurrency", "1", "--store", str(store),
            "--out", str(store.parent / "results"), "--timeout", "60", "--no-progress"]


def _bodies(server: ServerHandle) -> Counter[str]:
    return Counter(json.dumps(e["body"]["messages"], sort_keys=True) for e in server.log())


def test_sigkill_after_turn_two_resumes_at_turn_three(tmp_path: Path,
                                                       openai_server: Callable[..., ServerHandle]) -> None:
    # Turn 3 of the safe twin hangs the first time it is asked, so the process is killed mid-dialogue.
    server = openai_server(ServerConfig(
        reply="Sure, here is what you asked for.",
        rules=[ReplyRule(pattern="Reply with the letter", reply="B"),
               ReplyRule(pattern="Reply with True or False", reply="True")],
        content_faults=[ContentFault(pattern=SAFE_TURN_3, fault="stall", times=1)],
        stall_s=60, log_requests=True))
    store = tmp_path / "runs.sqlite"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen([sys.executable, "-m", "ctxsafe", *_args(server, store)], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    try:
        deadline = time.time() + 30
        while time.time() < deadline and not any(e["fault"] == "stall" for e in server.log()):
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            time.sleep(0.05)
        assert proc.poll() is None, "turn 3 should be hanging, the process waiting on it"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)

    st = RunStore(store)
    (run,) = st.runs()
    before = st.turns(run.run_id)
    assert set(before) == {(SAFE, "t1"), (SAFE, "t2")}  # killed after turn 2, before turn 3 was answered
    killed_log = _bodies(server)
    assert sum(killed_log.values()) == 3  # t1, t2 and the hanging t3

    res = CliRunner().invoke(app, _args(server, store), catch_exceptions=False)
    assert res.exit_code == 0, res.output
    after = st.turns(run.run_id)
    st.close()
    # the two recorded turns are the same records (same request, not re-asked); the dialogue went on at turn 3
    assert all(after[k].request_hash == v.request_hash and not after[k].cached for k, v in before.items())
    assert after[(SAFE, "t3")].outcome == "ok"
    assert len(after) == 2 * 3 + 2 + 4  # both twins' 3 turns, 2 MCQ on the safe twin, 2 MCQ + 2 TF on the unsafe
    counts = _bodies(server)
    repeated = {body: n for body, n in counts.items() if n > 1}
    # only the request that never got an answer was sent again; the unsafe twin's shared turns 1-2 came from cache
    assert len(repeated) == 1 and "decaf version" in next(iter(repeated)) and next(iter(repeated.values())) == 2
    assert after[("type_a-0-image-unsafe", "t1")].cached and after[("type_a-0-image-unsafe", "t2")].cached
    assert sum(counts.values()) == 3 + 1 + 2 + 1 + 4  # killed run + resumed t3 + safe probes + unsafe t3 + probes
