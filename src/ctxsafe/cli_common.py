"""What every command shares: consoles, defaults, option types and error handling."""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, cast

import typer

from ctxsafe.errors import CtxsafeError, StoreError
from ctxsafe.exit_codes import ExitCode
from ctxsafe.inert import inert, inert_markup
from ctxsafe.providers.specs import REFERENCE_NAMES

if TYPE_CHECKING:  # the store and the providers load when a command uses them, not for its --help or a typo
    from rich.console import Console

    from ctxsafe.engine.store import RunStore
    from ctxsafe.providers.registry import Endpoint


class LazyConsole:
    """A rich Console built when first used: a run prints nothing before its first request, so rich (tens of
    milliseconds to import) loads after it (issue 12)."""

    def __init__(self, stderr: bool = False) -> None:
        self._stderr = stderr
        self._console: Console | None = None

    def __getattr__(self, name: str) -> Any:
        if self._console is None:
            from rich.console import Console

            self._console = (Console(stderr=True) if self._stderr
                             else Console(width=None if sys.stdout.isatty() else 160))
        return getattr(self._console, name)


console = cast("Console", LazyConsole())
err_console = cast("Console", LazyConsole(stderr=True))

DEFAULT_STORE = Path(".ctxsafe/runs.sqlite")
DEFAULT_OUT = Path(".ctxsafe/results")
REFERENCE_DEFAULTS = [f"ref:{kind}" for kind in REFERENCE_NAMES]

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
ConcurrencyOpt = Annotated[int, typer.Option(min=1, help="Concurrent requests per provider (at least 1).")]
TimeoutOpt = Annotated[float, typer.Option(min=0.001, help="Seconds before a request times out (then retried).")]
MaxAttemptsOpt = Annotated[int, typer.Option(min=1, help="Attempts per request before recording an error.")]
RetryBaseOpt = Annotated[float, typer.Option(min=0.0, help="Base of the exponential backoff, seconds.")]
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


def fail(exc: BaseException, code: int = ExitCode.BAD_INPUT) -> NoReturn:
    """One inert, redacted line on stderr, then the exit code."""
    err_console.print(f"[bold red]error:[/] {inert_markup(exc)}", soft_wrap=True)
    raise typer.Exit(code)


_terminated = [False]


def _on_sigterm(signum: int, frame: object) -> None:
    """SIGTERM is delivered as Ctrl-C, so the run is stopped, recorded and unlocked the same way."""
    _terminated[0] = True
    if callable(signal.getsignal(signal.SIGINT)):
        signal.raise_signal(signal.SIGINT)  # asyncio.run turns SIGINT into a clean cancellation of the run
    else:  # SIGINT ignored (started in the background): interrupt directly
        raise KeyboardInterrupt


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn ctxsafe's own errors into a one-line message and its exit code; Ctrl-C and SIGTERM into a
    pointer to resume. A file-system error (read-only or full folder) is one line too, never a traceback."""
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        yield
    except CtxsafeError as exc:
        fail(exc, exc.exit_code)
    except KeyboardInterrupt:
        terminated = _terminated[0]
        err_console.print(f"[yellow]{'terminated' if terminated else 'interrupted'}:[/] every finished step is "
                          "in the store; re-run the same command to resume", soft_wrap=True)
        raise typer.Exit(ExitCode.TERMINATED if terminated else ExitCode.INTERRUPTED) from None
    except OSError as exc:
        where = f" {exc.filename}" if exc.filename else ""
        fail(StoreError(f"cannot write or read{where}: {exc.strerror or exc}"), ExitCode.STORE)
    finally:
        signal.signal(signal.SIGTERM, previous)


def exit_for(rows: Sequence[dict[str, Any]]) -> None:
    """After the table is printed: exit 3 with one line when any step failed or went unjudged."""
    bad = {row["run_id"]: row.get("problems", {}) for row in rows}
    bad = {rid: p for rid, p in bad.items() if any(p.values())}
    if bad:
        detail = "; ".join(f"{rid}: " + ", ".join(f"{v} {k}" for k, v in p.items() if v) for rid, p in bad.items())
        err_console.print(f"[yellow]finished with errors:[/] {inert_markup(detail)} (counted in the table as not "
                          "scored; re-run the same command to retry failed steps)", soft_wrap=True)
        raise typer.Exit(ExitCode.FINISHED_WITH_ERRORS)


def say_not_judged(rows: Sequence[dict[str, Any]], then: str) -> bool:
    """One line per run no judge ever scored (`--judge none`): its numbers are all "not scored", so say so
    rather than let them read as results. True when there was any. `then`: what the command does next."""
    bare = [row["run_id"] for row in rows if not any((row.get("judges") or {}).values())]
    for run_id in bare:
        err_console.print(f"[yellow]not judged:[/] {inert_markup(run_id)} has no judgements, so every case is "
                          f"counted as not scored{then}. Re-run the same `ctxsafe run` command with a judge (e.g. "
                          "--judge offline) to score it: the model is not called again.", soft_wrap=True)
    return bool(bare)


def endpoints(base_url: str | None, api_key_env: str | None, judge_base_url: str | None,
              judge_api_key_env: str | None, timeout: float, concurrency: int,
              text_only: bool = False, device: str | None = None,
              chat_template: str | None = None) -> tuple[Endpoint, Endpoint]:
    """The model's and the judge's endpoints (`text_only` declares the models under test text-only; `device`
    is where local models, under test or judging, run; `chat_template` is for local models under test)."""
    from ctxsafe.providers.registry import Endpoint

    return (Endpoint(base_url, api_key_env, timeout, concurrency, text_only=text_only, device=device,
                     chat_template=chat_template),
            Endpoint(judge_base_url, judge_api_key_env, timeout, concurrency, device=device))


def print_errors(store: RunStore, run_id: str) -> None:
    """Why the run's failed steps failed, grouped and counted (server text, printed inert)."""
    from ctxsafe.report.errors import error_lines

    for line in error_lines(store, run_id):
        console.print(inert(f"{run_id}: error: {line}"), soft_wrap=True, markup=False, highlight=False)
