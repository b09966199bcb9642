"""`ctxsafe run native`: your own paired, multi-turn cases from a JSONL file."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from ctxsafe.cli_common import (
    DEFAULT_OUT,
    DEFAULT_STORE,
    REFERENCE_DEFAULTS,
    ApiKeyEnvOpt,
    BaseUrlOpt,
    ConcurrencyOpt,
    DefenseOpt,
    JudgeApiKeyEnvOpt,
    JudgeBaseUrlOpt,
    MaxAttemptsOpt,
    ModelOpt,
    OutOpt,
    ProgressOpt,
    RetryBaseOpt,
    RunIdOpt,
    SeedOpt,
    StoreOpt,
    TimeoutOpt,
    VerifierOpt,
    check_run_id,
    endpoints,
    print_defenses,
    run_models,
    user_errors,
)
from ctxsafe.engine.retry import RetryPolicy
from ctxsafe.policies.registry import make_policies
from ctxsafe.providers.base import GenParams
from ctxsafe.suites.mssbench.command import (
    ByCategoryOpt,
    JudgeInputOpt,
    JudgeOpt,
    MaxTokensOpt,
    TemperatureOpt,
    make_judge,
    print_rows,
)
from ctxsafe.suites.mssbench.units import run_units
from ctxsafe.suites.native import evaluate as native


def run_native(
    data: Annotated[Path, typer.Option(help="A native suite JSONL file (see docs/native-suite.md); image paths "
                                       "are relative to its folder.")],
    model: ModelOpt = None,
    judge: JudgeOpt = "offline",
    limit: Annotated[int | None, typer.Option(help="Only the first N records of the file.")] = None,
    judge_input: JudgeInputOpt = "response",
    base_url: BaseUrlOpt = None,
    api_key_env: ApiKeyEnvOpt = None,
    judge_base_url: JudgeBaseUrlOpt = None,
    judge_api_key_env: JudgeApiKeyEnvOpt = None,
    temperature: TemperatureOpt = 0.0,
    max_tokens: MaxTokensOpt = None,
    seed: SeedOpt = None,
    concurrency: ConcurrencyOpt = 16,
    timeout: TimeoutOpt = 120.0,
    max_attempts: MaxAttemptsOpt = 6,
    retry_base: RetryBaseOpt = 1.0,
    run_id: RunIdOpt = None,
    store: StoreOpt = DEFAULT_STORE,
    out: OutOpt = DEFAULT_OUT,
    by_category: ByCategoryOpt = False,
    progress: ProgressOpt = True,
    defense: DefenseOpt = None,
    verifier: VerifierOpt = None,
) -> None:
    """Run your own paired multi-turn cases (JSONL) for one or more models; the final turn is judged."""
    models = model or REFERENCE_DEFAULTS
    with user_errors():
        check_run_id(run_id, models, defense or ())
        policies = make_policies(defense or ())
        opts = native.NativeOptions(data=data, limit=limit,
                                    params=GenParams(temperature=temperature, max_tokens=max_tokens, seed=seed),
                                    retry=RetryPolicy(max_attempts=max_attempts, base_s=retry_base),
                                    concurrency=concurrency)
        endpoint, judge_endpoint = endpoints(base_url, api_key_env, judge_base_url, judge_api_key_env, timeout,
                                             concurrency)
        rows = asyncio.run(run_models(
            lambda images: native.load_cases(opts, images),
            lambda st, images: make_judge(judge, judge_endpoint, st, images, judge_input, opts.retry),
            lambda st, provider, judges, images, cases, digest, sink, policy, vcaller: native.evaluate_model(
                st, opts, provider, judges[0], images, cases, digest, sink, run_id, policy, vcaller),
            models, store, out, progress, endpoint, policies, verifier, opts.retry))
    print_rows(rows, f"Native suite {data.name}, judge {rows[0]['judge']['id']} (final turn)", by_category)
    if len(policies) > 1:
        print_defenses(rows, store, out, run_units)
