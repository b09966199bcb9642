"""Hostile text in replies and data: stored and resumed safely, never a crash loop or an orphan run row;
a configured key a model echoes is never stored or shown."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from ctxsafe.exit_codes import ExitCode
from ctxsafe.testing.openai_server import ServerConfig, ServerHandle

KEY = "sk-echoedKEY0123456789abcdefghij"


def native(folder: Path, turn: str = "hello") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "cases.jsonl"
    path.write_text("".join(json.dumps({"id": f"p{p}-{c}", "pair_id": f"p{p}", "context": c,
                                        "turns": [f"{turn} {p} {c}", "more?"]}) + "\n"
                            for p in range(2) for c in ("safe", "unsafe")), encoding="utf-8")
    return path


def run(tmp_path: Path, server: ServerHandle, data: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ctxsafe", "run", "native", "--data", str(data), "-m", "openai:mock",
                           "--base-url", server.base_url, "--store", str(tmp_path / "runs.sqlite"), "--out",
                           str(tmp_path / "out"), "--no-progress", "--api-key-env", "ECHO_KEY"],
                          capture_output=True, text=True, timeout=120, env={**os.environ, **env}, check=False)


def test_a_reply_with_a_lone_surrogate_is_stored_and_resumed(tmp_path: Path,
                                                             openai_server: Callable[..., ServerHandle]) -> None:
    server = openai_server(ServerConfig(reply="odd \ud800 text and \udfff end"))
    data = native(tmp_path / "data")
    first = run(tmp_path, server, data)
    assert first.returncode == 0, first.stderr
    with sqlite3.connect(tmp_path / "runs.sqlite") as db:
        stored = {r[0] for r in db.execute("SELECT response FROM turns")}
    assert stored == {"odd \ufffd text and \ufffd end"}  # replaced, as documented; nothing else changed
    calls = server.stats()["chat_completions"]
    assert calls == 8
    again = run(tmp_path, server, data)
    assert again.returncode == 0 and server.stats()["chat_completions"] == calls  # resumed: nothing re-sent


def test_a_lone_surrogate_in_the_data_is_named_and_leaves_no_run_row(
        tmp_path: Path, openai_server: Callable[..., ServerHandle]) -> None:
    server = openai_server(ServerConfig(reply="fine"))
    ok = run(tmp_path, server, native(tmp_path / "good"))
    assert ok.returncode == 0
    data = tmp_path / "bad" / "cases.jsonl"
    data.parent.mkdir()
    data.write_text(native(tmp_path / "good").read_text().replace("hello 1", "hello \\ud800 1"))
    res = run(tmp_path, server, data)
    assert res.returncode == ExitCode.BAD_INPUT and "Traceback" not in res.stderr
    assert "lone UTF-16 surrogate" in " ".join(res.stderr.split()) and "line 3" in res.stderr
    with sqlite3.connect(tmp_path / "runs.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 1  # only the good run


def test_an_echoed_key_is_neither_stored_nor_shown(tmp_path: Path,
                                                   openai_server: Callable[..., ServerHandle]) -> None:
    server = openai_server(ServerConfig(api_key=KEY, reply=f"Your key is {KEY}, keep it safe."))
    res = run(tmp_path, server, native(tmp_path / "data"), ECHO_KEY=KEY)
    assert res.returncode == 0, res.stderr
    blobs = [p.read_bytes() for p in tmp_path.rglob("*") if p.is_file() and "data" not in p.parts]
    assert blobs and all(KEY.encode() not in b for b in blobs)
    assert KEY not in res.stdout + res.stderr
    with sqlite3.connect(tmp_path / "runs.sqlite") as db:
        assert {r[0] for r in db.execute("SELECT response FROM turns")} == {"Your key is ***, keep it safe."}
