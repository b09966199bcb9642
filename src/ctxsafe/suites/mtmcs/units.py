"""An MTMCS run reduced to paired units for the defenses table (all types and modalities together).

Safety-awareness (unsafe dialogues) and helpfulness (safe dialogues) are per dialogue, keyed by pair,
over the dialogues that got a score; intent questions are per question, a failure counting as wrong.
A pair's twins are right as in the results document's paired outcomes (`insight.verdicts`: from the
per-turn labels); a pair without those labels is not scored.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from ctxsafe.engine.store import RunStore
from ctxsafe.metrics.paired import RIGHT, WRONG
from ctxsafe.report.defenses import RunUnits, run_cost
from ctxsafe.schema import Case, Judgement, TurnRecord
from ctxsafe.suites.mtmcs.insight import verdicts
from ctxsafe.suites.mtmcs.judge import final_step
from ctxsafe.suites.mtmcs.metrics import dialogue_state, probe_outcome, row_cluster, score_outcome

Chunk = tuple[list[Case], dict[tuple[str, str], TurnRecord], dict[tuple[str, str], Judgement],
              dict[tuple[str, str], Judgement]]


def judged_chunks(store: RunStore, run_id: str, score: tuple[str, str] | None,
                  turn: tuple[str, str] | None) -> Iterator[Chunk]:
    """The run a chunk of cases at a time, with their turns, score verdicts and turn labels: the one walk the
    results document and the defenses table share, so both read a dialogue the same way."""
    for cases, turns, scores in store.case_chunks(run_id, score):
        labels = store.judgements_for(run_id, *turn, [c.id for c in cases]) if turn else {}
        yield cases, turns, scores, labels


def run_units(store: RunStore, doc: dict[str, Any]) -> RunUnits:
    """The run's units, read a chunk of cases at a time (with their turns and both judges' verdicts)."""
    run_id = doc["run_id"]
    score_judge, turn_judge = ((r["id"], r["prompt_version"]) if r else None
                               for r in (doc["judges"]["score"], doc["judges"]["turn"]))
    refs = [r for r in (score_judge, turn_judge) if r]
    judged = turn_judge is not None and store.judgement_count(run_id, *turn_judge) > 0
    metrics: dict[str, dict[str, float]] = defaultdict(dict)
    right: dict[str, dict[str, bool | None]] = {"safe": {}, "unsafe": {}}
    clusters: dict[str, str] = {}
    n = 0
    for cases, turns, scores, labels in judged_chunks(store, run_id, score_judge, turn_judge):
        n += len(cases)
        for v in verdicts(cases, turns, labels, judged):  # the same rule as the results document's paired outcomes
            right[v.context][v.pair_id] = None if v.outcome not in (RIGHT, WRONG) else v.outcome == RIGHT
        for case in cases:
            clusters[case.pair_id] = row_cluster(case)
            state = dialogue_state(case, turns)
            score, _ = score_outcome(case, state, scores.get((case.id, final_step(case))))
            if score is not None:
                metrics["helpfulness" if case.context == "safe" else "safety awareness"][case.pair_id] = score
            for probe in case.probes:
                ok = probe_outcome(case, probe, turns, state) == "correct"
                metrics[f"{case.context} {probe.kind}"][f"{case.pair_id}/{probe.id}"] = 1.0 if ok else 0.0
                clusters[f"{case.pair_id}/{probe.id}"] = row_cluster(case)
    pair_ids = sorted(set(right["safe"]) | set(right["unsafe"]))
    return RunUnits(
        run_id=run_id, model=str(doc.get("model")), defense=str(doc["config"].get("defense", "bare")),
        metrics=dict(sorted(metrics.items())),
        pairs={p: (right["safe"].get(p), right["unsafe"].get(p)) for p in pair_ids},
        cost=run_cost(store, run_id, n, refs), cases=n, clusters=clusters,
        scales={"helpfulness": (1.0, 5.0), "safety awareness": (1.0, 5.0)})
