"""A planted API key never reaches the store, the logs, the results files or the reports.

Why: runs are shared (stores, results JSON, CI logs); a key that leaks into any of them is a key
that has to be revoked. The key is planted in the environment variable ctxsafe is told to read,
and (separately) pasted into a base URL, and every artefact of a run is then searched for it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from ctxsafe.exit_codes import ExitCode
from ctxsafe.testing.openai_server import ServerConfig, ServerHandle

ROOT = Path(__file__).resolve().parents[1]
KEY = "sk-plantedKEY0123456789abcdefXYZ"
OTHER_KEY = "sk-otherKEY9876543210fedcbaQRS"


def _native(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps({"id": f"d{p}-{ctx}", "pair_id": f"d{p}", "context": ctx,
                         "turns": [f"Dialogue {p}-{ctx}: hello.", f"Dialogue {p}-{ctx}: and now?"]})
             for p in range(3) for ctx in ("safe", "unsafe")]
    path = folder / "cases.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _ctxsafe(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "ctxsafe", *args], capture_output=True, env=env, timeout=120,
                          check=False)


def _artefacts(*folders: Path) -> list[Path]:
    return [p for folder in folders for p in sorted(folder.rglob("*")) if p.is_file()]


def _assert_absent(secret: str, texts: dict[str, bytes]) -> None:
    needle = secret.encode()
    leaks = [name for name, data in texts.items() if needle in data]
    assert not leaks, f"{secret} found in {leaks}"


def test_planted_key_is_used_but_never_written(tmp_path: Path, openai_server: Callable[..., ServerHandle]) -> None:
    server = openai_server(ServerConfig(api_key=KEY, reply="Sure, here you go."))
    data = _native(tmp_path / "data")
    store, out = tmp_path / "run" / "runs.sqlite", tmp_path / "run" / "out"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "PLANTED_KEY": KEY, "WRONG_KEY": OTHER_KEY}
    common = ["run", "native", "--data", str(data), "--model", "openai:mock", "--base-url", server.base_url,
              "--api-key-env", "PLANTED_KEY", "--store", str(store), "--out", str(out), "--no-progress",
              "--max-attempts", "1"]
    # The LLM judge is sent a wrong key: its pre-flight, before the model's first call, fails with 401 and the
    # run stops with a message naming the variable; then the model authenticates with the planted key. Both
    # paths must stay clean.
    refused = _ctxsafe(*common, "--judge", "openai:judge", "--judge-base-url", server.base_url,
                       "--judge-api-key-env", "WRONG_KEY", env=env)
    assert refused.returncode == ExitCode.PROVIDER_REFUSED, refused.stderr.decode()
    assert b"$WRONG_KEY" in refused.stderr
    assert server.stats()["outcomes"].get("ok", 0) == 0  # stopped before the model was called
    assert server.stats()["outcomes"].get("unauthorized", 0) == 1  # the judge's pre-flight, then it stopped
    ok = _ctxsafe(*common, "--judge", "offline", env=env)
    assert ok.returncode == 0, ok.stderr.decode()
    assert server.stats()["outcomes"].get("ok", 0) == 12  # 6 dialogues x 2 turns, all authenticated
    run_id = json.loads(next(out.glob("*.json")).read_text())["run_id"]
    report = _ctxsafe("report", run_id, "--store", str(store), "--out", str(out), env=env)
    assert report.returncode == 0, report.stderr.decode()
    runs = _ctxsafe("runs", "--store", str(store), env=env)
    texts = {str(p): p.read_bytes() for p in _artefacts(tmp_path / "run")}
    texts |= {"refused stdout": refused.stdout, "refused stderr": refused.stderr,
              "run stdout": ok.stdout, "run stderr": ok.stderr, "report stdout": report.stdout,
              "report stderr": report.stderr, "runs stdout": runs.stdout}
    assert any(name.endswith("runs.sqlite") for name in texts)
    _assert_absent(KEY, texts)
    _assert_absent(OTHER_KEY, texts)


def test_key_pasted_into_the_base_url_is_masked(tmp_path: Path, openai_server: Callable[..., ServerHandle]) -> None:
    """Some gateways take the key as a query parameter; the URL is part of the stored provider identity."""
    server = openai_server(ServerConfig(reply="Sure."))
    data = _native(tmp_path / "data")
    store, out = tmp_path / "run" / "runs.sqlite", tmp_path / "run" / "out"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    res = _ctxsafe("run", "native", "--data", str(data), "--model", "openai:mock",
                   "--base-url", f"{server.base_url}?api-key={KEY}", "--store", str(store), "--out", str(out),
                   "--no-progress", "--max-attempts", "1", env=env)
    # The key in the query string breaks the route (404): the run stops at once, still without the key.
    assert res.returncode == ExitCode.PROVIDER_REFUSED, res.stderr.decode()
    texts = {str(p): p.read_bytes() for p in _artefacts(tmp_path / "run")}
    texts |= {"stdout": res.stdout, "stderr": res.stderr}
    _assert_absent(KEY, texts)
