"""`ctxsafe run SUITE`: one generic command per registered suite.

Every suite gets the same shared options, with the same names and meanings, followed by its own
(declared in its `Suite.options`). The command's signature is assembled here so typer shows one
`--help` per suite while the code that handles the shared options exists once.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ctxsafe.ablations import ABLATIONS, check_ablation
from ctxsafe.cli import PlainFlags
from ctxsafe.cli_common import (
    DEFAULT_OUT,
    DEFAULT_STORE,
    REFERENCE_DEFAULTS,
    ApiKeyEnvOpt,
    BaseUrlOpt,
    ConcurrencyOpt,
    DefenseOpt,
    GuardOpt,
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
    console,
    endpoints,
    err_console,
    exit_for,
    print_errors,
    say_not_judged,
    user_errors,
)
from ctxsafe.judges.names import check_judge
from ctxsafe.providers.specs import check_spec
from ctxsafe.suites.catalog import CATALOG, check_data, load_suite

if TYPE_CHECKING:  # the run machinery loads once the options have been checked (issue 12)
    from ctxsafe.suites.protocol import Suite
    from ctxsafe.suites.runner import RunPlan

LimitOpt = Annotated[int | None, typer.Option(help="Only the first N safe/unsafe pairs of each split (an MSSBench "
                                              "task, an MTMCS type, a native file), both twins kept.")]
FaithfulOpt = Annotated[bool, typer.Option(help="Reproduce the original benchmark's protocol where ctxsafe "
                                           "corrects it (see the suite's docs page).")]
JudgeOpt = Annotated[str, typer.Option(help="'offline' (no API; also offline-learned, offline-embed, "
                                       "offline-lm, offline-rules), 'none' (no judge now: re-run with a judge later, "
                                       "the model is not called "
                                       "again; exits 0 and says 'not judged'), or provider:model.")]
TemperatureOpt = Annotated[float | None, typer.Option(help="Model decoding temperature (default: the suite's).")]
MaxTokensOpt = Annotated[int | None, typer.Option(help="Max new tokens per reply (default: no limit).")]
ByCategoryOpt = Annotated[bool, typer.Option(help="Also print per-category tables.")]
AblationOpt = Annotated[str, typer.Option(help=f"Modality ablation applied to every case: {', '.join(ABLATIONS)} "
                                           "(recorded in the run; see docs/ablations.md).")]
ShowOpt = Annotated[int, typer.Option(help="Print the first N pairs of each run in full (as `ctxsafe show`).")]
MaxCostOpt = Annotated[float | None, typer.Option(
    min=0.0, help="Stop starting calls once this many USD are spent (priced by the price table); finished steps "
                  "are stored, so re-running the same command resumes.")]
DryRunOpt = Annotated[bool, typer.Option(
    "--dry-run", help="Send nothing: count the calls this run would make (cache hits excluded) and estimate "
                      "their tokens and cost.")]
PricesOpt = Annotated[Path | None, typer.Option(
    help='JSON price table overriding the built-in list prices: {"model-prefix": {"input": USD per Mtok, '
         '"output": USD per Mtok}}.')]
TextOnlyOpt = Annotated[bool, typer.Option(
    "--text-only", help="Declare the models under test text-only (e.g. a llama.cpp server without a vision "
                        "projector): a run with image cases stops before its first call.")]
BatchOpt = Annotated[bool, typer.Option(
    "--batch", help="Send the calls through the provider's batch API (openai:, anthropic:; about half the price, "
                    "answered within 24 hours). A killed run re-attaches to its batch when re-run.")]
BatchPollOpt = Annotated[float, typer.Option(min=0.0, help="Seconds between two status requests of a batch.")]
DeviceOpt = Annotated[str | None, typer.Option(
    "--device", help="Where local models (hf:, gguf:) run: cpu, cuda, cuda:1, ... Default: a GPU if torch sees one, "
                     "else the CPU.")]
ChatTemplateOpt = Annotated[str | None, typer.Option(
    "--chat-template", help="A Jinja chat template file for local models whose files carry none (e.g. a "
                            "base-model GGUF).")]

SHARED = ("data", "model", "judge", "judge_input", "limit", "faithful", "base_url", "api_key_env", "judge_base_url",
          "judge_api_key_env", "temperature", "max_tokens", "seed", "concurrency", "timeout", "max_attempts",
          "retry_base", "run_id", "store", "out", "by_category", "show", "progress", "defense", "verifier", "ablation",
          "guard", "max_cost", "dry_run", "prices", "text_only", "batch", "batch_poll", "device",
          "chat_template")


def shared_parameters(suite: Suite | None) -> list[inspect.Parameter]:
    """The shared options, with help that names this suite's own data sources and judge inputs (None: generic
    help, for the early checks that parse the command line before the suite is imported)."""
    if suite is None:
        data_help, judge_input_help = "The data.", "What the LLM judge sees."
    else:
        data_help = suite.data_help + ("" if suite.default_data is None else f" Default: {suite.default_data}.")
        judge_input_help = (f"What the LLM judge sees: {', '.join(suite.judge_inputs)} "
                            f"(default: {suite.judge_inputs[0]}).")
    spec: list[tuple[str, Any, Any]] = [
        ("data", Annotated[str | None, typer.Option(help=data_help)], None),
        ("model", ModelOpt, None),
        ("judge", JudgeOpt, "offline"),
        ("judge_input", Annotated[str | None, typer.Option(help=judge_input_help)], None),
        ("limit", LimitOpt, None),
        ("faithful", FaithfulOpt, False),
        ("base_url", BaseUrlOpt, None),
        ("api_key_env", ApiKeyEnvOpt, None),
        ("judge_base_url", JudgeBaseUrlOpt, None),
        ("judge_api_key_env", JudgeApiKeyEnvOpt, None),
        ("temperature", TemperatureOpt, None),
        ("max_tokens", MaxTokensOpt, None),
        ("seed", SeedOpt, None),
        ("concurrency", ConcurrencyOpt, 16),
        ("timeout", TimeoutOpt, 120.0),
        ("max_attempts", MaxAttemptsOpt, 6),
        ("retry_base", RetryBaseOpt, 1.0),
        ("run_id", RunIdOpt, None),
        ("store", StoreOpt, DEFAULT_STORE),
        ("out", OutOpt, DEFAULT_OUT),
        ("by_category", ByCategoryOpt, False),
        ("show", ShowOpt, 0),
        ("progress", ProgressOpt, True),
        ("defense", DefenseOpt, None),
        ("verifier", VerifierOpt, None),
        ("ablation", AblationOpt, "image"),
        ("guard", GuardOpt, None),
        ("max_cost", MaxCostOpt, None),
        ("dry_run", DryRunOpt, False),
        ("prices", PricesOpt, None),
        ("text_only", TextOnlyOpt, False),
        ("batch", BatchOpt, False),
        ("batch_poll", BatchPollOpt, 30.0),
        ("device", DeviceOpt, None),
        ("chat_template", ChatTemplateOpt, None),
    ]
    assert tuple(name for name, _, _ in spec) == SHARED
    return [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=ann, default=default)
            for name, ann, default in spec]


def make_plan(suite: Suite, shared: dict[str, Any], extra: dict[str, Any]) -> RunPlan:
    """The shared options, read the same way for every suite."""
    from ctxsafe.engine.budget import RunLimits
    from ctxsafe.engine.retry import RetryPolicy
    from ctxsafe.suites.protocol import CommonOptions
    from ctxsafe.suites.runner import RunPlan

    common = CommonOptions(
        data=shared["data"], limit=shared["limit"], faithful=shared["faithful"], judge=shared["judge"],
        judge_input=shared["judge_input"], temperature=shared["temperature"], max_tokens=shared["max_tokens"],
        seed=shared["seed"], retry=RetryPolicy(max_attempts=shared["max_attempts"], base_s=shared["retry_base"]),
        concurrency=shared["concurrency"], defenses=tuple(shared["defense"] or ()), verifier=shared["verifier"],
        ablation=shared["ablation"])
    endpoint, judge_endpoint = endpoints(shared["base_url"], shared["api_key_env"], shared["judge_base_url"],
                                         shared["judge_api_key_env"], shared["timeout"], shared["concurrency"],
                                         shared["text_only"], shared["device"],
                                         shared["chat_template"])
    limits = RunLimits(max_cost=shared["max_cost"], dry_run=shared["dry_run"], prices=shared["prices"],
                       text_only=shared["text_only"], batch=shared["batch"], batch_poll_s=shared["batch_poll"])
    return RunPlan(suite=suite, common=common, extra=extra, models=shared["model"] or REFERENCE_DEFAULTS,
                   endpoint=endpoint, judge_endpoint=judge_endpoint, store=shared["store"], out=shared["out"],
                   run_id=shared["run_id"], guards=tuple(shared["guard"] or ()), limits=limits)


def print_rows(suite: Suite, rows: list[dict[str, Any]], by_category: bool) -> None:
    """The suite's own tables, then the paired outcomes of the runs that have pairs, then the files.

    A run's document names the shapes it was scored by (`shapes`); one without pairs (an unsafe-only
    or benign-only file) gets no paired table, so nothing in it reads as a paired average."""
    from ctxsafe.inert import inert_markup
    from ctxsafe.judges.measured import judge_note
    from ctxsafe.judges.served import served_line
    from ctxsafe.report.terminal import paired_table

    for table in suite.tables(rows, by_category):
        console.print(table)
    refs = [ref for row in rows for ref in row.get("judges", {}).values() if ref]
    for note in dict.fromkeys(judge_note(ref["id"], ref.get("prompt_version")) for ref in refs):
        console.print(note, markup=False, soft_wrap=True)
    for row in rows:
        for judge_id, summary in (row.get("judges_served") or {}).items():
            line = served_line(judge_id, summary)
            if line is not None:
                console.print(f"{row['run_id']}: {line}", markup=False, soft_wrap=True)
    if any("paired" in row.get("shapes", ("paired",)) for row in rows):
        console.print(paired_table(rows, by_category))
    for row in rows:
        console.print(f"results: {inert_markup(row['results_file'])}")


def print_defenses(suite: Suite, rows: list[dict[str, Any]], store_path: Path, out: Path) -> None:
    """After a run with --defense: the defenses table of each model, printed and written beside the results."""
    from ctxsafe.cli_defenses import print_defenses_document
    from ctxsafe.engine.store import RunStore
    from ctxsafe.report.defenses import defenses_documents

    with user_errors():
        store = RunStore(store_path)
        try:
            docs = defenses_documents(store, rows, suite.units)
        finally:
            store.close()
    for doc in docs:
        print_defenses_document(doc, out)


def run_suite(suite: Suite, shared: dict[str, Any], extra: dict[str, Any]) -> None:
    from ctxsafe.engine.budget import describe
    from ctxsafe.engine.progress import NullProgress, RichProgress
    from ctxsafe.engine.store import RunStore
    from ctxsafe.signal_loop import run
    from ctxsafe.suites.runner import run_models

    show_progress = bool(shared["progress"])

    def sink() -> NullProgress | RichProgress:
        return RichProgress(err_console) if show_progress and err_console.is_terminal else NullProgress()

    with user_errors():
        plan = make_plan(suite, shared, extra)
        rows = run(run_models(plan, sink))
    if plan.limits.dry_run:
        for row in rows:
            priced = " (at batch prices)" if plan.limits.batch else ""
            console.print(f"dry run, nothing was sent: {row['run_id']}: {describe(row['spend'])}{priced}",
                          soft_wrap=True, markup=False, highlight=False)
        return
    print_rows(suite, rows, shared["by_category"])
    with user_errors():
        st = RunStore(Path(shared["store"]))
        try:
            for row in rows:
                console.print(f"{row['run_id']}: {describe(row['spend'])}", soft_wrap=True, markup=False,
                              highlight=False)
                print_errors(st, row["run_id"])
        finally:
            st.close()
    if plan.common.defenses or plan.guards:
        print_defenses(suite, rows, Path(shared["store"]), Path(shared["out"]))
    if plan.guards:
        from ctxsafe.guards.report import print_guards

        with user_errors():
            print_guards(console, rows, Path(shared["store"]), Path(shared["out"]))
    if shared["show"]:
        from ctxsafe.cli_views import print_pairs

        with user_errors():
            st = RunStore(Path(shared["store"]), readonly=True)
            try:
                for row in rows:
                    print_pairs(st, suite, row, limit=shared["show"])
            finally:
                st.close()
    # --judge none asked to play the model only: that is done (exit 0), but the table holds no results
    say_not_judged(rows, then=" (this run was asked for no judge: --judge none)")
    exit_for(rows)


def run_command(suite: Suite) -> Callable[..., None]:
    """A typer command for `ctxsafe run SUITE`: the shared options, then the suite's own."""
    def command(**kwargs: Any) -> None:
        shared = {name: kwargs.pop(name) for name in SHARED}
        run_suite(suite, shared, kwargs)

    params = shared_parameters(suite) + [
        inspect.Parameter(o.name, inspect.Parameter.KEYWORD_ONLY, annotation=o.annotation, default=o.default)
        for o in suite.options]
    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in params}
    command.__doc__ = f"{suite.summary} Resumes automatically when re-run with the same options."
    return command


def check_early(suite_name: str, args: Sequence[str]) -> None:
    """The checks that need no suite code (model specs, a missing data path, the ablation), run on the command
    line before the suite and the run machinery are imported, so a typo is reported in a blink (issue 12)."""
    given = shared_values(args)
    with user_errors():
        for spec in (*given.get("model", ()), *given.get("verifier", ())[-1:]):
            check_spec(spec)
        for judge in given.get("judge", ())[-1:]:
            check_judge(judge)
        check_data(suite_name, given.get("data", [None])[-1])
        for ablation in given.get("ablation", ())[-1:]:
            check_ablation(ablation)


def shared_values(args: Sequence[str]) -> dict[str, list[str]]:
    """The values given to the shared options that take one, by parameter name, read from the command line
    without converting anything (click's parse, done after the suite loads, converts them through pydantic
    TypeAdapters, itself a quarter of a second). The suite's own options are skipped; what this reading gets
    wrong is only checked early, and the full parse that follows reports it as usual."""
    takes_value: dict[str, str] = {}
    for param in _shared_options_command().params:
        if not param.is_flag:
            takes_value.update({opt: param.name for opt in param.opts})
    values: dict[str, list[str]] = {}
    rest = list(args)
    while rest:
        arg = rest.pop(0)
        if arg == "--":
            break
        name, eq, value = arg.partition("=")
        if eq and name.startswith("--") and name in takes_value:
            values.setdefault(takes_value[name], []).append(value)
        elif arg in takes_value and rest:
            values.setdefault(takes_value[arg], []).append(rest.pop(0))
        elif not arg.startswith("--") and arg[:2] in takes_value and len(arg) > 2:  # -mVALUE
            values.setdefault(takes_value[arg[:2]], []).append(arg[2:])
    return values


@cache
def _shared_options_command() -> Any:
    """A click command with only the shared options (never used to parse, see `shared_values`)."""
    def shared_only(**kwargs: Any) -> None:
        """The shared options alone."""

    shared_only.__signature__ = inspect.Signature(shared_parameters(None))  # type: ignore[attr-defined]
    single = typer.Typer(add_completion=False)
    single.command()(shared_only)
    return typer.main.get_command(single)


def suite_command(name: str) -> Any:
    """The click command of `ctxsafe run NAME` (imports that suite only)."""
    suite = load_suite(name)
    single = typer.Typer(add_completion=False)
    single.command(suite.name, help=suite.summary)(run_command(suite))
    command = typer.main.get_command(single)
    command.name = name
    return command


class LazySuites(PlainFlags):
    """`ctxsafe run`: the suites are listed from the catalog; the one invoked is the only one imported, after
    the checks that need no suite code (`check_early`)."""

    def list_commands(self, ctx: Any) -> list[str]:
        return list(CATALOG)

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name not in CATALOG:
            return None
        if cmd_name not in self.commands:
            self.commands[cmd_name] = suite_command(cmd_name)
        return self.commands[cmd_name]

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        if args and args[0] in CATALOG and not set(args[1:]) & set(ctx.help_option_names):
            check_early(args[0], args[1:])
        return super().resolve_command(ctx, args)


run_app = typer.Typer(cls=LazySuites, no_args_is_help=True, add_completion=False)


@run_app.callback()
def run() -> None:
    """Run a benchmark suite (resumes automatically when re-run with the same options)."""
