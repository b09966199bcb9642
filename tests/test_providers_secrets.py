"""No key in any stored or printed text, for every native provider: the planted key authenticates the
model under test, a second planted key is refused (401) as the judge's, and every artefact is searched."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from ctxsafe.exit_codes import ExitCode
from ctxsafe.testing.openai_server import ServerConfig, ServerHandle
from tests.test_providers_native import needs_sdk
from tests.test_reliability_secrets import KEY, OTHER_KEY, ROOT, _artefacts, _assert_absent, _ctxsafe, _native

SPECS = {"anthropic": "anthropic/claude-test", "google": "google/gemini-test", "azure": "azure/deploy-test",
         "openai-responses": "openai-responses/gpt-test"}


@pytest.mark.parametrize("family", sorted(SPECS))
def test_native_provider_keys_never_written(family: str, tmp_path: Path,
                                            openai_server: Callable[..., ServerHandle]) -> None:
    needs_sdk(family)
    server = openai_server(ServerConfig(api_key=KEY, reply="Sure, here you go."))
    base = server.base_url if family == "openai-responses" else server.root_url
    data = _native(tmp_path / "data")
    store, out = tmp_path / "run" / "runs.sqlite", tmp_path / "run" / "out"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "PLANTED_KEY": KEY, "WRONG_KEY": OTHER_KEY}
    common = ("run", "native", "--data", str(data), "--model", SPECS[family], "--base-url", base,
              "--api-key-env", "PLANTED_KEY", "--store", str(store), "--out", str(out), "--no-progress",
              "--max-attempts", "1")
    played = _ctxsafe(*common, "--judge", "none", env=env)  # the model's answers, stored
    assert played.returncode == 0, played.stderr.decode()
    ok = _ctxsafe(*common, "--judge", SPECS[family], "--judge-base-url", base, "--judge-api-key-env", "WRONG_KEY",
                  env=env)
    # Every model answer comes from the store (so no pre-flight before it): the refused judge key stops the
    # run at the judge's first call with one line (exit 4).
    assert ok.returncode == ExitCode.PROVIDER_REFUSED, ok.stderr.decode()
    assert b"authentication failed" in ok.stderr
    stats = server.stats()
    assert stats["outcomes"].get("ok", 0) == 12, stats  # 6 dialogues x 2 turns, all authenticated
    assert stats["outcomes"].get("unauthorized", 0) == 1, stats  # the judge's first call, refused, not repeated
    with sqlite3.connect(store) as db:
        run_id = db.execute("SELECT run_id FROM runs").fetchone()[0]
    report = _ctxsafe("report", run_id, "--store", str(store), "--out", str(out), env=env)
    # The judge never ran, so report says so and exits 3; it still writes what it can, and no key.
    assert report.returncode == ExitCode.FINISHED_WITH_ERRORS, report.stderr.decode()
    assert b"Traceback" not in report.stderr and b"no judgements" in report.stdout + report.stderr
    texts = {str(p): p.read_bytes() for p in _artefacts(tmp_path / "run")}
    texts |= {"played stdout": played.stdout, "played stderr": played.stderr,
              "run stdout": ok.stdout, "run stderr": ok.stderr, "report stdout": report.stdout,
              "report stderr": report.stderr}
    assert any(name.endswith("runs.sqlite") for name in texts)
    _assert_absent(KEY, texts)
    _assert_absent(OTHER_KEY, texts)
