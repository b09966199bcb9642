"""The `ctxsafe` command line."""

from __future__ import annotations

import asyncio
import os
import sys
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
from ctxsafe.providers.base import GenParams
from ctxsafe.providers.registry import Endpoint, make_provider
from ctxsafe.redact import redact
from ctxsafe.report.results import write_results
from ctxsafe.report.terminal import category_table, mssbench_table
from ctxsafe.suites.mssbench import evaluate as mss
from ctxsafe.suites.mssbench.judge import INPUT_MODES, MssLLMJudge, MssOfflineJudge
from ctxsafe.suites.mssbench.loader import SETTINGS, TASKS

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


async def _run_mss(opts: mss.MssOptions, models: list[str], judge_spec: str, judge_input: str, store_path: Path,
                   out: Path, run_id: str | None, show_progress: bool, endpoint: Endpoint,
                   judge_endpoint: Endpoint) -> list[dict[str, Any]]:
    store = RunStore(store_path)
    images = ImageStore()
    cases, digest = mss.load_cases(opts, images)
    judge = make_judge(judge_spec, judge_endpoint, store, images, judge_input, opts.retry)
    rows = []
    try:
        for spec in models:
            provider = make_provider(spec, endpoint)
            sink = _progress(show_progress)
            try:
                if isinstance(sink, RichProgress):
                    with sink:
                        row = await mss.evaluate_model(store, opts, provider, judge, images, cases, digest, sink,
                                                       run_id)
                else:
                    row = await mss.evaluate_model(store, opts, provider, judge, images, cases, digest, sink, run_id)
            finally:
                await provider.aclose()
            row["results_file"] = str(write_results(out / f"{row['run_id']}.json", row))
            rows.append(row)
    finally:
        await judge.aclose()
        store.close()
    return rows


@app.command("report")
def report(
    run_id: Annotated[str, typer.Argument(help="The run to report (see `ctxsafe runs`).")],
    judge: Annotated[str | None, typer.Option(help="Judge id to score with (default: the latest used).")] = None,
    store: StoreOpt = DEFAULT_STORE,
    out: OutOpt = DEFAULT_OUT,
    by_category: Annotated[bool, typer.Option(help="Also print the per-category table.")] = False,
) -> None:
    """Recompute a run's metrics from the store alone (no model is called) and rewrite its results file."""
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
