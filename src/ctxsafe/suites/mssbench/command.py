"""`ctxsafe run mssbench` and the MSSBench branch of `ctxsafe report`."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

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
    console,
    endpoints,
    print_defenses,
    run_models,
    user_errors,
)
from ctxsafe.engine.call import Caller
from ctxsafe.engine.retry import RetryPolicy
from ctxsafe.engine.store import RunStore
from ctxsafe.errors import ConfigError
from ctxsafe.images import ImageStore
from ctxsafe.judges.base import Judge
from ctxsafe.policies.registry import make_policies
from ctxsafe.providers.base import GenParams, Provider
from ctxsafe.providers.registry import Endpoint, make_provider
from ctxsafe.report.results import write_results
from ctxsafe.report.terminal import category_table, mssbench_table
from ctxsafe.suites.mssbench import evaluate as mss
from ctxsafe.suites.mssbench.judge import INPUT_MODES, MssLLMJudge, MssOfflineJudge
from ctxsafe.suites.mssbench.loader import SETTINGS, TASKS
from ctxsafe.suites.mssbench.units import run_units

JUDGE_PARAMS = GenParams(temperature=0.0, seed=0)

JudgeOpt = Annotated[str, typer.Option(help="'offline' (rules, no API) or provider:model for the LLM judge.")]
JudgeInputOpt = Annotated[str, typer.Option(help="What the LLM judge sees: response (as the original), query, "
                                            "or query+image.")]
TemperatureOpt = Annotated[float, typer.Option(help="Model decoding temperature.")]
MaxTokensOpt = Annotated[int | None, typer.Option(help="Max new tokens per reply (default: no limit).")]
ByCategoryOpt = Annotated[bool, typer.Option(help="Also print per-category tables.")]


def make_judge(spec: str, endpoint: Endpoint, store: RunStore, images: ImageStore, input_mode: str,
               retry: RetryPolicy) -> tuple[list[Judge], list[Provider]]:
    """`offline` -> the rule-based judge; any provider spec -> the LLM judge with pinned decoding."""
    if spec == "offline":
        if input_mode != "response":
            raise ConfigError("the offline judge reads the response only; drop --judge-input")
        return [MssOfflineJudge()], []
    if input_mode not in INPUT_MODES:
        raise ConfigError(f"--judge-input must be one of {', '.join(INPUT_MODES)}")
    provider = make_provider(spec, endpoint)
    caller = Caller(provider, JUDGE_PARAMS, store, images, retry, endpoint.concurrency, namespace="judge")
    return [MssLLMJudge(caller, input_mode)], [provider]


def print_rows(rows: list[dict[str, Any]], title: str, by_category: bool) -> None:
    console.print(mssbench_table(rows, title))
    if by_category:
        for row in rows:
            console.print(category_table(row))
    for row in rows:
        console.print(f"results: {row['results_file']}")


def run_mssbench(
    data: Annotated[str, typer.Option(help="'demo' (bundled), a local folder in the official layout, "
                                      "or hf://kzhou35/mssbench.")] = "demo",
    model: ModelOpt = None,
    judge: JudgeOpt = "offline",
    setting: Annotated[str, typer.Option(help=f"One of {', '.join(SETTINGS)}.")] = "if",
    task: Annotated[str, typer.Option(help="chat, embodied or all.")] = "all",
    limit: Annotated[int | None, typer.Option(help="Only the first N records per task.")] = None,
    faithful: Annotated[bool, typer.Option(help="Reproduce the original's behaviour where ctxsafe corrects it.")]
    = False,
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
    """Run MSSBench (same query, safe vs. unsafe image) for one or more models, then judge and report."""
    models = model or REFERENCE_DEFAULTS
    with user_errors():
        check_run_id(run_id, models, defense or ())
        policies = make_policies(defense or (), mss.SUITE_DEFENSES)
        opts = mss.MssOptions(data=data, setting=setting, tasks=TASKS if task == "all" else (task,), limit=limit,
                              faithful=faithful,
                              params=GenParams(temperature=temperature, max_tokens=max_tokens, seed=seed),
                              retry=RetryPolicy(max_attempts=max_attempts, base_s=retry_base),
                              concurrency=concurrency)
        endpoint, judge_endpoint = endpoints(base_url, api_key_env, judge_base_url, judge_api_key_env, timeout,
                                             concurrency)
        rows = asyncio.run(run_models(
            lambda images: mss.load_cases(opts, images),
            lambda st, images: make_judge(judge, judge_endpoint, st, images, judge_input, opts.retry),
            lambda st, provider, judges, images, cases, digest, sink, policy, vcaller: mss.evaluate_model(
                st, opts, provider, judges[0], images, cases, digest, sink, run_id, policy, vcaller),
            models, store, out, progress, endpoint, policies, verifier, opts.retry))
    print_rows(rows, f"MSSBench, setting {setting.upper()}, judge {rows[0]['judge']['id']}", by_category)
    if len(policies) > 1:
        print_defenses(rows, store, out, run_units)


def report_mssbench(run_id: str, judge: str | None, store: Path, out: Path, by_category: bool) -> None:
    """Recompute a four-class run (MSSBench or native) from the store alone and rewrite its results file."""
    with user_errors():
        st = RunStore(store)
        try:
            row = mss.results_document(st, run_id, judge)
        finally:
            st.close()
    row["results_file"] = str(write_results(out / f"{run_id}.json", row))
    print_rows([row], f"{row['suite']} run {run_id}, judge {row['judge']['id']}", by_category)
