"""A dialogue's independent calls run side by side: its probes (MTMCS's intent questions) each read the finished
transcript, not each other's answers, so they are in flight together (issue 12: MTMCS throughput)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from ctxsafe.engine.call import Caller
from ctxsafe.engine.rollout import rollout
from ctxsafe.engine.store import RunStore
from ctxsafe.engine.tasks import concurrently
from ctxsafe.images import ImageStore
from ctxsafe.providers.base import Completion, GenParams
from ctxsafe.providers.reference import AlwaysComply
from ctxsafe.schema import Case, Message, Probe


def test_concurrently_runs_every_job_at_once_and_raises_the_first_error() -> None:
    async def main() -> list[str]:
        order: list[str] = []
        a_started, b_started = asyncio.Event(), asyncio.Event()

        async def a() -> None:
            a_started.set()
            await b_started.wait()  # returns only if b runs while a waits
            order.append("a")

        async def b() -> None:
            b_started.set()
            await a_started.wait()
            order.append("b")

        await asyncio.wait_for(concurrently([a(), b()]), timeout=30)
        return order

    assert sorted(asyncio.run(main())) == ["a", "b"]

    async def failing() -> None:
        async def boom() -> None:
            raise ValueError("boom")

        await concurrently([boom(), asyncio.sleep(30)])

    try:
        asyncio.run(failing())
    except BaseExceptionGroup as group:
        assert [type(e) for e in group.exceptions] == [ValueError]
    else:
        raise AssertionError("the error was swallowed")


class ProbesMeet(AlwaysComply):
    """Answers the turns at once; a probe is answered only once every probe of the dialogue has arrived."""

    def __init__(self, probes: int) -> None:
        super().__init__()
        self.waiting = 0
        self.probes = probes
        self.all_in = asyncio.Event()

    async def complete(self, messages: list[Message], params: GenParams, images: ImageStore) -> Completion:
        if "Transcript:" in messages[-1].text_content():
            self.waiting += 1
            if self.waiting == self.probes:
                self.all_in.set()
            await self.all_in.wait()
        return await super().complete(messages, params, images)


def test_a_dialogues_probes_are_in_flight_together(tmp_path: Path) -> None:
    probes = tuple(Probe(id=f"q{i}", kind="mcq", template=f"Transcript:\n{{transcript}}\nQuestion {i}?")
                   for i in range(3))
    case = Case(id="c", suite="native", pair_id="p", context="safe",
                turns=(Message.user("Hello"), Message.user("Then?")), probes=probes)
    store = RunStore(tmp_path / "s.sqlite")

    async def main() -> list[str]:
        provider = ProbesMeet(len(probes))
        caller = Caller(provider, GenParams(), store, ImageStore(), concurrency=8)
        new = await asyncio.wait_for(rollout(case, caller, "r", {}), timeout=30)  # sequential probes never meet
        return sorted(rec.step for rec in new)

    try:
        store.open_run("r", {}, [case])
        assert asyncio.run(main()) == ["probe:q0", "probe:q1", "probe:q2", "t1", "t2"]
    finally:
        store.close()
