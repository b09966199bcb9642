"""What every command shares: consoles, defaults, option types and error handling."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console

from ctxsafe.engine.store import RunStore
from ctxsafe.errors import CtxsafeError
from ctxsafe.providers.reference import REFERENCE_MODELS
from ctxsafe.providers.registry import Endpoint
from ctxsafe.redact import redact
from ctxsafe.report.errors import error_lines

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
DefenseOpt = Annotated[list[str] | None, typer.Option(
    "--defense", help="Also run the model wrapped in this defense, repeatable (one run per defense plus the bare "
    "model; see docs/defenses.md): prompt-patch, adashield, self-reflection, immune, cot-safety.")]
GuardOpt = Annotated[list[str] | None, typer.Option(
    "--guard", help="Evaluate a guard on this suite, repeatable: ADAPTER=PROVIDER:MODEL[;key=value...], e.g. "
    "'llama-guard-4=vllm:meta-llama/Llama-Guard-4-12B;view=all;stage=both' (see docs/guards.md). Adds the guard "
    "as a classifier over the bare run and a guard + model run.")]
VerifierOpt = Annotated[str | None, typer.Option(
    help="provider:model of the verifier for --defense immune (default: the model under test itself).")]


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


def endpoints(base_url: str | None, api_key_env: str | None, judge_base_url: str | None,
              judge_api_key_env: str | None, timeout: float, concurrency: int,
              text_only: bool = False) -> tuple[Endpoint, Endpoint]:
    """The model's and the judge's endpoints (`text_only` declares the models under test text-only)."""
    return (Endpoint(base_url, api_key_env, timeout, concurrency, text_only=text_only),
            Endpoint(judge_base_url, judge_api_key_env, timeout, concurrency))


def print_errors(store: RunStore, run_id: str) -> None:
    """Why the run's failed steps failed, grouped and counted (server text, printed inert)."""
    for line in error_lines(store, run_id):
        console.print(f"{run_id}: error: {line}", soft_wrap=True, markup=False, highlight=False)
