"""The throughput workload as an Inspect AI task, for comparison (Inspect is NOT a ctxsafe dependency).

Run by bench_throughput.py with a Python that has `inspect_ai` installed (e.g. a separate venv:
`python -m venv /tmp/inspect-venv && /tmp/inspect-venv/bin/pip install inspect-ai openai`). Each
sample plays the same two user turns against the same server, turn 2 carrying turn 1's reply,
with 64 connections; prints one JSON line with the seconds spent in `eval`.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

from inspect_ai import Task, eval
from inspect_ai.dataset import MemoryDataset, Sample
from inspect_ai.model import ChatMessageUser
from inspect_ai.solver import Generate, TaskState, solver

MODEL = "ctxsafe-mock"


@solver
def play_turns() -> Any:
    """Turn 1 is the sample input; every later turn is appended after the model's previous reply."""

    async def solve(state: TaskState, generate: Generate) -> TaskState:
        turns: list[str] = state.metadata["turns"]
        for i, text in enumerate(turns):
            if i > 0:
                state.messages.append(ChatMessageUser(content=text))
            state = await generate(state)
        return state

    return solve


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--base-url", required=True)
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--log-dir", default="inspect-logs")
    args = ap.parse_args()
    samples = []
    with args.data.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                d = json.loads(line)
                samples.append(Sample(id=d["id"], input=d["turns"][0], metadata={"turns": d["turns"]}))
    if args.limit is not None:
        samples = samples[: args.limit]
    os.environ.setdefault("OPENAI_API_KEY", "EMPTY")
    task = Task(dataset=MemoryDataset(samples), solver=play_turns())
    start = time.perf_counter()
    # Chat Completions (what the local server and ctxsafe speak), not the Responses API.
    logs = eval(task, model=f"openai/{MODEL}", model_base_url=args.base_url, model_args={"responses_api": False},
                log_dir=args.log_dir,
                display="none", max_samples=args.concurrency, max_connections=args.concurrency,
                temperature=0.0, max_retries=0, score=False)
    seconds = time.perf_counter() - start
    status = logs[0].status if logs else "no log"
    print(json.dumps({"seconds": seconds, "status": status, "samples": len(samples)}), flush=True)
    return 0 if status == "success" else 1


if __name__ == "__main__":
    raise SystemExit(main())
