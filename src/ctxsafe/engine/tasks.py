"""Independent awaitables of one dialogue run side by side (its intent questions, its judges' calls)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any


async def concurrently(jobs: list[Coroutine[Any, Any, object]]) -> None:
    """Run `jobs` at once, so a dialogue's independent calls do not wait for each other (each still waits
    for its caller's concurrency limit); the first error cancels the rest and is raised (grouped)."""
    if len(jobs) <= 1:
        for job in jobs:
            await job
        return
    async with asyncio.TaskGroup() as tg:
        for job in jobs:
            tg.create_task(job)
