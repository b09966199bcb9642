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

from ctxsafe.engine.call import Caller
from ctxsafe.engine.policy import Bare, Policy
from ctxsafe.engine.progress import NullProgress, RichProgress
from ctxsafe.engine.retry import RetryPolicy
from ctxsafe.engine.store import RunStore
from ctxsafe.errors import ConfigError, CtxsafeError
from ctxsafe.images import ImageStore
from ctxsafe.judges.base import Judge
from ctxsafe.providers.base import GenParams, Provider
from ctxsafe.providers.reference import REFERENCE_MODELS
from ctxsafe.providers.registry import Endpoint, make_provider
from ctxsafe.redact import redact
from ctxsafe.report.defenses import UnitsFn, cost_table, defenses_documents, difference_table
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
DefenseOpt = Annotated[list[str] | None, typer.Option(
    "--defense", help="Also run the model wrapped in this defense, repeatable (one run per defense plus the bare "
    "model; see docs/defenses.md): prompt-patch, adashield, self-reflection, immune, cot-safety.")]
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


def check_run_id(run_id: str | None, models: Sequence[str], defenses: Sequence[str] = ()) -> None:
    if run_id and len(models) > 1:
        raise ConfigError("--run-id names one run; give a single --model with it")
    if run_id and defenses:
        raise ConfigError("--run-id names one run, but --defense makes one run per defense plus the bare model")


def endpoints(base_url: str | None, api_key_env: str | None, judge_base_url: str | None,
              judge_api_key_env: str | None, timeout: float, concurrency: int) -> tuple[Endpoint, Endpoint]:
    """The model's and the judge's endpoints."""
    return (Endpoint(base_url, api_key_env, timeout, concurrency),
            Endpoint(judge_base_url, judge_api_key_env, timeout, concurrency))


SuiteLoader = Callable[[ImageStore], tuple[list[Case], str]]
JudgeFactory = Callable[[RunStore, ImageStore], tuple[list[Judge], list[Provider]]]
ModelEvaluator = Callable[[RunStore, Provider, list[Judge], ImageStore, list[Case], str, NullProgress | RichProgress,
                           Policy, Caller | None], Awaitable[dict[str, Any]]]
VERIFIER_PARAMS = GenParams(temperature=0.0, seed=0)


async def run_models(load: SuiteLoader, make_judges: JudgeFactory, evaluate: ModelEvaluator, models: list[str],
                     store_path: Path, out: Path, show_progress: bool, endpoint: Endpoint,
                     policies: Sequence[Policy] = (), verifier: str | None = None,
                     retry: RetryPolicy | None = None) -> list[dict[str, Any]]:
    """Load and check all data first (bad input never touches the store), then run each model in turn,
    bare and under each policy (`policies`, default: bare only) on the same cases.

    Each run's results file is written as soon as that run finishes.
    """
    images = ImageStore()
    cases, digest = load(images)
    store = RunStore(store_path)
    rows = []
    closing: list[Provider] = []
    try:
        judges, judge_providers = make_judges(store, images)
        closing.extend(judge_providers)
        verifier_caller = None
        if verifier is not None:
            vp = make_provider(verifier, endpoint)
            closing.append(vp)
            verifier_caller = Caller(vp, VERIFIER_PARAMS, store, images, retry, endpoint.concurrency)
        for spec in models:
            provider = make_provider(spec, endpoint)
            try:
                for policy in policies or (Bare(),):
                    sink = RichProgress(err_console) if show_progress and err_console.is_terminal else NullProgress()
                    with sink:
                        row = await evaluate(store, provider, judges, images, cases, digest, sink, policy,
                                             verifier_caller)
                    row["results_file"] = str(write_results(out / f"{row['run_id']}.json", row))
                    rows.append(row)
            finally:
                await provider.aclose()
    finally:
        for p in closing:
            await p.aclose()
        store.close()
    return rows


def print_defenses(rows: list[dict[str, Any]], store_path: Path, out: Path, units: UnitsFn) -> None:
    """After a run with --defense: the defenses table of each model, printed and written beside the results."""
    store = RunStore(store_path)
    try:
        docs = defenses_documents(store, rows, units)
    finally:
        store.close()
    for doc in docs:
        path = write_results(out / f"defenses-{doc['reference']['run_id']}.json", doc)
        console.print(difference_table(doc, f"Defenses vs the bare model ({doc['reference']['model']}), paired on "
                                            "the same units"))
        console.print(cost_table(doc))
        console.print(f"defenses: {path}")
