"""Each dialogue is judged as soon as its replies exist, by the worker that played it (no barrier between
generation and judging; issue 12's MTMCS throughput), and what that judged is neither asked again nor counted
twice by the judging pass that follows."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

from typer.testing import CliRunner

from ctxsafe.cli import app
from ctxsafe.testing.openai_server import ReplyRule, ServerConfig, ServerHandle

JUDGE_PROMPT = "<<<REPLY-"  # the four-class judge's user message quotes the reply between markers
TURNS = [ReplyRule(pattern=rf"\({i} {side}\)", reply=f"Sure ({i} {side}).") for i in range(2)
         for side in ("safe", "unsafe")]  # a reply of its own per dialogue: no judge request is a cache hit


def _data(path: Path, pairs: int) -> Path:
    with path.open("w", encoding="utf-8") as fh:
        for i in range(pairs):
            for side in ("safe", "unsafe"):
                fh.write(json.dumps({"id": f"p{i}-{side}", "pair_id": f"p{i}", "context": side,
                                     "turns": [f"Hello ({i} {side})", f"And then ({i} {side})?"]}) + "\n")
    return path


def _run(tmp_path: Path, server: ServerHandle, *extra: str) -> tuple[int, str]:
    res = CliRunner().invoke(app, [
        "run", "native", "--data", str(_data(tmp_path / "d.jsonl", 2)), "--model", "openai:m", "--base-url",
        server.base_url, "--judge", "openai:j", "--judge-base-url", server.base_url, "--no-progress", "--store",
        str(tmp_path / "s.sqlite"), "--out", str(tmp_path / "out"), "--timeout", "10", "--max-attempts", "1", *extra])
    return res.exit_code, res.output


def _kinds(server: ServerHandle) -> str:
    """M for a model turn, J for a judge request, in the order the server received them (the judge's
    one-token pre-flight left out)."""
    out = []
    for entry in server.log():
        body = entry["body"]
        if body.get("max_tokens") == 1:
            continue
        out.append("J" if JUDGE_PROMPT in json.dumps(body["messages"]) else "M")
    return "".join(out)


def test_a_dialogue_is_judged_before_the_next_one_starts(tmp_path: Path,
                                                         openai_server: Callable[..., ServerHandle]) -> None:
    """With one worker the order is exact: a dialogue's turns, then its judge, then the next dialogue (the judging
    phase used to start only after every dialogue was played: MMMMMMMMJJJJ)."""
    server = openai_server(ServerConfig(log_requests=True, reply="Sure.", rules=[
        ReplyRule(pattern=JUDGE_PROMPT, reply="Scripted.\n<answer>2</answer>"), *TURNS]))
    code, output = _run(tmp_path, server, "--concurrency", "1")
    assert code == 0, output
    assert _kinds(server) == "MMJ" * 4
    with sqlite3.connect(tmp_path / "s.sqlite") as db:
        judged = db.execute("SELECT case_id, step, label FROM judgements ORDER BY case_id").fetchall()
    assert judged == [(f"p{i}-{s}", "t2", 2) for i in range(2) for s in ("safe", "unsafe")]  # once each


def test_failed_early_judgements_are_counted_once_and_not_asked_again(
        tmp_path: Path, openai_server: Callable[..., ServerHandle]) -> None:
    server = openai_server(ServerConfig(log_requests=True, reply="Sure.", rules=[
        ReplyRule(pattern=JUDGE_PROMPT, reply=None, finish_reason="content_filter"), *TURNS]))
    code, output = _run(tmp_path, server, "--concurrency", "4")
    assert code != 0 and "4 failed or unparseable judgements" in " ".join(output.split())
    assert sorted(_kinds(server)) == sorted("MMJ" * 4)  # each final turn's judge asked once in this session
    doc = json.loads(next((tmp_path / "out").glob("*.json")).read_text())
    assert doc["this_session"]["judging"][0] == {"total_steps": 4, "already_done": 0, "new_steps": 4, "errors": 4,
                                                 "calls_made": 0, "cache_hits": 0}
