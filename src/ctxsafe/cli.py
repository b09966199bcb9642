"""The `ctxsafe` command line."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from ctxsafe.engine.call import Caller
from ctxsafe.engine.progress import NullProgress, ProgressSink, RichProgress
from ctxsafe.engine.retry import RetryPolicy
from ctxsafe.engine.store import RunStore
from ctxsafe.errors import ConfigError, CtxsafeError
from ctxsafe.images import ImageStore
from ctxsafe.judges.base import Judge
from ctxsafe.providers.base import GenParams, Provider
from ctxsafe.providers.registry import Endpoint, make_provider
from ctxsafe.redact import redact
from ctxsafe.report.results import write_results
from ctxsafe.report.terminal import category_table, mssbench_table
from ctxsafe.schema import Case
from ctxsafe.suites.mssbench import evaluate as mss
from ctxsafe.suites.mssbench.judge import INPUT_MODES, MssLLMJudge, MssOfflineJudge
from ctxsafe.suites.mssbench.loader import SETTINGS, TASKS
from ctxsafe.suites.mtmcs.command import is_mtmcs_run, report_mtmcs, run_mtmcs, show_run
from ctxsafe.suites.native import evaluate as native

app = typer.Typer(help="Contextual-safety evaluation of multimodal LLMs.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
run_app = typer.Typer(help="Run a benchmark (resumes automatically when re-run with the same options).",
                      no_args_is_help=True)
app.add_typer(run_app, name="run")
console = Console(stderr=False, width=None if sys.stdout.isatty() else 140)
err_console = Console(stderr=True)

DEFAULT_STORE = Path(".ctxsafe/runs.sqlite")
DEFAULT_OUT = Path(".ctxsafe/results")
REFERENCE_DEFAULTS = ["ref:always-comply", "ref:always-refuse", "ref:keyword-filter"]
JUDGE_PARAMS = GenParams(temperature=0.0, seed=0)

StoreOpt = Annotated[Path, typer.Option("--store", help="SQLite run store (shared request cache).")]
OutOpt = Annotated[Path, typer.Option("--out", help="Folder for the per-run results JSON files.")]


def _fail(exc: BaseException) -> None:
    err_console.print(f"[bold red]error:[/] {redact(str(exc))}")
    raise typer.Exit(2)


def _progress(enabled: bool) -> ProgressSink:
    return RichProgress(err_console) if enabled and err_console.is_terminal else NullProgress()


def make_judge(spec: str, endpoint: Endpoint, store: RunStore, images: ImageStore, input_mode: str,
               retry: RetryPolicy) -> Judge:
    """`offline` -> the rule-based judge; any provider spec -> the LLM judge with pinned decoding."""
    if spec == "offline":
        if input_mode != "response":
            raise ConfigError("the offline judge reads the response only; drop --judge-input")
        return MssOfflineJudge()
    if input_mode not in INPUT_MODES:
        raise ConfigError(f"--judge-input must be one of {', '.join(INPUT_MODES)}")
    provider = make_provider(spec, endpoint)
    caller = Caller(provider, JUDGE_PARAMS, store, images, retry, endpoint.concurrency, namespace="judge")
    return MssLLMJudge(caller, input_mode)


@run_app.command("mssbench")
def run_mssbench(
    data: Annotated[str, typer.Option(help="'demo' (bundled), a local folder in the official layout, "
                                      "or hf://kzhou35/mssbench.")] = "demo",
    model: Annotated[list[str] | None, typer.Option(
        "--model", "-m", help="provider:model, repeatable (openai:gpt-4o, vllm:NAME, ref:always-refuse). "
        "Default: the three offline reference baselines.")] = None,
    judge: Annotated[str, typer.Option(help="'offline' (rules, no API) or provider:model for the LLM judge.")] =
    "offline",
    setting: Annotated[str, typer.Option(help=f"One of {', '.join(SETTINGS)}.")] = "if",
    task: Annotated[str, typer.Option(help="chat, embodied or all.")] = "all",
    limit: Annotated[int | None, typer.Option(help="Only the first N records per task.")] = None,
    faithful: Annotated[bool, typer.Option(help="Reproduce the original's behaviour where ctxsafe corrects it.")]
    = False,
    judge_input: Annotated[str, typer.Option(help="What the LLM judge sees: response (as the original), "
                                             "query, or query+image.")] = "response",
    base_url: Annotated[str | None, typer.Option(help="Base URL of an OpenAI-compatible server.")] = None,
    api_key_env: Annotated[str | None, typer.Option(help="Env var holding the model's API key.")] = None,
    judge_base_url: Annotated[str | None, typer.Option(help="Base URL for the judge's server.")] = None,
    judge_api_key_env: Annotated[str | None, typer.Option(help="Env var holding the judge's API key.")] = None,
    temperature: Annotated[float, typer.Option(help="Model decoding temperature.")] = 0.0,
    max_tokens: Annotated[int | None, typer.Option(help="Max new tokens per reply (default: no limit).")] = None,
    seed: Annotated[int | None, typer.Option(help="Decoding seed, where the server supports one.")] = None,
    concurrency: Annotated[int, typer.Option(help="Concurrent requests per provider.")] = 16,
    timeout: Annotated[float, typer.Option(help="Seconds before a request times out (then retried).")] = 120.0,
    max_attempts: Annotated[int, typer.Option(help="Attempts per request before recording an error.")] = 6,
    retry_base: Annotated[float, typer.Option(help="Base of the exponential backoff, seconds.")] = 1.0,
    run_id: Annotated[str | None, typer.Option(help="Name the run instead of deriving it from the options.")]
    = None,
    store: StoreOpt = DEFAULT_STORE,
    out: OutOpt = DEFAULT_OUT,
    by_category: Annotated[bool, typer.Option(help="Also print per-category tables.")] = False,
    progress: Annotated[bool, typer.Option(help="Show a live progress bar on a terminal.")] = True,
) -> None:
    """Run MSSBench (same query, safe vs. unsafe image) for one or more models, then judge and report."""
    tasks = TASKS if task == "all" else (task,)
    models = model or REFERENCE_DEFAULTS
    if run_id and len(models) > 1:
        _fail(ConfigError("--run-id names one run; give a single --model with it"))
    opts = mss.MssOptions(data=data, setting=setting, tasks=tasks, limit=limit, faithful=faithful,
                          params=GenParams(temperature=temperature, max_tokens=max_tokens, seed=seed),
                          retry=RetryPolicy(max_attempts=max_attempts, base_s=retry_base),
                          concurrency=concurrency)
    try:
        rows = asyncio.run(_run_mss(opts, models, judge, judge_input, store, out, run_id, progress,
                                    Endpoint(base_url, api_key_env, timeout, concurrency),
                                    Endpoint(judge_base_url, judge_api_key_env, timeout, concurrency)))
    except CtxsafeError as exc:
        _fail(exc)
    console.print(mssbench_table(rows, f"MSSBench, setting {setting.upper()}, judge {rows[0]['judge']['id']}"))
    if by_category:
        for row in rows:
            console.print(category_table(row))
    for row in rows:
        console.print(f"results: {row['results_file']}")


@run_app.command("native")
def run_native(
    data: Annotated[Path, typer.Option(help="A native suite JSONL file (see docs/native-suite.md); image paths "
                                       "are relative to its folder.")],
    model: Annotated[list[str] | None, typer.Option(
        "--model", "-m", help="provider:model, repeatable (openai:gpt-4o, vllm:NAME, ref:always-refuse). "
        "Default: the three offline reference baselines.")] = None,
    judge: Annotated[str, typer.Option(help="'offline' (rules, no API) or provider:model for the LLM judge.")] =
    "offline",
    limit: Annotated[int | None, typer.Option(help="Only the first N records of the file.")] = None,
    judge_input: Annotated[str, typer.Option(help="What the LLM judge sees: response, query, or "
                                             "query+image.")] = "response",
    base_url: Annotated[str | None, typer.Option(help="Base URL of an OpenAI-compatible server.")] = None,
    api_key_env: Annotated[str | None, typer.Option(help="Env var holding the model's API key.")] = None,
    judge_base_url: Annotated[str | None, typer.Option(help="Base URL for the judge's server.")] = None,
    judge_api_key_env: Annotated[str | None, typer.Option(help="Env var holding the judge's API key.")] = None,
    temperature: Annotated[float, typer.Option(help="Model decoding temperature.")] = 0.0,
    max_tokens: Annotated[int | None, typer.Option(help="Max new tokens per reply (default: no limit).")] = None,
    seed: Annotated[int | None, typer.Option(help="Decoding seed, where the server supports one.")] = None,
    concurrency: Annotated[int, typer.Option(help="Concurrent requests per provider.")] = 16,
    timeout: Annotated[float, typer.Option(help="Seconds before a request times out (then retried).")] = 120.0,
    max_attempts: Annotated[int, typer.Option(help="Attempts per request before recording an error.")] = 6,
    retry_base: Annotated[float, typer.Option(help="Base of the exponential backoff, seconds.")] = 1.0,
    run_id: Annotated[str | None, typer.Option(help="Name the run instead of deriving it from the options.")]
    = None,
    store: StoreOpt = DEFAULT_STORE,
    out: OutOpt = DEFAULT_OUT,
    by_category: Annotated[bool, typer.Option(help="Also print per-category tables.")] = False,
    progress: Annotated[bool, typer.Option(help="Show a live progress bar on a terminal.")] = True,
) -> None:
    """Run your own paired multi-turn cases (JSONL) for one or more models; the final turn is judged."""
    models = model or REFERENCE_DEFAULTS
    if run_id and len(models) > 1:
        _fail(ConfigError("--run-id names one run; give a single --model with it"))
    opts = native.NativeOptions(data=data, limit=limit,
                                params=GenParams(temperature=temperature, max_tokens=max_tokens, seed=seed),
                                retry=RetryPolicy(max_attempts=max_attempts, base_s=retry_base),
                                concurrency=concurrency)

    async def one(st: RunStore, provider: Provider, jd: Judge, images: ImageStore, cases: list[Case],
                  digest: str, sink: ProgressSink) -> dict[str, Any]:
        return await native.evaluate_model(st, opts, provider, jd, images, cases, digest, sink, run_id)

    try:
        rows = asyncio.run(_run_suite(
            lambda images: native.load_cases(opts, images), one, models, judge, judge_input, store, out, progress,
            Endpoint(base_url, api_key_env, timeout, concurrency),
            Endpoint(judge_base_url, judge_api_key_env, timeout, concurrency), opts.retry))
    except CtxsafeError as exc:
        _fail(exc)
    console.print(mssbench_table(rows, f"Native suite {data.name}, judge {rows[0]['judge']['id']} (final turn)"))
    if by_category:
        for row in rows:
            console.print(category_table(row))
    for row in rows:
        console.print(f"results: {row['results_file']}")


async def _run_mss(opts: mss.MssOptions, models: list[str], judge_spec: str, judge_input: str, store_path: Path,
                   out: Path, run_id: str | None, show_progress: bool, endpoint: Endpoint,
                   judge_endpoint: Endpoint) -> list[dict[str, Any]]:
    async def one(store: RunStore, provider: Provider, judge: Judge, images: ImageStore, cases: list[Case],
                  digest: str, sink: ProgressSink) -> dict[str, Any]:
        return await mss.evaluate_model(store, opts, provider, judge, images, cases, digest, sink, run_id)

    return await _run_suite(lambda images: mss.load_cases(opts, images), one, models, judge_spec, judge_input,
                            store_path, out, show_progress, endpoint, judge_endpoint, opts.retry)


SuiteLoader = Callable[[ImageStore], tuple[list[Case], str]]
ModelEvaluator = Callable[[RunStore, Provider, Judge, ImageStore, list[Case], str, ProgressSink],
                          Awaitable[dict[str, Any]]]


async def _run_suite(load: SuiteLoader, evaluate: ModelEvaluator, models: list[str], judge_spec: str,
                     judge_input: str, store_path: Path, out: Path, show_progress: bool, endpoint: Endpoint,
                     judge_endpoint: Endpoint, retry: RetryPolicy) -> list[dict[str, Any]]:
    """Load and check all data first (bad input never touches the store), then run each model."""
    images = ImageStore()
    cases, digest = load(images)
    store = RunStore(store_path)
    rows = []
    try:
        judge = make_judge(judge_spec, judge_endpoint, store, images, judge_input, retry)
        try:
            for spec in models:
                provider = make_provider(spec, endpoint)
                sink = _progress(show_progress)
                try:
                    if isinstance(sink, RichProgress):
                        with sink:
                            row = await evaluate(store, provider, judge, images, cases, digest, sink)
                    else:
                        row = await evaluate(store, provider, judge, images, cases, digest, sink)
                finally:
                    await provider.aclose()
                row["results_file"] = str(write_results(out / f"{row['run_id']}.json", row))
                rows.append(row)
        finally:
            await judge.aclose()
    finally:
        store.close()
    return rows


run_app.command("mtmcs")(run_mtmcs)
app.command("show")(show_run)


@app.command("report")
def report(
    run_id: Annotated[str, typer.Argument(help="The run to report (see `ctxsafe runs`).")],
    judge: Annotated[str | None, typer.Option(help="Judge id to score with (default: the latest used).")] = None,
    store: StoreOpt = DEFAULT_STORE,
    out: OutOpt = DEFAULT_OUT,
    by_category: Annotated[bool, typer.Option(help="Also print the per-category table.")] = False,
) -> None:
    """Recompute a run's metrics from the store alone (no model is called) and rewrite its results file."""
    if is_mtmcs_run(store, run_id):  # MTMCS: --judge is 'offline' or the judge's provider:model
        report_mtmcs(run_id, judge, store, out)
        return
    try:
        st = RunStore(store)
        row = mss.results_document(st, run_id, judge)
        st.close()
    except CtxsafeError as exc:
        _fail(exc)
    row["results_file"] = str(write_results(out / f"{run_id}.json", row))
    console.print(mssbench_table([row], f"MSSBench run {run_id}, judge {row['judge']['id']}"))
    if by_category:
        console.print(category_table(row))
    console.print(f"results: {row['results_file']}")


@app.command("runs")
def runs(store: StoreOpt = DEFAULT_STORE) -> None:
    """List the runs in the store."""
    if not store.exists():
        _fail(CtxsafeError(f"no run store at {store}"))
    st = RunStore(store)
    for info in st.runs():
        console.print(f"{info.run_id}\t{info.status}\t{info.config.get('model_name')}\t"
                      f"{st.turn_count(info.run_id)} turns")
    st.close()


def main() -> None:  # pragma: no cover - console entry for `python -m ctxsafe`
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(app())
