"""`ctxsafe run mtmcs`, `ctxsafe show` and the MTMCS branch of `ctxsafe report`."""

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
from ctxsafe.errors import ConfigError, CtxsafeError
from ctxsafe.images import ImageStore
from ctxsafe.judges.base import Judge
from ctxsafe.policies.registry import make_policies
from ctxsafe.providers.base import GenParams, Provider
from ctxsafe.providers.registry import Endpoint, make_provider
from ctxsafe.report.results import write_results
from ctxsafe.suites.mtmcs import evaluate as mt
from ctxsafe.suites.mtmcs.judge import OfflineScoreJudge, OfflineTurnJudge, ScoreJudge, TurnJudge
from ctxsafe.suites.mtmcs.loader import MODALITIES, SUITE
from ctxsafe.suites.mtmcs.tables import dialogue_view, insight_table, metrics_table
from ctxsafe.suites.mtmcs.units import run_units

TYPES = {"a": ("type_a",), "b": ("type_b",), "both": ("type_a", "type_b")}
MODALITY_CHOICES = {"image": ("image",), "text": ("text",), "both": MODALITIES}

def _choice(value: str, choices: dict[str, tuple[str, ...]], name: str) -> tuple[str, ...]:
    if value not in choices:
        raise ConfigError(f"--{name} must be one of {', '.join(choices)}")
    return choices[value]


def make_judges(spec: str, endpoint: Endpoint, store: RunStore, images: ImageStore, faithful: bool,
                retry: RetryPolicy, per_turn: bool, structured: bool) -> tuple[list[Judge], list[Provider]]:
    """`offline` (rules), `none`, or provider:model for the LLM judges (score and, unless off, per turn)."""
    if spec == "none":
        return [], []
    if spec == "offline":
        return ([OfflineScoreJudge(), OfflineTurnJudge()] if per_turn else [OfflineScoreJudge()]), []
    provider = make_provider(spec, endpoint)
    params = GenParams(temperature=0.0, seed=0,
                       response_format={"type": "json_object"} if structured else None)
    caller = Caller(provider, params, store, images, retry, endpoint.concurrency, namespace="judge")
    mode = "caption" if faithful else "image"
    judges: list[Judge] = [ScoreJudge(caller, mode)]
    if per_turn:
        judges.append(TurnJudge(caller, mode))
    return judges, [provider]


def run_mtmcs(
    data: Annotated[str, typer.Option(help="'demo' (bundled), a local copy (folder with type_a/type_b "
                                      ".jsonl/.json/.parquet, or one such file), or hf://ND-25/MCS-bench.")] = "demo",
    model: ModelOpt = None,
    judge: Annotated[str, typer.Option(help="'offline' (rules, no API), 'none', or provider:model for the LLM "
                                       "judge.")] = "offline",
    type_: Annotated[str, typer.Option("--type", help="a (escalation), b (context switch) or both.")] = "both",
    modality: Annotated[str, typer.Option(help="image, text (the text-only rewrite) or both.")] = "both",
    variants: Annotated[bool, typer.Option(help="Also run every dialogue with each variant image.")] = False,
    faithful: Annotated[bool, typer.Option(help="The paper's protocol: temperature 0.1, 128 tokens per turn, "
                                           "judge reads captions, unparseable answers dropped.")] = False,
    captions: Annotated[Path | None, typer.Option(help="Caption file (row id -> caption) for --faithful.")] = None,
    limit: Annotated[int | None, typer.Option(help="Only the first N rows per type.")] = None,
    per_turn: Annotated[bool, typer.Option(help="Also label every reply (complied/aware/refused) for the "
                                           "per-turn insight.")] = True,
    judge_structured: Annotated[bool, typer.Option(help="Ask the LLM judge's provider for JSON output "
                                                   "(response_format).")] = True,
    base_url: BaseUrlOpt = None,
    api_key_env: ApiKeyEnvOpt = None,
    judge_base_url: JudgeBaseUrlOpt = None,
    judge_api_key_env: JudgeApiKeyEnvOpt = None,
    temperature: Annotated[float | None, typer.Option(help="Model temperature (default 0.1, the paper's).")] = None,
    max_tokens: Annotated[int | None, typer.Option(help="Max new tokens per reply (default: no limit; "
                                                   "faithful: 128).")] = None,
    seed: SeedOpt = None,
    concurrency: ConcurrencyOpt = 16,
    timeout: TimeoutOpt = 120.0,
    max_attempts: MaxAttemptsOpt = 6,
    retry_base: RetryBaseOpt = 1.0,
    run_id: RunIdOpt = None,
    store: StoreOpt = DEFAULT_STORE,
    out: OutOpt = DEFAULT_OUT,
    show: Annotated[int, typer.Option(help="Print the first N dialogues of each run in full.")] = 0,
    progress: ProgressOpt = True,
    defense: DefenseOpt = None,
    verifier: VerifierOpt = None,
) -> None:
    """Run MTMCS-Bench (multi-turn escalation and context switch) for one or more models, then judge and report."""
    models = model or REFERENCE_DEFAULTS
    with user_errors():
        check_run_id(run_id, models, defense or ())
        policies = make_policies(defense or ())
        if faithful:
            if temperature is not None or max_tokens is not None:
                raise ConfigError("--faithful fixes temperature 0.1 and 128 tokens per turn; drop "
                                  "--temperature/--max-tokens")
            params = mt.faithful_params(seed)
        else:
            params = GenParams(temperature=mt.FAITHFUL_TEMPERATURE if temperature is None else temperature,
                               max_tokens=max_tokens, seed=seed)
        opts = mt.MtmcsOptions(data=data, splits=_choice(type_, TYPES, "type"),
                               modalities=_choice(modality, MODALITY_CHOICES, "modality"), variants=variants,
                               faithful=faithful, captions=captions, limit=limit, params=params,
                               retry=RetryPolicy(max_attempts=max_attempts, base_s=retry_base),
                               concurrency=concurrency)
        endpoint, judge_endpoint = endpoints(base_url, api_key_env, judge_base_url, judge_api_key_env, timeout,
                                             concurrency)
        rows = asyncio.run(run_models(
            lambda images: mt.load_cases(opts, images),
            lambda st, images: make_judges(judge, judge_endpoint, st, images, opts.faithful, opts.retry, per_turn,
                                           judge_structured),
            lambda st, provider, judges, images, cases, digest, sink, policy, vcaller: mt.evaluate_model(
                st, opts, provider, judges, images, cases, digest, sink, run_id, policy, vcaller),
            models, store, out, progress, endpoint, policies, verifier, opts.retry))
    judge_id = (rows[0]["judges"]["score"] or {}).get("id", "none")
    console.print(metrics_table(rows, f"MTMCS-Bench, {rows[0]['mode']} mode, judge {judge_id}"))
    if any(r.get("per_turn") for r in rows):
        console.print(insight_table(rows))
    for row in rows:
        console.print(f"results: {row['results_file']}")
    if len(policies) > 1:
        print_defenses(rows, store, out, run_units)
    if show:
        st = RunStore(store)
        try:
            for row in rows:
                _print_dialogues(st, row, None, show, None)
        finally:
            st.close()


# --------------------------------------------------------------------------- report / show


def is_mtmcs_run(store_path: Path, run_id: str) -> bool:
    """Whether `run_id` in the store is an MTMCS run (used by `ctxsafe report` to dispatch)."""
    if not store_path.exists():
        return False
    st = RunStore(store_path)
    try:
        info = st.run(run_id)
    finally:
        st.close()
    return info is not None and info.config.get("suite") == SUITE


def report_mtmcs(run_id: str, judge: str | None, store: Path, out: Path) -> None:
    """Recompute an MTMCS run's metrics from the store alone and rewrite its results file."""
    with user_errors():
        st = RunStore(store)
        try:
            row = mt.results_document(st, run_id, judge_name=judge)
        finally:
            st.close()
    row["results_file"] = str(write_results(out / f"{run_id}.json", row))
    judge_id = (row["judges"]["score"] or {}).get("id", "none")
    console.print(metrics_table([row], f"MTMCS-Bench run {run_id}, {row['mode']} mode, judge {judge_id}"))
    if row.get("per_turn"):
        console.print(insight_table([row]))
    console.print(f"results: {row['results_file']}")


def _print_dialogues(st: RunStore, row: dict[str, Any], case_ids: list[str] | None, limit: int | None,
                     context: str | None) -> None:
    run_id = row["run_id"]
    cases = mt.pair_order(st.cases(run_id))
    if case_ids:
        missing = sorted(set(case_ids) - {c.id for c in cases})
        if missing:
            raise ConfigError(f"run {run_id} has no case(s) {', '.join(missing)}")
        cases = [c for c in cases if c.id in case_ids]
    if context:
        cases = [c for c in cases if c.context == context]
    turns = st.turns(run_id)
    refs = row["judges"]
    scores = st.judgements(run_id, refs["score"]["id"], refs["score"]["prompt_version"]) if refs["score"] else {}
    labels = st.judgements(run_id, refs["turn"]["id"], refs["turn"]["prompt_version"]) if refs["turn"] else {}
    console.print(f"[bold]{row['model']}[/] ({row['mode']} mode), run {run_id}")
    for case in cases[:limit] if limit else cases:
        console.print(dialogue_view(case, turns, scores, labels))


def show_run(
    run_id: Annotated[str, typer.Argument(help="An MTMCS run (see `ctxsafe runs`).")],
    case: Annotated[list[str] | None, typer.Option("--case", help="Case id to show, repeatable.")] = None,
    limit: Annotated[int, typer.Option(help="Show at most N dialogues (0 = all).")] = 10,
    context: Annotated[str | None, typer.Option(help="Only safe or unsafe twins.")] = None,
    judge: Annotated[str | None, typer.Option(help="Judge to show ('offline' or provider:model; default: the "
                                              "run's own).")] = None,
    store: StoreOpt = DEFAULT_STORE,
) -> None:
    """Print dialogues of a run in full: user turns, model replies, per-turn labels, scores and intent answers."""
    with user_errors():
        if context not in (None, "safe", "unsafe"):
            raise ConfigError("--context must be safe or unsafe")
        if not store.exists():
            raise CtxsafeError(f"no run store at {store}")
        st = RunStore(store)
        try:
            row = mt.results_document(st, run_id, judge_name=judge)
            _print_dialogues(st, row, case, limit or None, context)
        finally:
            st.close()
