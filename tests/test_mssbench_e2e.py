"""MSSBench end to end through the real `openai` SDK against the local wire-format server."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ctxsafe.cli import app
from ctxsafe.exit_codes import ExitCode
from ctxsafe.testing.openai_server import ContentFault, ReplyRule, ServerConfig, ServerHandle
from tests.mss_data import make_mss_dir

AWARE = "Careful: this looks dangerous in this situation, so I would not do it here."
PLAN = "Sure. Step one, then step two, then step three."


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def scripted(root: Path, **extra: Any) -> ServerConfig:
    """A model that notices risk exactly when shown an unsafe image; a judge that labels those replies."""
    unsafe = [p for p in sorted((root / "chat").iterdir()) + sorted((root / "embodied").iterdir())
              if p.name.startswith("unsafe")]
    rules = [ReplyRule(pattern=r"<<<REPLY-\w+\n\s*Careful", reply="It warns. <answer>1</answer>"),
             ReplyRule(pattern=r"<<<REPLY-\w+\n\s*Sure", reply="It just answers. <answer>2</answer>")]
    rules += [ReplyRule(pattern=".", reply=AWARE, image_sha256=_sha(p)) for p in unsafe]
    return ServerConfig(rules=rules, reply=PLAN, log_requests=True, **extra)


def cli(*args: str) -> Any:
    res = CliRunner().invoke(app, list(args), catch_exceptions=False)
    return res


def base_args(root: Path, server: ServerHandle, store: Path, *more: str) -> list[str]:
    return ["run", "mssbench", "--data", str(root), "--model", "openai:mock", "--base-url", server.base_url,
            "--store", str(store), "--out", str(store.parent / "results"), "--retry-base", "0.01",
            "--timeout", "2", *more]


def results(store: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted((store.parent / "results").glob("*.json"))]


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return make_mss_dir(tmp_path / "data", n_chat=3, n_embodied=2)


def model_requests(server: ServerHandle) -> int:
    return sum(1 for r in server.log() if "reply to review" not in json.dumps(r))


def test_run_scores_resumes_caches_and_rejudges(data: Path, tmp_path: Path,
                                               openai_server: Callable[..., ServerHandle]) -> None:
    server = openai_server(scripted(data))
    store = tmp_path / "s" / "runs.sqlite"
    res = cli(*base_args(data, server, store))
    assert res.exit_code == 0, res.output
    assert "openai:mock" in res.output and "100.0" in res.output
    [doc] = results(store)
    assert doc["metrics"]["tasks"]["chat"]["avg"]["value"] == 1.0
    assert doc["metrics"]["overall"]["weighted"]["value"] == 1.0
    assert doc["judges"]["scoring"]["id"] == "mss4:offline-learned" and doc["baseline"] is False
    assert server.stats()["requests"] == 10
    images = [d["sha256"] for r in server.log() for d in r["images"]]
    assert len(images) == 10 and len(set(images)) == 10

    # Re-running the same command resumes a finished run: no call at all.
    assert cli(*base_args(data, server, store)).exit_code == 0
    assert server.stats()["requests"] == 10
    # A different run over the same requests is answered from the shared cache.
    assert cli(*base_args(data, server, store, "--run-id", "again")).exit_code == 0
    assert server.stats()["requests"] == 10
    with sqlite3.connect(store) as db:
        assert db.execute("SELECT COUNT(*) FROM turns WHERE run_id='again' AND cached=1").fetchone()[0] == 10

    # Another judge re-scores without calling the model again; its calls are cached too.
    judge = ["--judge", "openai:judge", "--judge-base-url", server.base_url]
    res = cli(*base_args(data, server, store, *judge))
    assert res.exit_code == 0, res.output
    # The judge sees only the response (as the original), and the scripted model gives two distinct
    # replies: identical judge requests are paid once, even when they are in flight together.
    assert model_requests(server) == 10 and server.stats()["requests"] == 12
    doc = next(d for d in results(store) if d["run_id"] != "again")
    assert doc["judges"]["scoring"] == {"id": "mss4:openai:judge", "prompt_version": "mss4-v3/response"}
    assert doc["metrics"]["overall"]["weighted"]["value"] == 1.0
    assert cli(*base_args(data, server, store, *judge)).exit_code == 0
    assert server.stats()["requests"] == 12

    # The report is recomputed from the store alone.
    res = cli("report", doc["run_id"], "--store", str(store), "--out", str(tmp_path / "rep"), "--judge",
              "mss4:offline-learned")
    assert res.exit_code == 0 and "100.0" in res.output
    assert server.stats()["requests"] == 12


def test_transient_faults_are_retried_and_recorded(data: Path, tmp_path: Path,
                                                   openai_server: Callable[..., ServerHandle]) -> None:
    server = openai_server(scripted(data, schedule={1: "429", 2: "500", 3: "malformed", 4: "close", 5: "stall"},
                                    retry_after_s=0.05, stall_s=5.0))
    store = tmp_path / "runs.sqlite"
    res = cli(*base_args(data, server, store, "--timeout", "0.5", "--concurrency", "1"))
    assert res.exit_code == 0, res.output
    [doc] = results(store)
    assert doc["metrics"]["overall"]["weighted"]["value"] == 1.0
    assert doc["metrics"]["outcomes"]["error"] == 0
    with sqlite3.connect(store) as db:
        attempts = db.execute("SELECT MAX(attempts), SUM(attempts), COUNT(*) FROM turns").fetchone()
    assert attempts[0] == 6 and attempts[1] == 15 and attempts[2] == 10


def test_persistent_failures_and_filters_are_counted_not_dropped(data: Path, tmp_path: Path,
                                                                 openai_server: Callable[..., ServerHandle]) -> None:
    cfg = scripted(data, content_faults=[ContentFault(pattern="activity 1", fault="500", times=None),
                                         ContentFault(pattern="cup 0 on stove", fault="content_filter", times=None)])
    server = openai_server(cfg)
    store = tmp_path / "runs.sqlite"
    res = cli(*base_args(data, server, store, "--max-attempts", "2"))
    assert res.exit_code == ExitCode.FINISHED_WITH_ERRORS, res.output  # the table, then the errors beside it
    assert "finished with errors" in res.output and "2 failed steps" in res.output
    assert "error 2" in res.output and "filtered 1" in res.output
    [doc] = results(store)
    m = doc["metrics"]
    assert m["outcomes"]["error"] == 2 and m["outcomes"]["filtered"] == 1 and m["outcomes"]["cases"] == 10
    assert m["tasks"]["chat"]["safe"]["n"] == 3 and m["tasks"]["chat"]["safe"]["correct"] == 2
    assert doc["status"] == "finished-with-errors"
    # The failing turns are retried when the run is resumed; the filter is a final answer and is not.
    server.configure(scripted(data))
    before = server.stats()["requests"]
    assert cli(*base_args(data, server, store)).exit_code == 0
    assert server.stats()["requests"] - before == 2
    [doc] = results(store)
    assert doc["metrics"]["outcomes"]["error"] == 0 and doc["metrics"]["outcomes"]["filtered"] == 1


def test_api_key_never_reaches_store_or_results(data: Path, tmp_path: Path,
                                               openai_server: Callable[..., ServerHandle],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "sk-planted-SECRET-0123456789abcdef"
    server = openai_server(scripted(data, api_key=secret))
    monkeypatch.setenv("MOCK_KEY", secret)
    store = tmp_path / "runs.sqlite"
    res = cli(*base_args(data, server, store, "--api-key-env", "MOCK_KEY"))
    assert res.exit_code == 0 and secret not in res.output
    monkeypatch.setenv("MOCK_KEY", secret[:-1] + "X")  # wrong key: the run stops at the first 401, keyless
    before = server.stats()["requests"]
    res = cli(*base_args(data, server, store, "--api-key-env", "MOCK_KEY", "--run-id", "bad",
                         "--temperature", "0.5"))
    assert res.exit_code == ExitCode.PROVIDER_REFUSED, res.output
    assert "authentication failed" in res.output and "$MOCK_KEY" in res.output and secret[:-1] not in res.output
    assert server.stats()["requests"] - before == 1  # not retried, and nothing else sent
    assert not any(d["run_id"] == "bad" for d in results(store))
    for f in tmp_path.rglob("*"):
        if f.is_file():
            blob = f.read_bytes()
            assert secret.encode() not in blob and secret[:-1].encode() not in blob, f


def test_kill_minus_nine_then_resume_equals_uninterrupted(data: Path, tmp_path: Path,
                                                         openai_server: Callable[..., ServerHandle]) -> None:
    server = openai_server(scripted(data, delay_s=0.15))
    store = tmp_path / "killed" / "runs.sqlite"
    args = [sys.executable, "-m", "ctxsafe", *base_args(data, server, store, "--concurrency", "2", "--no-progress")]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    deadline = time.time() + 30
    turns = 0
    while time.time() < deadline and turns < 4:
        time.sleep(0.05)
        if store.exists():
            with sqlite3.connect(store) as db:
                try:
                    turns = db.execute("SELECT COUNT(*) FROM turns").fetchone()[0]
                except sqlite3.OperationalError:
                    turns = 0
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    assert 4 <= turns < 10
    res = subprocess.run(args, capture_output=True, env=env, timeout=60)
    assert res.returncode == 0, res.stderr.decode()
    with sqlite3.connect(store) as db:
        assert db.execute("SELECT COUNT(*), COUNT(DISTINCT case_id) FROM turns").fetchone() == (10, 10)
    # Completed turns are never paid again: at most the calls in flight at the kill are repeated.
    assert 10 <= server.stats()["requests"] <= 10 + 2
    clean_store = tmp_path / "clean" / "runs.sqlite"
    assert cli(*base_args(data, server, clean_store, "--run-id", "clean")).exit_code == 0
    killed, clean = results(store)[0], results(clean_store)[0]
    assert killed["metrics"] == clean["metrics"]


def test_ctrl_c_stops_cleanly_and_the_run_resumes(data: Path, tmp_path: Path,
                                                  openai_server: Callable[..., ServerHandle]) -> None:
    # The server holds the third request open for 10 minutes, so the run cannot finish before the signal
    # however loaded the machine is (no race); the resumed run's requests are answered normally.
    server = openai_server(scripted(data, schedule={3: "stall"}, stall_s=600.0))
    store = tmp_path / "runs.sqlite"
    args = [sys.executable, "-m", "ctxsafe", *base_args(data, server, store, "--concurrency", "1", "--no-progress",
                                                        "--timeout", "300")]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    deadline = time.monotonic() + 120
    while server.stats()["requests"] < 3 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None and server.stats()["requests"] == 3  # blocked on the stalled third request
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err.decode()
    assert b"re-run the same command to resume" in err
    with sqlite3.connect(store) as db:
        assert db.execute("SELECT COUNT(*) FROM turns").fetchone()[0] == 2  # what was answered is kept
    res = subprocess.run(args, capture_output=True, env=env, timeout=120)
    assert res.returncode == 0, res.stderr.decode()
    with sqlite3.connect(store) as db:
        assert db.execute("SELECT COUNT(*), COUNT(DISTINCT case_id) FROM turns").fetchone() == (10, 10)
    assert server.stats()["requests"] <= 11
