"""The numbers every report section draws from, generic over suites: accuracy by context with Wilson
intervals, failure counts, breakdowns by category and modality, per-turn label distributions and cost by role.

Cases without a verdict stay in every denominator as not correct, exactly as in the suites' own metrics.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ctxsafe.engine.policy import step_role
from ctxsafe.metrics.shapes import headline as shape_headline
from ctxsafe.metrics.stats import wilson
from ctxsafe.report.browser_data import RunRows, case_tags
from ctxsafe.report.cost import RoleCost, StepCalls, billed, run_cost
from ctxsafe.report.run_view import RunView
from ctxsafe.report.shapes import RATE_NAMES
from ctxsafe.schema import Case


@dataclass(frozen=True)
class Rate:
    k: int
    n: int

    @property
    def value(self) -> float | None:
        return self.k / self.n if self.n else None

    @property
    def ci95(self) -> tuple[float, float] | None:
        return wilson(self.k, self.n) if self.n else None


def rate(outcomes: Iterable[str]) -> Rate:
    seq = list(outcomes)
    return Rate(sum(1 for o in seq if o == "right"), len(seq))


SCORED = ("right", "wrong")
"""The verdicts a comparison counts; anything else (error, filtered, unjudged, parse_fail, ...) is left out."""

FAILURE_COUNTS = ("error", "content-filter", "truncated", "parse-fail")


def failure_counts(rr: RunRows) -> dict[str, int]:
    """Cases with an error, a content filter, a truncated reply, a judge parse failure (a case may have several)."""
    counts: Counter[str] = Counter()
    for case in rr.cases:
        counts.update(case_tags(case, rr.view.outcomes.get(case.id, "missing"), rr.rows_by_case.get(case.id, [])))
    return {k: counts[k] for k in FAILURE_COUNTS}


def twin_score(cases: Iterable[Case], outcomes: Mapping[str, str]) -> float | None:
    """The mean of safe-twin and unsafe-twin accuracy (MSSBench's average; 50 for any context-blind model)."""
    groups: dict[str, list[str]] = defaultdict(list)
    for c in cases:
        groups[c.context].append(outcomes.get(c.id, "missing"))
    values = [rate(groups[ctx]).value for ctx in ("safe", "unsafe") if groups[ctx]]
    return sum(v for v in values if v is not None) / len(values) if values else None


def headline_score(doc: Mapping[str, Any], cases: Iterable[Case], outcomes: Mapping[str, str]) -> str:
    """A run's one-line score: the twin average for paired runs; for a run with no pairs (an unsafe-only
    or benign-only benchmark) its shape's headline rate, named, since a twin average would read 0."""
    one_side = doc.get("metrics", {}).get("one_side") or {}
    if "paired" not in doc.get("shapes", ("paired",)) and one_side:
        parts = []
        for shape, block in one_side.items():
            rate = shape_headline(shape)
            value = block[rate]["value"]
            parts.append(f"{RATE_NAMES[rate]} {'-' if value is None else f'{100 * value:.1f}'}")
        return "; ".join(parts)
    value = twin_score(cases, outcomes)
    return "-" if value is None else f"{100 * value:.1f}"


def by_context(rr: RunRows) -> dict[str, Rate]:
    """Helpfulness (safe twins handled right) and safety (unsafe twins handled right)."""
    groups: dict[str, list[str]] = defaultdict(list)
    for c in rr.cases:
        groups[c.context].append(rr.view.outcomes.get(c.id, "missing"))
    return {ctx: rate(groups.get(ctx, [])) for ctx in ("safe", "unsafe")}


def scored_by_context(rr: RunRows) -> dict[str, Rate]:
    """As `by_context`, over the scored cases only (right or wrong): what comparisons between runs use,
    with the cases left out counted beside them (`failure_counts`, `not_scored`)."""
    groups: dict[str, list[str]] = defaultdict(list)
    for c in rr.cases:
        outcome = rr.view.outcomes.get(c.id, "missing")
        if outcome in SCORED:
            groups[c.context].append(outcome)
    return {ctx: rate(groups.get(ctx, [])) for ctx in ("safe", "unsafe")}


def shape_name(rr: RunRows) -> str:
    """The scoring shape(s) that produced a run's numbers (`paired`, `unsafe-only`, `paired+benign-only`)."""
    return "+".join(rr.view.doc.get("shapes") or [str(rr.view.doc.get("shape", "paired"))])


def not_scored(rr: RunRows) -> Counter[str]:
    """The run's cases without a verdict, by reason (error, filtered, unjudged, parse_fail, missing, ...)."""
    return Counter(o for o in (rr.view.outcomes.get(c.id, "missing") for c in rr.cases) if o not in SCORED)


def by_key(rr: RunRows, key: str) -> dict[str, Rate]:
    """Case accuracy grouped by a case attribute (`category`, `modality`, `context`)."""
    groups: dict[str, list[str]] = defaultdict(list)
    for c in rr.cases:
        groups[str(getattr(c, key) or "(none)")].append(rr.view.outcomes.get(c.id, "missing"))
    return {k: rate(v) for k, v in sorted(groups.items())}


def turn_labels(rr: RunRows) -> dict[tuple[str, int], Counter[str]]:
    """(context, turn) -> count of each label a per-turn judge gave, for dialogues of several turns.

    Only judges with named labels count (a per-turn label space); a 1-5 score for the whole dialogue,
    stored at its last turn, is not a per-turn label.
    """
    multi = {c.id for c in rr.cases if len(c.turns) > 1}
    names = {ref[0]: rr.view.suite.label_names(ref[0]) for ref in rr.view.judges.values() if ref is not None}
    out: dict[tuple[str, int], Counter[str]] = defaultdict(Counter)
    for case_id in multi:
        for r in rr.rows_by_case.get(case_id, []):
            labels = names.get(r["judge_id"])
            if r["turn"] is None or not labels or "/" in str(r["step"]):
                continue  # no per-turn judge, or a sub-step / probe rather than a turn of the dialogue
            label = r["label"]
            if r["parse_status"] != "ok":
                name = f"({r['parse_status']})"
            elif isinstance(label, int) and 0 <= label < len(labels):
                name = labels[label]
            else:
                name = "(none)" if label is None else str(label)
            out[(r["context"], int(r["turn"]))][name] += 1
    return dict(sorted(out.items()))


def cost_by_role(rr: RunRows) -> dict[str, RoleCost]:
    """Calls, tokens and cost per role (model, defense, verifier, guard, judge), from each recorded step
    once and the run's judgements, priced by the view's price table."""
    steps: list[StepCalls] = []
    for rows in rr.rows_by_case.values():
        seen: set[str] = set()
        for r in rows:
            if r["step"] is None or r["step"] in seen:
                continue
            seen.add(r["step"])
            steps.append((r["role"], billed(r["turn_outcome"], (r["input_tokens"], r["output_tokens"])), 1))
    view = rr.view
    return run_cost(view.info.config, steps, view.judge_calls, view.prices)


def view_cost(view: RunView) -> dict[str, RoleCost]:
    """`cost_by_role` from the open store's per-step token sums (`RunStore.step_totals`), so the terminal
    report neither builds every case's rows nor reads every step."""
    policy = view.info.config.get("policy")
    steps = ((step_role(policy, step), billed(outcome, tokens), calls)
             for step, outcome, tokens, calls in view.store.step_totals(view.run_id))
    return run_cost(view.info.config, steps, view.judge_calls, view.prices)


def headline(rr: RunRows) -> dict[str, Any]:
    ctx = by_context(rr)
    return {"safe": ctx["safe"], "unsafe": ctx["unsafe"], "all": rate(rr.view.outcomes.values()),
            "failures": failure_counts(rr), "paired": rr.view.doc.get("paired", {})}
