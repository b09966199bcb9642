"""Text from models, data sets and errors is printed inert: no escape sequence acts, no markup renders.

The stored text stays exact; only what reaches the terminal is neutralised.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ctxsafe.cli import app
from ctxsafe.inert import inert, inert_markup, inert_text
from ctxsafe.redact import register_secret
from ctxsafe.testing.openai_server import ServerConfig, ServerHandle

HOSTILE = ("\x1b[2J\x1b[8mhidden\x1b[0m \x1b]8;;http://evil.example/\x07click\x1b]8;;\x07 \x07bell \rover "
           "\u202eevil\u202c [/] [link=http://evil.example/]x[/link] [bold red]loud[/] pip install '.[hub]'")


def cli(*args: str) -> Any:
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


@pytest.mark.parametrize(("raw", "shown"), [
    ("\x1b[2J", "\\x1b[2J"), ("a\x07b", "a\\x07b"), ("x\ry", "x\\x0dy"), ("\x9b31m", "\\x9b31m"),
    ("\u202eabc", "\\u202eabc"), ("\u2066x\u2069", "\\u2066x\\u2069"), ("lone \ud800", "lone \\ud800"),
    ("\x00\x7f", "\\x00\\x7f"), ("\ufeffbom", "\\ufeffbom"),
])
def test_controls_are_shown_as_visible_escapes(raw: str, shown: str) -> None:
    assert inert(raw) == shown


@pytest.mark.parametrize("text", ["plain", "line 1\nline 2\ttab", "日本語 émigré", "👩‍👩‍👧 family (ZWJ kept)",
                                  "Ελληνικά", "עברית"])
def test_ordinary_text_is_unchanged(text: str) -> None:
    assert inert(text) == text


def test_markup_is_escaped_and_shown_literally() -> None:
    from rich.console import Console

    console = Console(record=True, width=200, color_system=None)
    for text in ("[/]", "[link=http://evil.example/]x[/link]", "pip install '.[hub]'", "a \\[b]"):
        console.print(inert_markup(text))
        assert console.export_text().strip() == text
    assert inert_text("[b]x[/b]").plain == "[b]x[/b]"


def test_configured_secrets_are_masked_when_printed() -> None:
    register_secret("tok-9f8e7d6c5b4a")
    assert "tok-9f8e7d6c5b4a" not in inert("the key is tok-9f8e7d6c5b4a")


def test_show_prints_a_hostile_reply_inert_and_stores_it_exact(
        tmp_path: Path, openai_server: Callable[..., ServerHandle]) -> None:
    server = openai_server(ServerConfig(reply=HOSTILE))
    store = tmp_path / "runs.sqlite"
    res = cli("run", "mtmcs", "--model", "openai:mock", "--base-url", server.base_url, "--judge", "offline",
              "--type", "a", "--modality", "text", "--limit", "1", "--store", str(store),
              "--out", str(tmp_path / "out"), "--no-progress")
    assert res.exit_code == 0, res.output
    with sqlite3.connect(store) as db:
        stored = {r[0] for r in db.execute("SELECT response FROM turns WHERE step LIKE 't%'")}
        run_id = db.execute("SELECT run_id FROM runs").fetchone()[0]
    assert stored == {HOSTILE}  # the store keeps the exact text
    shown = cli("show", run_id, "--store", str(store), "--limit", "1")
    assert shown.exit_code == 0, shown.output
    out = shown.output
    assert "\x1b" not in out and "\x07" not in out and "\r" not in out and "\u202e" not in out
    flat = " ".join(out.split())
    for literal in ("[/]", "[link=http://evil.example/]x[/link]", "[bold red]loud[/]", "'.[hub]'", "\\x1b[2J"):
        assert literal in flat, literal


def test_markup_in_dataset_fields_and_error_texts_is_printed_literally(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    cases = folder / "cases.jsonl"
    cases.write_text("".join(json.dumps({"id": f"[/]{c}", "pair_id": "[link=http://evil.example/]p", "context": c,
                                         "category": "[bold]cat[/] \x1b[2J", "turns": ["hello"]}) + "\n"
                             for c in ("safe", "unsafe")), encoding="utf-8")
    res = cli("run", "native", "--data", str(cases), "-m", "ref:always-refuse", "--by-category",
              "--store", str(tmp_path / "runs.sqlite"), "--out", str(tmp_path / "out"), "--no-progress")
    assert res.exit_code == 0, res.output
    assert "[bold]cat[/] \\x1b[2J" in res.output and "\x1b" not in res.output
    (folder / "cases.jsonl").write_text("".join(json.dumps({"id": c, "pair_id": "p", "context": c, "turns": ["x"],
                                                            "images": ["pip install '.[hub]' [/].png"]}) + "\n"
                                                for c in ("safe", "unsafe")))
    bad = cli("run", "native", "--data", str(cases), "-m", "ref:always-refuse", "--store",
              str(tmp_path / "runs.sqlite"), "--no-progress")
    assert bad.exit_code == 2
    assert "pip install '.[hub]' [/].png" in " ".join(bad.output.split())
