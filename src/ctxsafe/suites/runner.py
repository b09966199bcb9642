"""The per-model loop, written once for every suite: load and check all cases, build the judges,
then for each model run (or resume) the cases, judge them, and write its results document."""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from ctxsafe.ablations import ablate
from ctxsafe.engine.batcher import BatchingProvider, batch_api, batched, check_batch_spec
from ctxsafe.engine.budget import Meter, RunLimits, metering
from ctxsafe.engine.call import Caller
from ctxsafe.engine.case_spool import CaseSpool
from ctxsafe.engine.dry_run import Estimator, dry_run
from ctxsafe.engine.policy import Policy, is_bare
from ctxsafe.engine.progress import NullProgress, RichProgress
from ctxsafe.engine.session import execute, make_run_id, role_callers, run_label, with_policy
from ctxsafe.engine.store import RunStore
from ctxsafe.errors import ConfigError, StoreError
from ctxsafe.guards.session import GuardSetup
from ctxsafe.images import CheckedImage, ImagePolicy, ImageStore
from ctxsafe.judges.base import Judge
from ctxsafe.judges.names import calls_a_model, check_judge
from ctxsafe.judges.served import with_served
from ctxsafe.policies.registry import make_policies
from ctxsafe.providers.base import GenParams, Provider
from ctxsafe.providers.capabilities import capabilities_of, check_cases
from ctxsafe.providers.pricing import PriceTable
from ctxsafe.providers.registry import Endpoint, make_provider
from ctxsafe.providers.specs import check_spec
from ctxsafe.report.document import results_document, with_problems
from ctxsafe.report.results import write_results
from ctxsafe.schema import Case, ImagePart
from ctxsafe.suites.pairs import keep_first_pairs
from ctxsafe.suites.protocol import CommonOptions, JudgeRequest, Prepared, Suite

SinkFactory = Callable[[], NullProgress | RichProgress]
VERIFIER_PARAMS = GenParams(temperature=0.0, seed=0)


@dataclass(frozen=True)
class RunPlan:
    """One invocation: a suite with its options, the models, where to reach them, where to write."""

    suite: Suite
    common: CommonOptions
    extra: dict[str, Any]
    models: list[str]
    endpoint: Endpoint
    judge_endpoint: Endpoint
    store: Path
    out: Path
    run_id: str | None = None
    guards: tuple[str, ...] = ()
    """`--guard` specs: each is evaluated as a classifier over every bare run and as guard + model runs."""
    limits: RunLimits = field(default_factory=RunLimits)


def run_identity(suite: Suite, prepared: Prepared, digest: str, limit: int | None, provider: Provider,
                 images: ImageStore, ablation: str = "image") -> dict[str, Any]:
    """Everything that determines the model's outputs (never the judge): the suite's own fields plus
    the exact cases, the limit, the model, the decoding and the image policy."""
    identity = {"suite": suite.name, **prepared.identity, "data_sha": digest, "limit": limit,
                "model": provider.identity, "params": prepared.params.as_dict(),
                "image_policy": images.policy.max_side}
    if ablation != "image":  # absent for the reference, so runs made before ablations existed keep their ids
        identity["ablation"] = ablation
    return identity


async def evaluate_model(plan: RunPlan, prepared: Prepared, cases: CaseSpool, store: RunStore, provider: Provider,
                         judges: list[Judge], images: ImageStore, sink: NullProgress | RichProgress,
                         defense: Policy, verifier: Caller | None,
                         judge_check: Callable[[], Awaitable[None]] | None = None) -> dict[str, Any]:
    """Run (or resume) one model, bare or under a defense, on the prepared cases; apply the judges; return
    its results document. The defense (and its verifier model) is part of the run's identity."""
    policy = plan.suite.policy(prepared, defense)
    identity = with_policy(run_identity(plan.suite, prepared, cases.digest, plan.common.limit, provider, images,
                                        plan.common.ablation), policy, verifier)
    caller = Caller(provider, prepared.params, store, images, plan.common.retry,
                    _concurrency(provider, plan.common.concurrency), before_first=judge_check)
    rid = plan.run_id or make_run_id(plan.suite.name, prepared.setting, run_label(caller, defense), identity)
    config = {**identity, "setting": prepared.setting, "model_name": provider.name,
              "baseline": provider.is_reference, "retry": asdict(plan.common.retry),
              "judges": [j.judge_id for j in judges], "defense": defense.name}
    result = await execute(store, rid, config, cases, caller, judges, sink, policy,
                           role_callers(caller, verifier))
    row = results_document(store, plan.suite, rid, prefer=[(j.judge_id, j.prompt_version) for j in judges])
    row["this_session"] = {"generation": asdict(result.generation), "judging": [asdict(j) for j in result.judging]}
    return row


def _concurrency(provider: Provider, asked: int) -> int:
    """--concurrency, except for a batch provider: every request that can go in its batch is let through."""
    return provider.max_concurrency if getattr(provider, "batch", False) else asked


def _batched(provider: Provider, plan: RunPlan, store: RunStore, role: str) -> Provider:
    """Under --batch: the model under test must have a batch API; an LLM judge uses its own when it has one,
    and is otherwise called directly (said on stderr)."""
    if not plan.limits.batch:
        return provider
    if role == "judge" and batch_api(provider.inner if isinstance(provider, Estimator) else provider) is None:
        print(f"note: judge {provider.name} has no batch API; its calls are sent directly", file=sys.stderr)
        return provider
    return batched(provider, store, plan.limits.batch_poll_s)


JUDGE_PREFLIGHT = GenParams(temperature=0.0, max_tokens=1)


def _judge_request(plan: RunPlan, store: RunStore,
                   images: ImageStore) -> tuple[JudgeRequest, list[Provider], Caller | None]:
    """The judges' request, the providers to close, and (for an LLM judge) the caller of its pre-flight,
    which goes directly even under --batch: a one-token check must not wait for a batch."""
    spec = plan.common.judge
    if not calls_a_model(spec):
        return JudgeRequest(spec, plan.common.judge_input, None), [], None
    provider = _batched(make_provider(spec, plan.judge_endpoint), plan, store, "judge")

    def caller(params: GenParams) -> Caller:
        return Caller(provider, params, store, images, plan.common.retry,
                      _concurrency(provider, plan.judge_endpoint.concurrency), namespace="judge")

    direct = provider.inner if isinstance(provider, BatchingProvider) else provider
    check = Caller(direct, JUDGE_PREFLIGHT, store, images, plan.common.retry, 1, namespace="judge")
    return JudgeRequest(spec, plan.common.judge_input, caller), [provider], check


def known_images(path: Path, max_side: int) -> dict[str, CheckedImage]:
    """The image checks an existing store remembers (read-only: bad input must never touch the store).

    Only a shortcut: a store that cannot be read here (damaged, or left half-created by a full disk) just
    means every image is checked; the store's own problem is reported when the run opens it to write."""
    if not path.is_file():
        return {}
    try:
        store = RunStore(path, readonly=True)
    except StoreError:
        return {}
    try:
        return store.image_checks(max_side)
    except StoreError:
        return {}
    finally:
        store.close()


async def run_models(plan: RunPlan, make_sink: SinkFactory) -> list[dict[str, Any]]:
    """Load and check all data first (bad input never touches the store), then run each model in turn,
    bare and under each defense (`--defense`) on the same cases.

    Each run's results file is written as soon as that run finishes; each row carries what its fresh
    calls spent (`spend`). Under `--max-cost` no call starts once the budget is spent; under
    `--dry-run` the whole run works on a throwaway copy of the store and nothing is sent.
    """
    meter = Meter(PriceTable.load(plan.limits.prices), plan.limits.max_cost)
    with metering(meter), ExitStack() as stack:
        if plan.limits.dry_run:
            store, out = stack.enter_context(dry_run(plan.store))
            plan = replace(plan, store=store, out=out)
        return await _run_models(plan, make_sink, meter)


async def _run_models(plan: RunPlan, make_sink: SinkFactory, meter: Meter) -> list[dict[str, Any]]:
    if plan.common.limit is not None and plan.common.limit < 1:
        raise ConfigError("--limit must be at least 1")
    if plan.run_id and len(plan.models) > 1:
        raise ConfigError("--run-id names one run; give a single --model with it")
    if plan.run_id and (plan.common.defenses or plan.guards):
        raise ConfigError("--run-id names one run, but --defense and --guard make one run per defense or guard "
                          "plus the bare model")
    check_judge(plan.common.judge)
    for spec in (*plan.models, plan.common.verifier):
        if spec is not None:
            check_spec(spec)  # a misspelt model fails in a blink, not after loading the data
    if plan.limits.batch:
        for spec in plan.models:
            check_batch_spec(spec, plan.endpoint.base_url)
    guards = GuardSetup(plan.guards, plan.endpoint.timeout_s, plan.common.concurrency)
    policies = [*make_policies(plan.common.defenses, plan.suite.defenses), *guards.policies()]
    policy = ImagePolicy()
    images = ImageStore(policy, known=known_images(plan.store, policy.max_side))
    prepared = plan.suite.prepare(plan.common, plan.extra, images)
    # the cases stream from the loader to a spool on disk, once; every later pass reads it a chunk at a time
    seen_images: dict[str, ImagePart] = {}
    cases = CaseSpool(_noting_images(ablate(keep_first_pairs(prepared.cases, plan.common.limit),
                                            plan.common.ablation, images), seen_images))
    prepared = replace(prepared, cases=())  # a suite that loaded its cases as a list: not held through the run
    try:
        return await _run_cases(plan, make_sink, meter, guards, policies, images, prepared, cases,
                                images.policy_summary(seen_images.values()))
    finally:
        cases.close()


def _noting_images(cases: Iterable[Case], seen: dict[str, ImagePart]) -> Iterator[Case]:
    """The cases unchanged, noting each distinct image they send (by sha256) for the run's image summary."""
    for c in cases:
        seen.update((p.sha256, p) for p in c.images())
        yield c


async def _run_cases(plan: RunPlan, make_sink: SinkFactory, meter: Meter, guards: GuardSetup, policies: list[Policy],
                     images: ImageStore, prepared: Prepared, cases: CaseSpool,
                     image_summary: str) -> list[dict[str, Any]]:
    """Each model, bare and under each defense, on the spooled cases (nothing has touched the store yet)."""
    store = RunStore(plan.store)
    store.remember_image_checks(images.policy.max_side, images.fresh.values())
    rows = []
    closing: list[Provider] = []
    try:
        request, closing, check = _judge_request(plan, store, images)
        judges = plan.suite.make_judges(request, prepared)
        # an LLM judge is reached once before the model's first fresh call: a bad judge key fails before the
        # model calls are paid for, and a fully cached resume sends nothing
        judge_check = check.preflight if judges and check is not None else None
        verifier = None
        if plan.common.verifier is not None:
            vp = make_provider(plan.common.verifier, plan.endpoint)
            closing.append(vp)
            verifier = Caller(vp, VERIFIER_PARAMS, store, images, plan.common.retry, plan.endpoint.concurrency)
        for spec in plan.models:
            provider = make_provider(spec, plan.endpoint)
            try:
                provider = _batched(provider, plan, store, "model")
                check_cases(spec, capabilities_of(provider), cases.with_images(), images.size_of)  # before any call
                for defense in policies:
                    before = meter.snapshot()
                    with make_sink() as sink:
                        row = await evaluate_model(plan, prepared, cases, store, provider, judges, images, sink,
                                                   defense, verifier, judge_check)
                        if guards and is_bare(defense):
                            row["guards"] = await guards.classify(store, images, cases, row["run_id"],
                                                                  plan.common.retry, sink)
                    with_served(store, with_problems(store, row))
                    row["spend"] = meter.since(before)
                    row["images"] = image_summary
                    row["results_file"] = str(write_results(plan.out / f"{row['run_id']}.json", row))
                    rows.append(row)
            finally:
                await provider.aclose()
    finally:
        for p in closing:
            await p.aclose()
        await guards.aclose()
        store.close()
    return rows
