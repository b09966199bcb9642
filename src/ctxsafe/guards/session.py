"""`--guard` on a run command: the guard as a classifier over each bare run, and guard + model as policies.

The classifier pass is the Judge protocol over the bare run (stored, cached, resumable); the guarded
runs are ordinary policy runs, so the suite's own metrics and the defenses table compare them with the
bare model on the same cases.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the guards load only for a run with --guard, not before every run's first request (issue 12)
    from ctxsafe.engine.policy import Policy
    from ctxsafe.engine.progress import ProgressSink
    from ctxsafe.engine.retry import RetryPolicy
    from ctxsafe.engine.store import RunStore
    from ctxsafe.guards.registry import GuardSpec
    from ctxsafe.guards.verdict import Target
    from ctxsafe.images import ImageStore
    from ctxsafe.providers.base import Provider
    from ctxsafe.schema import Case

TARGETS: dict[str, tuple[Target, ...]] = {"input": ("prompt",), "output": ("response",),
                                          "both": ("prompt", "response")}


class GuardSetup:
    """The guards named on the command line, with the providers they opened (closed by `aclose`)."""

    def __init__(self, texts: Sequence[str], timeout_s: float = 120.0, concurrency: int = 16) -> None:
        self.specs: list[GuardSpec] = []
        if texts:
            from ctxsafe.guards.registry import make_guard, parse_guard

            self.specs = [parse_guard(t) for t in texts]
        for spec in self.specs:
            make_guard(spec)
            spec.texts()  # bad options and unreadable files fail before any run starts
        self.timeout_s = timeout_s
        self.concurrency = concurrency
        self._providers: list[Provider] = []

    def __bool__(self) -> bool:
        return bool(self.specs)

    def _provider(self, spec: GuardSpec) -> Provider:
        from ctxsafe.guards.registry import guard_provider

        provider = guard_provider(spec, self.timeout_s, self.concurrency)
        self._providers.append(provider)
        return provider

    def policies(self) -> list[Policy]:
        """One guarded policy per guard (its `stage` says input, output or both)."""
        if not self.specs:
            return []
        from ctxsafe.guards.policy import Guarded
        from ctxsafe.guards.registry import make_guard

        return [Guarded(s, make_guard(s), self._provider(s), s.texts(),
                        s.options.get("on_error", "stop"))  # type: ignore[arg-type]
                for s in self.specs]

    async def classify(self, store: RunStore, images: ImageStore, cases: Collection[Case], run_id: str,
                       retry: RetryPolicy | None = None, progress: ProgressSink | None = None) -> list[dict[str, Any]]:
        """Every guard as a classifier over the bare run `run_id` (verdicts stored as judgements; the report is
        rebuilt from the store by `guards.report`): one entry per guard and target."""
        from ctxsafe.engine.call import Caller
        from ctxsafe.engine.runner import judge_run
        from ctxsafe.guards.judge import GuardJudge
        from ctxsafe.guards.registry import make_guard

        docs = []
        for spec in self.specs:
            guard = make_guard(spec)
            caller = Caller(self._provider(spec), spec.params(), store, images, retry, self.concurrency)
            for target in TARGETS[spec.stage]:
                judge = GuardJudge(guard, caller, spec.view, target, spec.texts())
                summary = await judge_run(store, run_id, cases, judge, progress)
                docs.append({"guard": spec.label, "target": target, "judge_id": judge.judge_id,
                             "prompt_version": judge.prompt_version, "judged": summary.total_steps,
                             "not_scored": summary.errors})
        return docs

    async def aclose(self) -> None:
        for p in self._providers:
            await p.aclose()
        self._providers.clear()
