"""Never lose work: random faults, repeated kill -9, two writers, and a catalogue of bad input."""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from ctxsafe.testing.openai_server import ReplyRule, ServerConfig, ServerHandle
from tests.mss_data import chat_record, embodied_record, make_mss_dir, png

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def ctxsafe(*args: str) -> list[str]:
    return [sys.executable, "-m", "ctxsafe", *args]


def native_file(folder: Path, pairs: int, turns: int = 2) -> Path:
    """A native suite of `pairs` safe/unsafe twins with `turns` user turns each and one image per twin."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for p in range(pairs):
        for ctx, color in (("safe", (10, 200, p)), ("unsafe", (200, 10, p))):
            (folder / f"{ctx}_{p}.png").write_bytes(png(color))
            lines.append(json.dumps({
                "id": f"d{p}-{ctx}", "pair_id": f"d{p}", "context": ctx, "images": [f"{ctx}_{p}.png"],
                "turns": [f"Dialogue {p}, turn {t + 1}: tell me more." for t in range(turns)]}))
    path = folder / "cases.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def aware_on_unsafe(folder: Path) -> list[ReplyRule]:
    return [ReplyRule(pattern=".", reply="Careful: that would be dangerous here, so I won't.",
                      image_sha256=hashlib.sha256(p.read_bytes()).hexdigest())
            for p in sorted(folder.glob("unsafe_*.png"))]


def turn_count(store: Path) -> int:
    if not store.exists():
        return 0
    try:
        with sqlite3.connect(store, timeout=5) as db:
            return int(db.execute("SELECT COUNT(*) FROM turns").fetchone()[0])
    except sqlite3.OperationalError:
        return 0


def per_case(store: Path) -> dict[str, tuple[str, int | None]]:
    """case id -> (outcome of its last turn, judged label), straight from the store."""
    with sqlite3.connect(store) as db:
        turns = {r[0]: r[1] for r in db.execute(
            "SELECT case_id, outcome FROM turns t WHERE idx = (SELECT MAX(idx) FROM turns u "
            "WHERE u.run_id = t.run_id AND u.case_id = t.case_id)")}
        labels = dict(db.execute("SELECT case_id, label FROM judgements").fetchall())
    return {c: (o, labels.get(c)) for c, o in turns.items()}


def integrity_ok(store: Path) -> bool:
    with sqlite3.connect(store) as db:
        return bool(db.execute("PRAGMA integrity_check").fetchone()[0] == "ok")


def metrics_of(out: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text())["metrics"] for p in sorted(out.glob("*.json"))]


@pytest.mark.slow
def test_random_faults_end_in_answers_or_explicit_errors(tmp_path: Path,
                                                         openai_server: Callable[..., ServerHandle]) -> None:
    data = make_mss_dir(tmp_path / "data", chat=[chat_record(i, [f"q{i} a", f"q{i} b"]) for i in range(10)],
                        embodied=[embodied_record(i, n_para=2) for i in range(5)])
    unsafe = sorted((data / "chat").glob("unsafe_*")) + sorted((data / "embodied").glob("unsafe_*"))
    rules = [ReplyRule(pattern=".", reply="Careful, this is dangerous here.",
                       image_sha256=hashlib.sha256(p.read_bytes()).hexdigest()) for p in unsafe]
    faults: dict[str, float] = {"429": 0.12, "500": 0.08, "stall": 0.04, "close": 0.05, "malformed": 0.05,
                                "content_filter": 0.06}
    faulty = openai_server(ServerConfig(rules=rules, reply="Sure, here you go.", random_faults=faults, seed=7,
                                        retry_after_s=0.01, stall_s=3.0))
    common = ["run", "mssbench", "--data", str(data), "--model", "openai:mock", "--timeout", "0.4",
              "--retry-base", "0.01", "--max-attempts", "3", "--no-progress"]
    res = subprocess.run(ctxsafe(*common, "--base-url", faulty.base_url, "--store", str(tmp_path / "f.sqlite"),
                                 "--out", str(tmp_path / "f")), capture_output=True, env=ENV, timeout=120)
    assert res.returncode == 0, res.stderr.decode()
    clean = openai_server(ServerConfig(rules=rules, reply="Sure, here you go."))
    res = subprocess.run(ctxsafe(*common, "--base-url", clean.base_url, "--store", str(tmp_path / "c.sqlite"),
                                 "--out", str(tmp_path / "c")), capture_output=True, env=ENV, timeout=120)
    assert res.returncode == 0, res.stderr.decode()

    faulty_cases, clean_cases = per_case(tmp_path / "f.sqlite"), per_case(tmp_path / "c.sqlite")
    n_cases = 2 * (10 * 2 + 5 * 2)
    assert len(faulty_cases) == len(clean_cases) == n_cases  # every case has exactly one record
    outcomes = [o for o, _ in faulty_cases.values()]
    assert set(outcomes) <= {"ok", "error", "content_filter"}
    assert outcomes.count("ok") < n_cases and outcomes.count("error") + outcomes.count("content_filter") > 0
    for case_id, (outcome, label) in faulty_cases.items():
        if outcome == "ok":
            assert label == clean_cases[case_id][1], case_id  # same numbers where the call succeeded
        else:
            assert label is None
    [m] = metrics_of(tmp_path / "f")
    o = m["outcomes"]
    assert o["cases"] == n_cases and o["error"] == outcomes.count("error")
    assert o["filtered"] == outcomes.count("content_filter")
    assert o["correct"] + o["wrong"] + o["error"] + o["filtered"] == n_cases
    with sqlite3.connect(tmp_path / "f.sqlite") as db:
        assert db.execute("SELECT MAX(attempts) FROM turns").fetchone()[0] > 1


@pytest.mark.slow
def test_twenty_kills_then_resume_equals_an_uninterrupted_run(tmp_path: Path,
                                                              openai_server: Callable[..., ServerHandle]) -> None:
    cases = native_file(tmp_path / "data", pairs=20, turns=2)
    server = openai_server(ServerConfig(rules=aware_on_unsafe(tmp_path / "data"), reply="Sure, here you go.",
                                        delay_s=0.15))
    store = tmp_path / "killed" / "runs.sqlite"
    args = ctxsafe("run", "native", "--data", str(cases), "--model", "openai:mock", "--base-url", server.base_url,
                   "--store", str(store), "--out", str(tmp_path / "killed" / "out"), "--concurrency", "2",
                   "--no-progress")
    rng = random.Random(3)
    kills = 0
    while kills < 20:
        before = turn_count(store)
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
        target = before + rng.randint(1, 3)
        deadline = time.time() + 60
        while proc.poll() is None and turn_count(store) < target and time.time() < deadline:
            time.sleep(rng.uniform(0.005, 0.05))
        if proc.poll() is not None:
            break  # finished before this kill landed
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        kills += 1
        assert integrity_ok(store)
    assert kills == 20, f"the run finished after only {kills} kills"
    assert turn_count(store) < 80
    res = subprocess.run(args, capture_output=True, env=ENV, timeout=120)
    assert res.returncode == 0, res.stderr.decode()
    with sqlite3.connect(store) as db:
        assert db.execute("SELECT COUNT(*) FROM turns").fetchone()[0] == 80
        assert db.execute("SELECT COUNT(*) FROM turns WHERE outcome != 'ok'").fetchone()[0] == 0
        assert db.execute("SELECT COUNT(*) FROM judgements").fetchone()[0] == 40
    # Only calls in flight at a kill (at most 2 each) may be repeated; completed turns never are.
    assert 80 <= server.stats()["requests"] <= 80 + 2 * kills
    clean = tmp_path / "clean"
    res = subprocess.run(
        ctxsafe("run", "native", "--data", str(cases), "--model", "openai:mock", "--base-url", server.base_url,
                "--store", str(clean / "runs.sqlite"), "--out", str(clean / "out"), "--no-progress"),
        capture_output=True, env=ENV, timeout=120)
    assert res.returncode == 0
    assert metrics_of(tmp_path / "killed" / "out") == metrics_of(clean / "out")


def test_a_second_process_on_the_same_run_is_refused(tmp_path: Path,
                                                     openai_server: Callable[..., ServerHandle]) -> None:
    cases = native_file(tmp_path / "data", pairs=4, turns=2)
    server = openai_server(ServerConfig(reply="Sure.", delay_s=1.0))
    store = tmp_path / "runs.sqlite"
    args = ctxsafe("run", "native", "--data", str(cases), "--model", "openai:mock", "--base-url", server.base_url,
                   "--store", str(store), "--out", str(tmp_path / "out"), "--concurrency", "1", "--no-progress")
    first = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ENV)
    deadline = time.time() + 60
    while turn_count(store) < 1 and time.time() < deadline:
        time.sleep(0.05)
    # Freeze the first process while it holds the run's lock, so the second one meets it however slowly
    # this machine starts Python (the first would otherwise finish its 16 turns first on a loaded machine).
    os.kill(first.pid, signal.SIGSTOP)
    try:
        second = subprocess.run(args, capture_output=True, env=ENV, timeout=60)
    finally:
        os.kill(first.pid, signal.SIGCONT)
    assert second.returncode == 2
    assert b"already being executed by another process" in second.stderr
    _, err = first.communicate(timeout=60)
    assert first.returncode == 0, err.decode()
    assert turn_count(store) == 16 and integrity_ok(store)


def _decompression_bomb(path: Path) -> None:
    Image.new("1", (9000, 9000)).save(path, format="PNG")  # 81 Mpx in a few kB


BAD_NATIVE: dict[str, tuple[Callable[[Path], None], str]] = {
    "truncated JSON": (lambda d: (d / "cases.jsonl").write_text('{"id": "a", "pair_id": "p", "cont'),
                       r"line 1: invalid JSON"),
    "wrong type": (lambda d: (d / "cases.jsonl").write_text(json.dumps(
        {"id": "a", "pair_id": "p", "context": "safe", "turns": "not a list"}) + "\n"),
        r"line 1 \(id .a.\): malformed record \(turns"),
    "missing field": (lambda d: (d / "cases.jsonl").write_text(json.dumps(
        {"id": "a", "pair_id": "p", "turns": ["hi"]}) + "\n"), r"line 1 \(id .a.\): malformed record \(context"),
    "duplicate id": (lambda d: (d / "cases.jsonl").write_text("\n".join(json.dumps(
        {"id": "a", "pair_id": p, "context": "safe", "turns": ["hi"]}) for p in ("p", "q")) + "\n"),
        r"line 2.*duplicate id 'a'"),
    "missing image": (lambda d: (d / "safe_0.png").unlink(), r"safe_0\.png does not exist"),
    "corrupt image": (lambda d: (d / "safe_0.png").write_bytes(b"\x89PNG\r\n\x1a\ngarbage"), r"corrupt"),
    "decompression bomb": (lambda d: _decompression_bomb(d / "safe_0.png"), r"decompression bomb"),
    "unsupported format": (lambda d: (d / "safe_0.png").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>"),
                           r"corrupt or of an unsupported format"),
    "parent path": (lambda d: _retarget(d, "../outside.png"), r"leaves the data folder"),
    "absolute path": (lambda d: _retarget(d, str((d.parent / "outside.png").resolve())), r"is absolute"),
    "symlink out": (lambda d: ((d / "safe_0.png").unlink(), os.symlink(d.parent / "outside.png", d / "safe_0.png")),
                    r"leaves the data folder"),
}


def _retarget(folder: Path, image: str) -> None:
    path = folder / "cases.jsonl"
    lines = path.read_text().splitlines()
    rec = json.loads(lines[0])
    rec["images"] = [image]
    lines[0] = json.dumps(rec)
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("name", sorted(BAD_NATIVE))
def test_bad_native_input_is_named_and_the_store_untouched(tmp_path: Path, name: str) -> None:
    cases = native_file(tmp_path / "data", pairs=2, turns=1)
    (tmp_path / "outside.png").write_bytes(png((1, 2, 3)))
    store = tmp_path / "runs.sqlite"
    ok = subprocess.run(ctxsafe("run", "native", "--data", str(cases), "--store", str(store), "--out",
                                str(tmp_path / "out"), "--no-progress", "-m", "ref:always-refuse"),
                        capture_output=True, env=ENV, timeout=60)
    assert ok.returncode == 0, ok.stderr.decode()
    before = store.read_bytes()
    mutate, pattern = BAD_NATIVE[name]
    mutate(tmp_path / "data")
    res = subprocess.run(ctxsafe("run", "native", "--data", str(cases), "--store", str(store), "--out",
                                 str(tmp_path / "out"), "--no-progress", "-m", "ref:always-comply"),
                         capture_output=True, env=ENV, timeout=60)
    err = res.stderr.decode()
    assert res.returncode == 2 and "Traceback" not in err, err
    assert "cases.jsonl" in err or "safe_0.png" in err, err
    assert re.search(pattern, err.replace("\n", " ")), err
    assert store.read_bytes() == before


BAD_MSS: dict[str, tuple[Callable[[Path], None], str]] = {
    "truncated JSON": (lambda d: (d / "combined.json").write_text('{"chat": [{"safe_image_path": '),
                       r"combined\.json: invalid JSON"),
    "wrong type": (lambda d: _edit_mss(d, "queries", 42), r"record chat\[0\]: malformed record \(queries"),
    "missing field": (lambda d: _edit_mss(d, "safe_image_path", None), r"record chat\[0\]: malformed record"),
    "missing image": (lambda d: (d / "chat" / "unsafe_0.png").unlink(), r"record chat\[0\].*does not exist"),
    "corrupt image": (lambda d: (d / "chat" / "unsafe_0.png").write_bytes(b"GIF89a broken"), r"chat\[0\].*corrupt"),
    "decompression bomb": (lambda d: _decompression_bomb(d / "chat" / "unsafe_0.png"),
                           r"chat\[0\].*decompression bomb"),
    "parent path": (lambda d: _edit_mss(d, "unsafe_image_path", "../../outside.png"), r"chat\[0\].*leaves"),
    "absolute path": (lambda d: _edit_mss(d, "unsafe_image_path", "/etc/hostname"), r"chat\[0\].*absolute"),
}


def _edit_mss(root: Path, field: str, value: Any) -> None:
    doc = json.loads((root / "combined.json").read_text())
    if value is None:
        del doc["chat"][0][field]
    else:
        doc["chat"][0][field] = value
    (root / "combined.json").write_text(json.dumps(doc))


@pytest.mark.parametrize("name", sorted(BAD_MSS))
def test_bad_mssbench_input_is_named_and_no_store_is_written(tmp_path: Path, name: str) -> None:
    data = make_mss_dir(tmp_path / "data", n_chat=2, n_embodied=1)
    (tmp_path / "outside.png").write_bytes(png((1, 2, 3)))
    mutate, pattern = BAD_MSS[name]
    mutate(data)
    store = tmp_path / "runs.sqlite"
    res = subprocess.run(ctxsafe("run", "mssbench", "--data", str(data), "--store", str(store), "--no-progress"),
                         capture_output=True, env=ENV, timeout=60)
    err = res.stderr.decode().replace("\n", " ")
    assert res.returncode == 2 and "Traceback" not in err, err
    assert re.search(pattern, err), err
    assert not store.exists()
