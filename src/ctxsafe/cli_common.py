"""What every `ctxsafe run ...` command shares: consoles, defaults, option types and the per-model loop.

Suite commands live next to their suites; this module keeps their conventions identical.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console

from ctxsafe.engine.progress import NullProgress, RichProgress
from ctxsafe.engine.store import RunStore
from ctxsafe.errors import ConfigError, CtxsafeError
from ctxsafe.images import ImageStore
from ctxsafe.judges.base import Judge
from ctxsafe.providers.base import Provider
from ctxsafe.providers.reference import REFERENCE_MODELS
from ctxsafe.providers.registry import Endpoint, make_provider
from ctxsafe.redact import redact
from ctxsafe.report.results import write_results
from ctxsafe.schema import Case

console = Console(width=None if sys.stdout.isatty() else 160)
err_console = Console(stderr=True)

DEFAULT_STORE = Path(".ctxsafe/runs.sqlite")
DEFAULT_OUT = Path(".ctxsafe/results")
REFERENCE_DEFAULTS = [f"ref:{kind}" for kind in REFERENCE_MODELS]

StoreOpt = Annotated[Path, typer.Option("--store", help="SQLite run store (shared request cache).")]
OutOpt = Annotated[Path, typer.Option("--out", help="Folder for the per-run results JSON files.")]
ModelOpt = Annotated[list[str] | None, typer.Option(
    "--model", "-m", help="provider:model, repeatable (openai:gpt-4o, vllm:NAME, ref:always-refuse). "
    "Default: the three offline reference baselines.")]
BaseUrlOpt = Annotated[str | None, typer.Option(help="Base URL of an OpenAI-compatible server.")]
ApiKeyEnvOpt = Annotated[str | None, typer.Option(help="Env var holding the model's API key.")]
JudgeBaseUrlOpt = Annotated[str | None, typer.Option(help="Base URL for the judge's server.")]
JudgeApiKeyEnvOpt = Annotated[str | None, typer.Option(help="Env var holding the judge's API key.")]
SeedOpt = Annotated[int | None, typer.Option(help="Decoding seed, where the server supports one.")]
ConcurrencyOpt = Annotated[int, typer.Option(help="Concurrent requests per provider.")]
TimeoutOpt = Annotated[float, typer.Option(help="Seconds before a request times out (then retried).")]
MaxAttemptsOpt = Annotated[int, typer.Option(help="Attempts per request before recording an error.")]
RetryBaseOpt = Annotated[float, typer.Option(help="Base of the exponential backoff, seconds.")]
RunIdOpt = Annotated[str | None, typer.Option(help="Name the run instead of deriving it from the options.")]
ProgressOpt = Annotated[bool, typer.Option(help="Show a live progress bar on a terminal.")]


def fail(exc: BaseException, code: int = 2) -> NoReturn:
    err_console.print(f"[bold red]error:[/] {redact(str(exc))}", soft_wrap=True)
    raise typer.Exit(code)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn ctxsafe's own errors into a one-line message, and Ctrl-C into a pointer to resume."""
    try:
        yield
    except CtxsafeError as exc:
        fail(exc)
    except KeyboardInterrupt:
        err_console.print("[yellow]interrupted:[/] every finished step is in the store; "
                          "re-run the same command to resume", soft_wrap=True)
        raise typer.Exit(130) from None


def check_run_id(run_id: str | None, models: Sequence[str]) -> None:
    if run_id and len(models) > 1:
        raise ConfigError("--run-id names one run; give a single --model with it")


def endpoints(base_url: str | None, api_key_env: str | None, judge_base_url: str | None,
              judge_api_key_env: str | None, timeout: float, concurrency: int) -> tuple[Endpoint, Endpoint]:
    """The model's and the judge's endpoints."""
    return (Endpoint(base_url, api_key_env, timeout, concurrency),
            Endpoint(judge_base_url, judge_api_key_env, timeout, concurrency))


SuiteLoader = Callable[[ImageStore], tuple[list[Case], str]]
JudgeFactory = Callable[[RunStore, ImageStore], tuple[list[Judge], list[Provider]]]
ModelEvaluator = Callable[[RunStore, Provider, list[Judge], ImageStore, list[Case], str, NullProgress | RichProgress],
                          Awaitable[dict[str, Any]]]


async def run_models(load: SuiteLoader, make_judges: JudgeFactory, evaluate: ModelEvaluator, models: list[str],
                     store_path: Path, out: Path, show_progress: bool, endpoint: Endpoint) -> list[dict[str, Any]]:
    """Load and check all data first (bad input never touches the store), then run each model in turn.

    Each model's results file is written as soon as that model finishes.
    """
    images = ImageStore()
    cases, digest = load(images)
    store = RunStore(store_path)
    rows = []
    try:
        judges, judge_providers = make_judges(store, images)
        try:
            for spec in models:
                provider = make_provider(spec, endpoint)
                sink = RichProgress(err_console) if show_progress and err_console.is_terminal else NullProgress()
                try:
                    with sink:
                        row = await evaluate(store, provider, judges, images, cases, digest, sink)
                finally:
                    await provider.aclose()
                row["results_file"] = str(write_results(out / f"{row['run_id']}.json", row))
                rows.append(row)
        finally:
            for p in judge_providers:
                await p.aclose()
    finally:
        store.close()
    return rows
