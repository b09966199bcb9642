"""The command line as a user runs it (a fresh `python -m ctxsafe` process), and a small native dialogue file to
run it on: one copy for the tests that need a real process (exit codes, budgets, batches, costs)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def cli_env(**extra: str) -> dict[str, str]:
    """This environment, with the checkout's sources importable and `extra` variables set."""
    return {**os.environ, "PYTHONPATH": str(ROOT / "src"), **extra}


def run_ctxsafe(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ctxsafe", *args], capture_output=True, text=True,
                          env=cli_env() if env is None else env, timeout=300, check=False)


def dialogue_cases(folder: Path, pairs: int) -> Path:
    """A native suite file of `pairs` safe/unsafe twins, two text turns each."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps({"id": f"d{p}-{ctx}", "pair_id": f"d{p}", "context": ctx,
                         "turns": [f"Dialogue {p}-{ctx}: hello.", f"Dialogue {p}-{ctx}: and now?"]})
             for p in range(pairs) for ctx in ("safe", "unsafe")]
    path = folder / "cases.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
