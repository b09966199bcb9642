"""Batched local generation against one request at a time, on the same model in the same run.

Builds the tests' tiny randomly initialised LLaVA (CLIP tower + Llama, tests/hf_helpers.py), or takes
`--model FOLDER`, and answers `--n` distinct image+text requests sent together: once with batches of one
(`--concurrency 1`: one `generate` per request) and once with batches of `--batch`. Prints both wall
times, the batch sizes used, and the ratio. A tiny model is dominated by per-call overhead, so its ratio
overstates what a real model gains. Run: python benchmarks/bench_local_batching.py
"""

from __future__ import annotations

import argparse
import asyncio
import io
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

from ctxsafe.images import ImageStore
from ctxsafe.providers.base import GenParams
from ctxsafe.providers.local_hf import LocalHF
from ctxsafe.providers.registry import Endpoint, make_provider
from ctxsafe.schema import Message

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' tiny-model builders
from tests.hf_helpers import tiny_llava


def requests(n: int, images: ImageStore) -> list[list[Message]]:
    out = []
    for i in range(n):
        buf = io.BytesIO()
        Image.new("RGB", (32 + i, 24), ((37 * i) % 256, (91 * i) % 256, 128)).save(buf, format="PNG")
        part = images.add_bytes(buf.getvalue(), source=f"bench/{i}.png", record=str(i))
        out.append([Message.user(part, " ".join(["what is this"] * (1 + i % 4)))])
    return out


async def timed(folder: Path, batch: int, convs: list[list[Message]], images: ImageStore, tokens: int) -> float:
    provider = make_provider(f"hf:{folder}", Endpoint(device="cpu", concurrency=batch))
    assert isinstance(provider, LocalHF)
    provider.loaded()  # loading is not what is measured
    start = time.perf_counter()
    await asyncio.gather(*(provider.complete(c, GenParams(max_tokens=tokens), images) for c in convs))
    wall = time.perf_counter() - start
    print(f"  batch {batch:>3}  generate calls: {len(provider.batch_sizes):>4}  wall: {wall:7.2f}s")
    return wall


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--tokens", type=int, default=16)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.model or tiny_llava(Path(tmp) / "tiny-llava")
        images = ImageStore()
        convs = requests(args.n, images)
        one = asyncio.run(timed(folder, 1, convs, images, args.tokens))
        many = asyncio.run(timed(folder, args.batch, convs, images, args.tokens))
    print(f"ratio batched/one-at-a-time wall: {many / one:.3f} (speed-up {one / many:.2f}x)")


if __name__ == "__main__":
    main()
