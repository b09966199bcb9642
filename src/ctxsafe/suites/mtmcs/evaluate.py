"""Evaluate one model on MTMCS: load, run (or resume), judge, and build the results document.

Two modes, recorded in the run and part of its identity (so they never share a run id):
- faithful: the paper's decoding (temperature 0.1, 128 new tokens per turn, no system prompt), the
  judge reads a caption instead of the image, and unparseable intent answers leave the denominator;
- default: the same protocol with documented corrections (the judge sees the image, no truncation
  unless asked, unparseable answers count as wrong).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ctxsafe.engine.call import Caller
from ctxsafe.engine.policy import Bare, Policy
from ctxsafe.engine.progress import ProgressSink
from ctxsafe.engine.retry import RetryPolicy
from ctxsafe.engine.session import display_name, execute, make_run_id, role_callers, run_label, with_policy
from ctxsafe.engine.store import RunStore
from ctxsafe.errors import ConfigError, CtxsafeError
from ctxsafe.images import ImageStore
from ctxsafe.judges.base import Judge
from ctxsafe.providers.base import GenParams, Provider
from ctxsafe.schema import Case
from ctxsafe.suites.mtmcs import insight, metrics, prompts
from ctxsafe.suites.mtmcs.demo import DEMO, demo_data
from ctxsafe.suites.mtmcs.loader import MODALITIES, SUITE, LoadOptions, build_cases
from ctxsafe.suites.mtmcs.parse import PARSER_VERSION
from ctxsafe.suites.mtmcs.rows import SPLITS
from ctxsafe.suites.mtmcs.sources import read_captions, read_data

FAITHFUL_TEMPERATURE = 0.1
FAITHFUL_MAX_TOKENS = 128
SCORE_PREFIX = "mtmcs-score:"
TURN_PREFIX = "mtmcs-turn:"


def mode_name(faithful: bool) -> str:
    return "faithful" if faithful else "default"


@dataclass(frozen=True)
class MtmcsOptions:
    data: str = DEMO
    splits: tuple[str, ...] = SPLITS
    modalities: tuple[str, ...] = MODALITIES
    variants: bool = False
    faithful: bool = False
    captions: Path | None = None
    limit: int | None = None
    params: GenParams = field(default_factory=lambda: GenParams(temperature=FAITHFUL_TEMPERATURE))
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    concurrency: int | None = None

    @property
    def mode(self) -> str:
        return mode_name(self.faithful)

    def check(self) -> None:
        if self.faithful and self.variants:
            raise ConfigError("the paper never used the variant images: --variants cannot be combined with "
                              "--faithful")
        if self.faithful and (self.params.temperature != FAITHFUL_TEMPERATURE
                              or self.params.max_tokens != FAITHFUL_MAX_TOKENS):
            raise ConfigError(f"faithful mode decodes with temperature {FAITHFUL_TEMPERATURE} and "
                              f"{FAITHFUL_MAX_TOKENS} new tokens per turn; drop --temperature/--max-tokens")


def faithful_params(seed: int | None = None) -> GenParams:
    return GenParams(temperature=FAITHFUL_TEMPERATURE, max_tokens=FAITHFUL_MAX_TOKENS, seed=seed)


def load_cases(opts: MtmcsOptions, images: ImageStore) -> tuple[list[Case], str]:
    """The cases and a fingerprint of them (text, image hashes, captions), so changed data never resumes."""
    opts.check()
    raw = demo_data(opts.splits) if opts.data == DEMO else read_data(opts.data, opts.splits)
    if opts.captions is not None:
        raw.captions, raw.captions_file = read_captions(opts.captions), str(opts.captions)
    load = LoadOptions(splits=opts.splits, modalities=opts.modalities, variants=opts.variants,
                       require_captions=opts.faithful, limit=opts.limit)
    cases = build_cases(raw, load, images)
    digest = hashlib.sha256()
    for c in cases:
        digest.update(c.model_dump_json().encode())
    return cases, digest.hexdigest()[:16]


def identity(opts: MtmcsOptions, provider: Provider, images: ImageStore, data_digest: str) -> dict[str, Any]:
    """Everything that determines the model's outputs; the judge is not part of it."""
    return {"suite": SUITE, "mode": opts.mode, "data": opts.data, "data_sha": data_digest,
            "splits": list(opts.splits), "modalities": list(opts.modalities), "variants": opts.variants,
            "limit": opts.limit, "model": provider.identity, "params": opts.params.as_dict(),
            "prompts": prompts.PROMPT_VERSION, "image_policy": images.policy.max_side}


async def evaluate_model(store: RunStore, opts: MtmcsOptions, provider: Provider, judges: Sequence[Judge],
                         images: ImageStore, cases: list[Case], data_digest: str,
                         progress: ProgressSink | None = None, run_id: str | None = None,
                         policy: Policy | None = None, verifier: Caller | None = None) -> dict[str, Any]:
    """Run (or resume) the dialogues and intent questions, apply the judges, return the results document.

    A defense (`policy`) answers every step, the intent questions included, as the paper's defended model.
    """
    policy = policy or Bare()
    ident = with_policy(identity(opts, provider, images, data_digest), policy, verifier)
    caller = Caller(provider, opts.params, store, images, opts.retry, opts.concurrency)
    rid = run_id or make_run_id(SUITE, opts.mode, run_label(caller, policy), ident)
    config = {**ident, "model_name": provider.name, "baseline": provider.is_reference,
              "retry": asdict(opts.retry), "judges": [j.judge_id for j in judges], "defense": policy.name}
    result = await execute(store, rid, config, safe_first(cases), caller, judges, progress, policy,
                           role_callers(caller, verifier))
    score = next((j for j in judges if j.judge_id.startswith(SCORE_PREFIX)), None)
    turn = next((j for j in judges if j.judge_id.startswith(TURN_PREFIX)), None)
    row = results_document(store, rid, (score.judge_id, score.prompt_version) if score else None,
                           (turn.judge_id, turn.prompt_version) if turn else None)
    row["this_session"] = {"generation": asdict(result.generation), "judging": [asdict(j) for j in result.judging]}
    return row


def safe_first(cases: Sequence[Case]) -> list[Case]:
    """Play every safe twin before any unsafe one.

    Type A twins send identical requests for turns 1-2 (same image, same turns, same history); the
    request cache answers the second twin's only once the first twin's are recorded. Starting the safe
    twins first makes that the usual case instead of a race between two concurrent identical calls.
    """
    return sorted(cases, key=lambda c: c.context != "safe")


def pair_order(cases: Sequence[Case]) -> list[Case]:
    """Cases grouped by pair (in first-seen order), safe twin first: the order a reader expects."""
    first: dict[str, int] = {}
    for i, c in enumerate(cases):
        first.setdefault(c.pair_id, i)
    return sorted(cases, key=lambda c: (first[c.pair_id], c.context != "safe"))


JudgeRef = tuple[str, str]


def pick_judge(store: RunStore, run_id: str, prefix: str, name: str | None,
               preferred: Sequence[str] = ()) -> JudgeRef | None:
    """The (judge id, prompt version) to report: by provider name if given, else the run's own, else any."""
    available = [(j, v) for j, v in store.judges_of(run_id) if j.startswith(prefix)]
    if name is not None:
        wanted = f"{prefix}{'offline-rules' if name == 'offline' else name}"
        hits = [r for r in available if r[0] == wanted]
        if not hits:
            have = ", ".join(sorted({j for j, _ in available})) or "none"
            raise ConfigError(f"run {run_id} has no judgements by {wanted!r} (has: {have})")
        return hits[-1]
    for judge_id in preferred:
        hits = [r for r in available if r[0] == judge_id]
        if hits:
            return hits[-1]
    return available[-1] if available else None


def results_document(store: RunStore, run_id: str, score: JudgeRef | None = None, turn: JudgeRef | None = None,
                     judge_name: str | None = None) -> dict[str, Any]:
    """Recompute every metric from the store alone; no model or judge is called."""
    info = store.run(run_id)
    if info is None:
        raise ConfigError(f"no run {run_id!r} in {store.path}")
    if info.config.get("suite") != SUITE:
        raise CtxsafeError(f"run {run_id} is a {info.config.get('suite')} run, not {SUITE}")
    preferred = info.config.get("judges", [])
    score = score or pick_judge(store, run_id, SCORE_PREFIX, judge_name, preferred)
    turn = turn or pick_judge(store, run_id, TURN_PREFIX, judge_name, preferred)
    cases = store.cases(run_id)
    turns = store.turns(run_id)
    scores = store.judgements(run_id, *score) if score else {}
    labels = store.judgements(run_id, *turn) if turn else {}
    faithful = info.config.get("mode") == "faithful"
    return {
        "suite": SUITE, "run_id": run_id, "model": display_name(info.config),
        "baseline": bool(info.config.get("baseline")), "status": info.status, "mode": mode_name(faithful),
        "config": info.config,
        "judges": {"score": _ref(score), "turn": _ref(turn)},
        "parser": PARSER_VERSION,
        "metrics": metrics.compute(cases, turns, scores, faithful),
        "per_turn": insight.compute(cases, labels) if turn else None,
    }


def _ref(ref: JudgeRef | None) -> dict[str, str] | None:
    return None if ref is None else {"id": ref[0], "prompt_version": ref[1]}
