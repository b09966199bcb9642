"""Helpers for policy tests: CLI runs against the local server, and reading steps back from the store."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from ctxsafe.cli import app
from ctxsafe.testing.openai_server import ServerHandle


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def cli(*args: str) -> Any:
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def mss_args(root: Path, server: ServerHandle, store: Path, *more: str) -> list[str]:
    return ["run", "mssbench", "--data", str(root), "--model", "openai:mock", "--base-url", server.base_url,
            "--store", str(store), "--out", str(store.parent / "results"), "--retry-base", "0.01",
            "--timeout", "5", "--no-progress", *more]


def steps(store: Path, run_like: str = "%") -> dict[tuple[str, str, str], dict[str, Any]]:
    """(run_id, case_id, step) -> the stored row, for runs whose id matches `run_like`."""
    with sqlite3.connect(store) as db:
        db.row_factory = sqlite3.Row
        rows = db.execute("SELECT * FROM turns WHERE run_id LIKE ?", (run_like,)).fetchall()
    return {(r["run_id"], r["case_id"], r["step"]): dict(r) for r in rows}


def run_ids(store: Path) -> dict[str, dict[str, Any]]:
    """run id -> its stored config."""
    with sqlite3.connect(store) as db:
        return {r[0]: json.loads(r[1]) for r in db.execute("SELECT run_id, config FROM runs")}


def last_user_text(entry: dict[str, Any]) -> str:
    """The text of the last user message of a logged request."""
    msg = [m for m in entry["body"]["messages"] if m["role"] == "user"][-1]
    content = msg["content"]
    if isinstance(content, str):
        return content
    return "\n".join(p["text"] for p in content if p.get("type") == "text")


def results(store: Path) -> dict[str, dict[str, Any]]:
    return {p.stem: json.loads(p.read_text()) for p in (store.parent / "results").glob("*.json")}
