"""The HTML report in a real headless Chromium (Debian's package), driven over the DevTools protocol.

`.ci/run` installs chromium and sets CTXSAFE_REQUIRE_BROWSER=1, so in CI a missing browser fails
instead of skipping. Screenshots are kept under `test-artifacts/` (gitignored) for a human to look at.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from ctxsafe.testing.cdp import Page, chromium_page, find_chromium
from ctxsafe.testing.openai_server import ServerConfig, ServerHandle
from ctxsafe.testing.synthetic_store import synthetic_run
from tests.report_helpers import cli, demo_runs, two_runs

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
CHROMIUM = find_chromium()
if CHROMIUM is None:
    if os.environ.get("CTXSAFE_REQUIRE_BROWSER") == "1":
        raise RuntimeError("chromium is required (CTXSAFE_REQUIRE_BROWSER=1) but was not found")
    pytest.skip("no chromium on this machine (apt-get install chromium)", allow_module_level=True)


class _Counter(BaseHTTPRequestHandler):
    hits: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        type(self).hits.append(self.path)
        self.send_response(404)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def remote() -> Iterator[tuple[int, list[str]]]:
    """A loopback server that records every request: a report must never fetch from it."""
    _Counter.hits = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Counter)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], _Counter.hits
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Page]:
    assert CHROMIUM is not None
    with chromium_page(CHROMIUM) as page:
        yield page


def _open(page: Page, path: Path) -> None:
    page.events.clear()
    page.goto(path.as_uri())
    page.wait_for("document.body && document.body.dataset.ready === '1'")


def _set(page: Page, ident: str, value: str) -> None:
    event = "input" if ident == "f-text" else "change"
    page.evaluate(f"(() => {{ const e = document.getElementById({json.dumps(ident)}); e.value = {json.dumps(value)};"
                  f" e.dispatchEvent(new Event({json.dumps(event)})); }})()")


def _matches(page: Page) -> int:
    return int(page.evaluate("document.getElementById('page-info').dataset.matches"))


def test_report_renders_filters_and_never_runs_planted_code(browser: Page, tmp_path: Path,
                                                            remote: tuple[int, list[str]]) -> None:
    port, hits = remote
    store = tmp_path / "runs.sqlite"
    a, b = two_runs(store, 200, port=port)
    out = tmp_path / "report.html"
    cli("report", a, b, "--store", str(store), "--out", str(tmp_path / "out"), "--html", str(out))
    _open(browser, out)
    assert browser.errors() == []
    assert browser.evaluate("document.querySelectorAll('#plot circle.point').length") == 2
    assert browser.evaluate("document.querySelectorAll('#pairs .pair').length") == 20  # the first page
    everything = _matches(browser)
    assert everything == 200  # 100 pairs in each of two runs

    _set(browser, "f-outcome", "unsafe-missed")
    missed = _matches(browser)
    assert 0 < missed < everything
    shown = browser.evaluate("[...document.querySelectorAll('#pairs .case:not(.dim)')].map(e => e.dataset.caseId)")
    assert shown and all(int(cid[1:]) % 2 == 1 for cid in shown)  # only unsafe twins are highlighted
    _set(browser, "f-run", "0")
    assert _matches(browser) < missed

    _set(browser, "f-outcome", "")
    _set(browser, "f-run", "")
    _set(browser, "f-text", "__pwned")
    browser.wait_for("document.getElementById('page-info').dataset.matches === '2'")  # pairs of cases 1, 2, 3
    text = browser.evaluate("document.getElementById('pairs').textContent")
    assert "<script>window.__pwned = 'script'</script>" not in text  # case 0 errored: no reply stored
    assert "<img src=x onerror=\"window.__pwned = 'onerror'\">" in text  # shown as text, verbatim
    assert "javascript:window.__pwned='link'" in text
    assert "</script><script>window.__pwned = 'breakout'</script>" in text
    assert browser.evaluate("typeof window.__pwned") == "undefined"
    assert browser.evaluate("document.scripts.length") == 2
    assert browser.evaluate("document.querySelectorAll('#pairs img:not(.thumb), #pairs a, #pairs script').length") == 0
    assert hits == []  # the remote images in replies were never fetched
    assert browser.errors() == []
    browser.screenshot(ARTIFACTS / "report-planted.png")


def test_demo_report_shows_thumbnails_twins_and_judge(browser: Page, tmp_path: Path) -> None:
    store, ids = demo_runs(tmp_path)
    out = tmp_path / "demo.html"
    cli("compare", *ids, "--store", str(store), "--html", str(out))
    _open(browser, out)
    assert browser.errors() == []
    thumbs = browser.evaluate("[...document.querySelectorAll('#pairs img.thumb')].map(i => i.src.slice(0, 23))")
    assert thumbs and set(thumbs) == {"data:image/jpeg;base64,"}
    assert browser.evaluate("document.querySelectorAll('#pairs .pair')[0].querySelectorAll('.case').length") == 2
    judge_line = browser.evaluate("document.querySelector('#pairs .judge').textContent")
    assert judge_line.startswith("judge scoring mss4:")  # the judge's id and label, shown per case
    assert browser.evaluate("document.querySelectorAll('#compare tbody tr').length") >= 1
    browser.evaluate("document.getElementById('browser').scrollIntoView()")
    browser.screenshot(ARTIFACTS / "report-demo-browser.png")
    browser.evaluate("window.scrollTo(0, 0)")
    browser.screenshot(ARTIFACTS / "report-demo-top.png")


def test_a_20000_case_report_becomes_interactive(browser: Page, tmp_path: Path) -> None:
    """Loads and answers a filter; the bound is generous (a loaded machine). The real figure is measured by
    benchmarks/bench_report_html.py."""
    store = tmp_path / "big.sqlite"
    synthetic_run(store, "big", 20000)
    out = tmp_path / "big.html"
    cli("report", "big", "--store", str(store), "--out", str(tmp_path / "out"), "--html", str(out))
    _open(browser, out)
    assert _matches(browser) == 10000
    _set(browser, "f-outcome", "error")
    assert _matches(browser) == len(range(0, 20000, 97))
    assert browser.errors() == []


def test_guards_section_renders_without_console_errors(browser: Page, tmp_path: Path,
                                                        openai_server: Callable[..., ServerHandle]) -> None:
    from tests.test_guard_eval import GUARD_RULES, _mtmcs_guard_run

    guard = openai_server(ServerConfig(rules=GUARD_RULES))
    assert _mtmcs_guard_run(tmp_path, guard).exit_code == 0
    bare = json.loads(next((tmp_path / "results").glob("guards-*.json")).read_text())
    page = tmp_path / "guards.html"
    cli("report", bare["run_id"], bare["guarded_runs"][0]["run_id"], "--store", str(tmp_path / "runs.sqlite"),
        "--out", str(tmp_path / "rep"), "--html", str(page))
    _open(browser, page)
    assert browser.errors() == []
    assert browser.evaluate("document.querySelectorAll('#guards table.guards tbody tr').length") >= 1
    assert browser.evaluate("document.querySelectorAll('#guards svg.firing rect.bar-unsafe').length") == 2
    heights = browser.evaluate("[...document.querySelectorAll('#guards svg.firing rect.bar-unsafe')]"
                               ".map(r => r.getBBox().height)")
    assert all(h > 0 for h in heights)  # drawn, not collapsed: one unsafe case fired at t1, one at t3
    assert "blocked at input" in browser.evaluate("document.querySelector('#guards table.stages').textContent")
    browser.evaluate("document.getElementById('guards').scrollIntoView()")
    browser.screenshot(ARTIFACTS / "report-guards.png")
