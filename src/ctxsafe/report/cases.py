"""Per-case rows: what happened at every step of every case of a run, flat, for export and the HTML report.

One row per case, step and judge role (a step no judge scored has one row with empty judge fields),
so a notebook can filter and group without knowing the store's schema. Text from models and
datasets is copied exactly; escaping it is the job of whatever renders it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from ctxsafe.engine.policy import step_role
from ctxsafe.engine.store import RunStore
from ctxsafe.guards.judge import VERDICT_JUDGE, describe
from ctxsafe.providers.pricing import Price, PriceTable
from ctxsafe.report.cost import billed, role_models, step_cost
from ctxsafe.schema import Case, Judgement, TurnRecord

COLUMNS = (
    "run_id", "suite", "model", "case_id", "pair_id", "context", "category", "task", "split", "setting",
    "modality", "step", "turn", "role", "prompt", "reply", "finish_reason", "turn_outcome", "truncated", "error",
    "input_tokens", "output_tokens", "cost_usd", "served_model", "served_fingerprint", "cached", "judge_role",
    "judge_id", "label", "score", "explanation", "parse_status", "judge_served_model", "judge_fingerprint",
    "judge_cached", "case_outcome", "correct",
)
"""The export's columns, in order. `case_outcome` is the case's verdict (`right`, `wrong`, or why it has
neither: `error`, `parse_fail`, ...; a case without a twin by its shape's headline) and `correct` is
True/False for right/wrong, else empty.
`cost_usd` is the step's tokens at the price table's price for the model its role called; empty when
that model has no price or the step has no recorded tokens (unknown, never 0). `judge_served_model` and
`judge_fingerprint` are what the judge's API said served the verdict; `judge_cached` is True when the
verdict's call was answered from the cache (empty for offline judges). `served_model` and
`served_fingerprint` are the same for the step's own call (the model under test, a guard, a pipeline's
inner call; for a cached step, the call that first answered it), empty where the API named none;
`cached` is True when the step was answered from the cache."""

JudgeRef = tuple[str, str]


def _turn_number(step: str) -> int | None:
    head = step.split("/", 1)[0]
    return int(head[1:]) if head.startswith("t") and head[1:].isdigit() else None


def step_prompt(case: Case, step: str) -> str:
    """The user text a step answers: the case's user turn (a probe step shows its template)."""
    n = _turn_number(step)
    if n is not None and 1 <= n <= len(case.turns):
        return case.turns[n - 1].text_content()
    if step.startswith("probe:"):
        probe_id = step.split("/", 1)[0][len("probe:"):]
        return next((p.template for p in case.probes if p.id == probe_id), "")
    return ""


def _step_key(rec: TurnRecord) -> tuple[int, int, str]:
    # the turn's own record before its sub-steps, sub-steps in the order they were made
    return (rec.index, rec.step.count("/"), rec.step)


def case_outcomes(verdicts: Mapping[tuple[str, str], str], cases: Sequence[Case]) -> dict[str, str]:
    """Case id -> paired verdict, from verdicts keyed by (pair id, context), which name one case each."""
    return {c.id: verdicts.get((c.pair_id, c.context), "missing") for c in cases}


def _judgement_index(store: RunStore, run_id: str,
                     judges: Mapping[str, JudgeRef | None]) -> dict[tuple[str, str], list[tuple[str, Judgement]]]:
    out: dict[tuple[str, str], list[tuple[str, Judgement]]] = defaultdict(list)
    for role, ref in judges.items():
        if ref is None:
            continue
        for key, j in store.judgements(run_id, *ref).items():
            out[key].append((role, j))
    return out


def iter_rows(store: RunStore, run_id: str, model: str, config: Mapping[str, Any], cases: Sequence[Case],
              judges: Mapping[str, JudgeRef | None], outcomes: Mapping[str, str],
              prices: PriceTable | None = None) -> Iterator[dict[str, Any]]:
    """Every row of one run (its stored `cases`, in order), steps in the order they were played; each step
    priced by `prices` (default: the built-in list prices)."""
    turns = store.turns(run_id)
    served = store.served_steps(run_id)
    by_case: dict[str, list[TurnRecord]] = defaultdict(list)
    for rec in turns.values():
        by_case[rec.case_id].append(rec)
    judged = _judgement_index(store, run_id, judges)
    policy = config.get("policy")
    prices = prices or PriceTable()
    models = role_models(config)
    role_prices: dict[str, Price | None] = {}
    for case in cases:
        outcome = outcomes.get(case.id, "missing")
        base = {
            "run_id": run_id, "suite": case.suite, "model": model, "case_id": case.id, "pair_id": case.pair_id,
            "context": case.context, "category": case.category, "task": case.task, "split": case.split,
            "setting": case.setting, "modality": case.modality, "case_outcome": outcome,
            "correct": True if outcome == "right" else False if outcome == "wrong" else None,
        }
        records = sorted(by_case.get(case.id, []), key=_step_key)
        if not records:
            yield {**dict.fromkeys(COLUMNS), **base, "turn_outcome": "pending"}
            continue
        for rec in records:
            row = {**base, **turn_fields(case, rec, policy, served.get((case.id, rec.step)))}
            if row["role"] != "final":
                if row["role"] not in role_prices:
                    role_prices[row["role"]] = prices.price_of(models.get(row["role"], models["model"]))
                price = role_prices[row["role"]]
                row["cost_usd"] = step_cost(price, billed(rec.outcome, (rec.usage.input_tokens,
                                                                         rec.usage.output_tokens)))
            verdicts: list[tuple[str | None, Judgement | None]] = list(judged.get((case.id, rec.step), []))
            for role, j in verdicts or [(None, None)]:
                yield {**row, **judge_fields(role, j, (policy or {}).get("on_error", "stop"))}


def turn_fields(case: Case, rec: TurnRecord, policy: Any,
                served: tuple[str | None, str | None] | None = None) -> dict[str, Any]:
    return {
        "step": rec.step, "turn": _turn_number(rec.step), "role": step_role(policy, rec.step),
        "prompt": step_prompt(case, rec.step), "reply": rec.response, "finish_reason": rec.finish_reason,
        "turn_outcome": rec.outcome, "truncated": rec.truncated, "error": rec.error,
        "input_tokens": rec.usage.input_tokens, "output_tokens": rec.usage.output_tokens, "cost_usd": None,
        "served_model": None if served is None else served[0],
        "served_fingerprint": None if served is None else served[1], "cached": rec.cached,
    }


def judge_fields(role: str | None, j: Judgement | None, on_error: str = "stop") -> dict[str, Any]:
    """A judgement's columns; a guarded run's guard verdict is spelled out (verdict, blocked or passed,
    categories, score, rationale, what the guard was given, raw output), its error is a `guard error`."""
    if j is None:
        return {"judge_role": None, "judge_id": None, "label": None, "score": None, "explanation": None,
                "parse_status": None, "judge_served_model": None, "judge_fingerprint": None, "judge_cached": None}
    if j.judge_id == VERDICT_JUDGE:
        return {"judge_role": "guard", "judge_id": j.judge_id, "label": j.label, "score": j.score,
                "explanation": describe(j.explanation, on_error),
                "parse_status": "guard error" if j.parse_status != "ok" else "ok",
                "judge_served_model": j.served_model, "judge_fingerprint": j.served_fingerprint,
                "judge_cached": j.cached}
    return {"judge_role": role, "judge_id": j.judge_id, "label": j.label, "score": j.score,
            "explanation": j.explanation, "parse_status": j.parse_status if j.outcome == "ok" else j.outcome,
            "judge_served_model": j.served_model, "judge_fingerprint": j.served_fingerprint,
            "judge_cached": j.cached}

