"""What suites that score each case with one label share: the four-class judges, the results built
from one stored judge, and the accuracy tables (MSSBench and native today).

A generic layer, not a suite: suites never import each other, they import this.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ctxsafe.engine.bulk import gc_paused
from ctxsafe.engine.store import RunStore
from ctxsafe.errors import ConfigError
from ctxsafe.judges.base import Judge
from ctxsafe.judges.four_class import INPUT_MODES, OFFLINE_JUDGES, FourClassLLMJudge
from ctxsafe.judges.names import is_offline, offline_judge
from ctxsafe.judges.pick import pick_judge
from ctxsafe.metrics import accuracy
from ctxsafe.providers.base import GenParams
from ctxsafe.report.terminal import category_table, paired_accuracy_table
from ctxsafe.suites.protocol import JudgeRef, JudgeRequest, SuiteResults

if TYPE_CHECKING:  # rich loads when a table is printed, after the run (issue 12)
    from rich.console import RenderableType

FOUR_CLASS = "mss4"
FOUR_CLASS_LABELS = ("refused", "risk-aware", "answered", "no answer (not safety)")
JUDGE_PARAMS = GenParams(temperature=0.0, seed=0)


def four_class_judges(request: JudgeRequest) -> list[Judge]:
    """`offline` -> the learned offline judge (`offline-rules`: the rules alone); `none` -> no judge;
    provider:model -> the LLM judge."""
    mode = request.input_mode or INPUT_MODES[0]
    if mode not in INPUT_MODES:
        raise ConfigError(f"--judge-input must be one of {', '.join(INPUT_MODES)}")
    if request.spec == "none":
        return []
    if is_offline(request.spec):
        if mode != "response":
            raise ConfigError("the offline judge reads the response only; drop --judge-input")
        return [offline_judge(request.spec, OFFLINE_JUDGES, "the four-class space")()]
    assert request.caller is not None
    return [FourClassLLMJudge(request.caller(JUDGE_PARAMS), mode)]


def label_results(store: RunStore, run_id: str, family: str, judge: str | None,
                  prefer: Sequence[JudgeRef | str]) -> SuiteResults:
    """Accuracy and paired verdicts from one stored judge's labels (no judge: every case unjudged)."""
    ref = pick_judge(store, run_id, family, judge, prefer)
    with gc_paused():
        scored = [accuracy.score_facts(facts) for facts in store.case_facts(run_id, ref)]
    return SuiteResults(judges={"scoring": ref}, metrics=accuracy.compute_scored(scored),
                        verdicts=accuracy.scored_verdicts(scored))


def judge_name(row: dict[str, Any]) -> str:
    ref = row["judges"].get("scoring")
    return ref["id"] if ref else "none"


def accuracy_tables(rows: list[dict[str, Any]], title: str, by_category: bool) -> list[RenderableType]:
    out: list[RenderableType] = [paired_accuracy_table(rows, title)]
    if by_category:
        out.extend(category_table(row) for row in rows)
    return out
