"""Adaptive concurrency against a provider that rate-limits by concurrency: 429s and throughput.

The fault-injecting server answers 429 (without a Retry-After hint) to any request that arrives
while `--capacity` are in flight, like a provider's concurrency limit. The same unique requests
are sent through the engine's Caller twice, with a fixed limit and with the adaptive limit
(both starting at `--concurrency`), and the script prints each run's 429s and throughput and
the ratios adaptive / fixed. Run: python benchmarks/bench_adaptive.py
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from ctxsafe.engine.call import Caller
from ctxsafe.engine.retry import RetryPolicy
from ctxsafe.engine.store import RunStore
from ctxsafe.images import ImageStore
from ctxsafe.providers.base import GenParams
from ctxsafe.providers.openai_compat import OpenAICompatible
from ctxsafe.schema import Message
from ctxsafe.testing.openai_server import ServerConfig, start_subprocess


async def one_run(base_url: str, store: RunStore, n: int, concurrency: int, adaptive: bool, tag: str) -> float:
    provider = OpenAICompatible("mock", base_url=base_url, api_key=None, max_concurrency=concurrency)
    caller = Caller(provider, GenParams(), store, ImageStore(),
                    RetryPolicy(max_attempts=30, base_s=0.05, cap_s=1.0), concurrency, adaptive=adaptive)
    start = time.perf_counter()
    results = await asyncio.gather(*(caller.complete([Message.user(f"{tag} request {i}")]) for i in range(n)))
    wall = time.perf_counter() - start
    await provider.aclose()
    failed = sum(1 for r in results if r.completion is None)
    if failed:
        raise SystemExit(f"{tag}: {failed} requests failed after all retries")
    return wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--requests", type=int, default=600)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--capacity", type=int, default=8)
    ap.add_argument("--delay", type=float, default=0.05, help="server latency per request, seconds")
    args = ap.parse_args()
    cfg = ServerConfig(reply="ok", delay_s=args.delay, max_concurrent=args.capacity, retry_after_s=None)
    server = start_subprocess(cfg)
    rows = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            store = RunStore(Path(tmp) / "s.sqlite")
            for adaptive in (False, True):
                server.reset()
                tag = "adaptive" if adaptive else "fixed"
                wall = asyncio.run(one_run(server.base_url, store, args.requests, args.concurrency, adaptive, tag))
                stats = server.stats()
                rows[tag] = (stats["outcomes"].get("429", 0), args.requests / wall, wall)
            store.close()
    finally:
        server.stop()
    print(f"{args.requests} requests, concurrency {args.concurrency}, server capacity {args.capacity}, "
          f"latency {args.delay}s")
    for tag, (n429, rps, wall) in rows.items():
        print(f"  {tag:8s}  429s: {n429:6d}   throughput: {rps:7.1f} req/s   wall: {wall:6.2f}s")
    f429, frps, _ = rows["fixed"]
    a429, arps, _ = rows["adaptive"]
    print(f"ratio adaptive/fixed: 429s {a429 / max(f429, 1):.3f}, throughput {arps / frps:.3f}")


if __name__ == "__main__":
    main()
