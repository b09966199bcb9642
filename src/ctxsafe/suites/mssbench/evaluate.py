"""Evaluate one model on MSSBench: load, run (or resume), judge, and build the results document."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ctxsafe.engine.call import Caller
from ctxsafe.engine.policy import Bare, Policy
from ctxsafe.engine.progress import ProgressSink
from ctxsafe.engine.retry import RetryPolicy
from ctxsafe.engine.session import display_name, execute, make_run_id, role_callers, run_label, with_policy
from ctxsafe.engine.store import RunStore
from ctxsafe.errors import ConfigError, CtxsafeError
from ctxsafe.images import ImageStore
from ctxsafe.judges.base import Judge
from ctxsafe.providers.base import GenParams, Provider
from ctxsafe.schema import Case
from ctxsafe.suites.mssbench import metrics, prompts
from ctxsafe.suites.mssbench.cot import AnswerPartJudge
from ctxsafe.suites.mssbench.judge import YesNoReader
from ctxsafe.suites.mssbench.loader import FOUR_CLASS_SETTINGS, SUITE, TASKS, find_combined, load_mssbench, resolve_data
from ctxsafe.suites.mssbench.multi_agent import MultiAgent, multi_agent
from ctxsafe.suites.mssbench.self_caption import SelfCaption

DEMO = "demo"


@dataclass(frozen=True)
class MssOptions:
    data: str = DEMO
    setting: str = "if"
    tasks: tuple[str, ...] = TASKS
    limit: int | None = None
    faithful: bool = False
    params: GenParams = field(default_factory=GenParams)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    concurrency: int | None = None


def data_root(data: str) -> Path:
    if data == DEMO:
        from ctxsafe.suites.mssbench.demo import demo_dir

        return demo_dir()
    return resolve_data(data)


def load_cases(opts: MssOptions, images: ImageStore) -> tuple[list[Case], str]:
    """The cases and a fingerprint of the data file, so a changed data set never resumes an old run."""
    root = data_root(opts.data)
    digest = hashlib.sha256(find_combined(root).read_bytes()).hexdigest()[:16]
    return load_mssbench(root, opts.setting, images, opts.tasks, opts.faithful, opts.limit), digest


def scoring_judge(opts: MssOptions, judge: Judge) -> Judge:
    """IF is scored by the four-class judge, CoT by the same judge on the answer part; QC/IC by reading the
    model's own Yes/No."""
    if opts.setting == "cot":
        return AnswerPartJudge(judge)
    return judge if opts.setting in FOUR_CLASS_SETTINGS else YesNoReader()


SUITE_DEFENSES = {"multi-agent": multi_agent}
"""MSSBench's own mitigation, offered beside the generic defenses."""


def setting_policy(opts: MssOptions, policy: Policy) -> Policy:
    """The policy a setting runs: IC with self caption wraps it in the captioning pipeline."""
    if isinstance(policy, MultiAgent) and opts.setting != "if":
        raise ConfigError("--defense multi-agent is the paper's mitigation for instruction following; use "
                          "--setting if")
    return SelfCaption(policy) if opts.setting == "ic-selfcap" else policy


async def evaluate_model(store: RunStore, opts: MssOptions, provider: Provider, judge: Judge, images: ImageStore,
                         cases: list[Case], data_digest: str, progress: ProgressSink | None = None,
                         run_id: str | None = None, policy: Policy | None = None,
                         verifier: Caller | None = None) -> dict[str, Any]:
    defense = policy or Bare()
    policy = setting_policy(opts, defense)
    identity = with_policy({
        "suite": SUITE, "data": opts.data, "data_sha": data_digest, "setting": opts.setting,
        "tasks": list(opts.tasks), "limit": opts.limit, "faithful": opts.faithful, "model": provider.identity,
        "params": opts.params.as_dict(), "prompts": prompts.PROMPT_VERSION,
        "image_policy": images.policy.max_side}, policy, verifier)
    caller = Caller(provider, opts.params, store, images, opts.retry, opts.concurrency)
    rid = run_id or make_run_id(SUITE, opts.setting, run_label(caller, defense), identity)
    config = {**identity, "model_name": provider.name, "baseline": provider.is_reference,
              "retry": asdict(opts.retry), "defense": defense.name}
    scorer = scoring_judge(opts, judge)
    result = await execute(store, rid, config, cases, caller, [scorer], progress, policy,
                           role_callers(caller, verifier))
    row = results_document(store, rid, scorer.judge_id, scorer.prompt_version)
    row["this_session"] = {"generation": asdict(result.generation), "judging": [asdict(j) for j in result.judging]}
    return row


def results_document(store: RunStore, run_id: str, judge_id: str | None = None,
                     prompt_version: str | None = None) -> dict[str, Any]:
    """Recompute everything from the store alone; no model is called."""
    info = store.run(run_id)
    if info is None:
        raise ConfigError(f"no run {run_id!r} in {store.path}")
    if judge_id is None:
        available = store.judges_of(run_id)
        if not available:
            raise CtxsafeError(f"run {run_id} has no judgements yet; run it with a --judge first")
        judge_id, prompt_version = available[-1]
    elif prompt_version is None:
        versions = [v for j, v in store.judges_of(run_id) if j == judge_id]
        if not versions:
            raise ConfigError(f"run {run_id} has no judgements by {judge_id!r}")
        prompt_version = versions[-1]
    cases = store.cases(run_id)
    turns = store.turns(run_id)
    judgements = store.judgements(run_id, judge_id, prompt_version)
    return {
        "suite": info.config.get("suite", SUITE), "run_id": run_id, "model": display_name(info.config),
        "baseline": bool(info.config.get("baseline")), "status": info.status, "config": info.config,
        "judge": {"id": judge_id, "prompt_version": prompt_version},
        "metrics": metrics.compute(cases, turns, judgements),
    }
