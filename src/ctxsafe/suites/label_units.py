"""A run scored by one label per case (MSSBench, native) reduced to paired units for the defenses table.

Units follow the suite's arithmetic: every case counts, a failure is not correct. Safe and unsafe
accuracy are per twin (keyed by pair), the average per pair (mean of its twins).
"""

from __future__ import annotations

from typing import Any

from ctxsafe.engine.store import RunStore
from ctxsafe.metrics.accuracy import case_outcome, cluster_of, scored_step
from ctxsafe.report.defenses import RunUnits, run_cost


def run_units(store: RunStore, doc: dict[str, Any]) -> RunUnits:
    run_id = doc["run_id"]
    ref = doc["judges"]["scoring"]
    judges = [(ref["id"], ref["prompt_version"])] if ref else []
    cases = store.cases(run_id)
    turns = store.turns(run_id)
    judgements = store.judgements(run_id, *judges[0]) if judges else {}
    sides: dict[str, dict[str, float]] = {"safe": {}, "unsafe": {}}
    scored: dict[str, dict[str, bool | None]] = {"safe": {}, "unsafe": {}}
    clusters: dict[str, str] = {}
    for case in cases:
        clusters[case.pair_id] = cluster_of(case)
        step = scored_step(case, turns)
        outcome = case_outcome(case, turns.get((case.id, step)), judgements.get((case.id, step)))
        sides[case.context][case.pair_id] = 1.0 if outcome == "correct" else 0.0
        scored[case.context][case.pair_id] = None if outcome not in ("correct", "wrong") else outcome == "correct"
    pair_ids = sorted(set(sides["safe"]) | set(sides["unsafe"]))
    avg = {p: (sides["safe"].get(p, 0.0) + sides["unsafe"].get(p, 0.0)) / 2 for p in pair_ids}
    return RunUnits(
        run_id=run_id, model=str(doc.get("model")), defense=str(doc["config"].get("defense", "bare")),
        metrics={"safe acc": sides["safe"], "unsafe acc": sides["unsafe"], "avg acc (pair)": avg},
        pairs={p: (scored["safe"].get(p), scored["unsafe"].get(p)) for p in pair_ids},
        cost=run_cost(store, run_id, cases, turns, judges), cases=len(cases), clusters=clusters)
