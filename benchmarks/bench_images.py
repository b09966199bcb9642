"""Image dialogues: each image decoded once per content, a cached re-run, loading at full scale (issue 12).

The workload: N three-turn dialogues (safe/unsafe twins share one photo, so N/2 image files), each
image attached to the first user turn and so resent on every turn, over real photos (MOSSBench's
test images from ../shared/data, else the demo photos shipped in ctxsafe), one hard link per image
file so every twin pair has its own path. Against the instant local server, each in a fresh process
(imports before the clock):

- the original run (a fresh store) and the same command again (a fully cached re-run), as a ratio;
- that re-run with the store's image memory deleted first: what every re-run cost before issue 12;
- loading (reading, checking, building the cases) with and without the store's image memory;
- a bare `openai` loop sending the same dialogues (each image's data URL encoded once per run).

    python benchmarks/bench_images.py                      # 2,000 dialogues (~6,000 calls)
    python benchmarks/bench_images.py --dialogues 12000 --load-only
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import workloads
from common import CONCURRENCY, MODEL, instant_server, machine, pin, verdict
from workloads import IMAGE_TURNS, SHARED_PHOTOS, image_dialogues

TURNS = IMAGE_TURNS
RERUN_TARGET = 0.05


def build(root: Path, n: int) -> Path:
    """The native-suite file and its image folder (see workloads.py); the files old enough to be remembered."""
    return image_dialogues(root, n)


def run_args(data: Path, base_url: str, store: Path, out: Path) -> list[str]:
    return workloads.run_args("images", data, base_url, store, out)


def child_run(data: Path, base_url: str, store: Path, out: Path) -> dict[str, Any]:
    import contextlib

    from ctxsafe.cli import app

    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        start = time.perf_counter()
        app(run_args(data, base_url, store, out), standalone_mode=False)
        return {"seconds": time.perf_counter() - start}


def child_load(data: Path, store: Path, remember: bool) -> dict[str, Any]:
    """Read, check and build the cases as a run does (the store's image memory used, and written if asked)."""
    import ctxsafe.cli  # noqa: F401  - imports before the clock
    from ctxsafe.engine.store import RunStore
    from ctxsafe.images import ImagePolicy, ImageStore
    from ctxsafe.suites.protocol import CommonOptions
    from ctxsafe.suites.registry import get_suite
    from ctxsafe.suites.runner import known_images

    suite = get_suite("native")
    start = time.perf_counter()
    policy = ImagePolicy()
    images = ImageStore(policy, known=known_images(store, policy.max_side))
    prepared = suite.prepare(CommonOptions(data=str(data)), {o.name: o.default for o in suite.options}, images)
    n_cases = sum(1 for _ in prepared.cases)  # the loader yields lazily: loading happens here
    seconds = time.perf_counter() - start
    if remember:
        st = RunStore(store)
        st.remember_image_checks(policy.max_side, images.fresh.values())
        st.close()
    return {"seconds": seconds, "decoded": images.decoded, "cases": n_cases}


def child_bare(data: Path, base_url: str) -> dict[str, Any]:
    import openai

    rows = [json.loads(line) for line in data.read_text(encoding="utf-8").splitlines()]

    async def go() -> float:
        client = openai.AsyncOpenAI(base_url=base_url, api_key="EMPTY", max_retries=0, timeout=120.0)
        urls: dict[str, str] = {}
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        for r in rows:
            queue.put_nowait(r)

        def url(name: str) -> str:  # encoded once per run, like ctxsafe's image store
            if name not in urls:
                urls[name] = "data:image/jpeg;base64," + base64.b64encode((data.parent / name).read_bytes()).decode()
            return urls[name]

        async def worker() -> None:
            while not queue.empty():
                r = queue.get_nowait()
                messages: list[dict[str, Any]] = []
                for k, text in enumerate(r["turns"]):
                    content: Any = text if k else [{"type": "image_url", "image_url": {"url": url(r["images"][0])}},
                                                   {"type": "text", "text": text}]
                    messages.append({"role": "user", "content": content})
                    resp = await client.chat.completions.create(model=MODEL, messages=messages,  # type: ignore[arg-type]
                                                                temperature=0.0)
                    messages.append({"role": "assistant", "content": resp.choices[0].message.content or ""})

        start = time.perf_counter()
        try:
            async with asyncio.TaskGroup() as tg:
                for _ in range(CONCURRENCY):
                    tg.create_task(worker())
        finally:
            await client.close()
        return time.perf_counter() - start

    return {"seconds": asyncio.run(go())}


def spawn(*argv: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, "--child", *argv], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"child {argv[0]} failed:\n{out.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def forget_images(store: Path) -> None:
    with sqlite3.connect(store) as db:
        db.execute("DELETE FROM image_checks")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dialogues", type=int, default=2000)
    ap.add_argument("--load-only", action="store_true", help="only the loading figures (no server, no run)")
    ap.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        kind, *rest = args.child
        paths = [Path(p) for p in rest]
        if kind == "run":
            result = child_run(paths[0], rest[1], paths[2], paths[3])
        elif kind in ("load", "remember"):
            result = child_load(paths[0], paths[1], kind == "remember")
        else:
            result = child_bare(paths[0], rest[1])
        print(json.dumps(result))
        return 0

    with tempfile.TemporaryDirectory(prefix="ctxsafe-bench-images-") as tmp:
        root = Path(tmp)
        data = build(root / "data", args.dialogues)
        store, out = root / "runs.sqlite", root / "out"
        n_images = len(list((root / "data" / "img").iterdir()))
        print(f"# {args.dialogues} dialogues x {TURNS} turns, {n_images} image files "
              f"({'MOSSBench photos' if SHARED_PHOTOS.is_dir() else 'demo photos'}), {machine()}")
        cold = spawn("load", str(data), str(store))
        if args.load_only:
            spawn("remember", str(data), str(store))  # what a first run leaves in the store, without the calls
            warm = spawn("load", str(data), str(store))
            print(f"loading, nothing remembered: {cold['seconds']:.2f} s ({cold['decoded']} images decoded)")
            print(f"loading, images remembered:  {warm['seconds']:.2f} s ({warm['decoded']} decoded) = "
                  f"{warm['seconds'] / cold['seconds']:.1%}")
            print(f"SUMMARY loading {args.dialogues} image dialogues: {warm['seconds']:.2f} s remembered, "
                  f"{cold['seconds']:.2f} s first time: {verdict(warm['seconds'] < 10)}")
            return 0
        with instant_server() as server:
            note = pin(server.pid)
            base_url = f"http://127.0.0.1:{server.port}/v1"
            bare = spawn("bare", str(data), base_url)
            first = spawn("run", str(data), base_url, str(store), str(out))
            again = spawn("run", str(data), base_url, str(store), str(out))
            warm = spawn("load", str(data), str(store))
            forget_images(store)
            before = spawn("run", str(data), base_url, str(store), str(out))
        calls = args.dialogues * TURNS
        print(f"# {note}")
        rows = [
            ("bare openai loop (same requests)", bare["seconds"], ""),
            ("ctxsafe run native, fresh store", first["seconds"], f"{bare['seconds'] / first['seconds']:.1%} of bare"),
            ("same command again (fully cached)", again["seconds"],
             f"{again['seconds'] / first['seconds']:.1%} of run"),
            ("again, image memory deleted (pre-issue-12)", before["seconds"],
             f"{before['seconds'] / first['seconds']:.1%} of run"),
            ("loading, nothing remembered", cold["seconds"], f"{cold['decoded']} images decoded"),
            ("loading, images remembered", warm["seconds"], f"{warm['decoded']} images decoded"),
        ]
        for name, seconds, ratio in rows:
            print(f"{name:<46} {seconds:8.2f} s  {ratio}")
        print(f"throughput: bare {calls / bare['seconds']:.0f} calls/s, ctxsafe {calls / first['seconds']:.0f} calls/s")
        share = again["seconds"] / first["seconds"]
        print(f"SUMMARY cached re-run {share:.1%} of the original run (target <= {RERUN_TARGET:.0%}; "
              f"{before['seconds'] / first['seconds']:.1%} with every image checked again): "
              f"{verdict(share <= RERUN_TARGET)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
