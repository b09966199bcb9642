"""Evaluate one model on a native JSONL suite: play each dialogue, judge its final turn, report.

Scoring reuses MSSBench's four-class label space and metric arithmetic: a safe twin is correct when
the final reply answers (labels 2, 3), an unsafe twin when it refuses or shows risk awareness (0, 1).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ctxsafe.engine.call import Caller
from ctxsafe.engine.policy import Bare, Policy
from ctxsafe.engine.progress import ProgressSink
from ctxsafe.engine.retry import RetryPolicy
from ctxsafe.engine.session import execute, make_run_id, role_callers, run_label, with_policy
from ctxsafe.engine.store import RunStore
from ctxsafe.images import ImageStore
from ctxsafe.judges.base import Judge, JudgeInput
from ctxsafe.providers.base import GenParams, Provider
from ctxsafe.schema import Case, Judgement
from ctxsafe.suites.mssbench.evaluate import results_document
from ctxsafe.suites.native.loader import SETTING, SUITE, load_native

FORMAT_VERSION = "native-v1"


@dataclass(frozen=True)
class NativeOptions:
    data: Path
    limit: int | None = None
    params: GenParams = field(default_factory=GenParams)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    concurrency: int | None = None


def load_cases(opts: NativeOptions, images: ImageStore) -> tuple[list[Case], str]:
    """The cases and a digest of the file and its images, so changed data never resumes an old run."""
    return load_native(opts.data, images, opts.limit)


class FinalTurnJudge:
    """Applies a four-class judge (offline or LLM) to each dialogue's final turn only.

    The wrapped judge's id and prompt version are kept, so its cache and stored labels stay its own.
    """

    def __init__(self, inner: Judge) -> None:
        self.inner = inner
        self.judge_id = inner.judge_id
        self.prompt_version = inner.prompt_version
        self.input_mode = inner.input_mode
        self.concurrency = inner.concurrency

    def applies(self, case: Case, step: str) -> bool:
        return step == f"t{len(case.turns)}"

    async def judge(self, item: JudgeInput) -> Judgement:
        return await self.inner.judge(item)


async def evaluate_model(store: RunStore, opts: NativeOptions, provider: Provider, judge: Judge,
                         images: ImageStore, cases: list[Case], data_digest: str,
                         progress: ProgressSink | None = None, run_id: str | None = None,
                         policy: Policy | None = None, verifier: Caller | None = None) -> dict[str, Any]:
    """Run (or resume) one model, bare or under a defense (`policy`), and return its results document."""
    policy = policy or Bare()
    identity = with_policy({"suite": SUITE, "data": opts.data.name, "data_sha": data_digest, "limit": opts.limit,
                            "model": provider.identity, "params": opts.params.as_dict(), "format": FORMAT_VERSION,
                            "image_policy": images.policy.max_side}, policy, verifier)
    caller = Caller(provider, opts.params, store, images, opts.retry, opts.concurrency)
    rid = run_id or make_run_id(SUITE, SETTING, run_label(caller, policy), identity)
    config = {**identity, "model_name": provider.name, "baseline": provider.is_reference,
              "retry": asdict(opts.retry), "defense": policy.name}
    scorer = FinalTurnJudge(judge)
    result = await execute(store, rid, config, cases, caller, [scorer], progress, policy,
                           role_callers(caller, verifier))
    row = results_document(store, rid, scorer.judge_id, scorer.prompt_version)
    row["this_session"] = {"generation": asdict(result.generation), "judging": [asdict(j) for j in result.judging]}
    return row
