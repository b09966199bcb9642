"""The defenses table: the bare model against each defense on the same cases, from the store alone.

For each defended run: the suite's metrics side by side with the bare run's, the paired difference
(defense - bare) over the units both runs scored with a t-interval clustered by the units' clusters (an
MSSBench record, an MTMCS row: what the reports cluster by), the paired outcome counts of
every run, and what each run cost per case (calls and tokens by role).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ctxsafe.engine.policy import ROLES, step_role
from ctxsafe.engine.store import RunStore
from ctxsafe.errors import ConfigError
from ctxsafe.metrics.paired import CELLS, RIGHT, WRONG, pair_cell
from ctxsafe.metrics.stats import SMALL_CLUSTERS, cluster_mean_ci

if TYPE_CHECKING:  # rich loads when a table is built, not when a suite is imported (issue 12)
    from rich.table import Table

PAIR_OUTCOMES = CELLS
COST_ROLES = (*ROLES, "judge")


@dataclass(frozen=True)
class RunUnits:
    """One run reduced to what the comparison needs.

    `metrics`: metric name -> unit id -> value (a unit a run did not score is absent).
    `pairs`: pair id -> (safe twin right, unsafe twin right), None where it was not scored.
    `clusters`: unit id -> the cluster it shares information with (absent: the unit is its own cluster).
    `scales`: metric name -> the range of one unit's value, where it is not 0-1 (a 1-5 judge score).
    """

    run_id: str
    model: str
    defense: str
    metrics: dict[str, dict[str, float]]
    pairs: dict[str, tuple[bool | None, bool | None]]
    cost: dict[str, dict[str, float]] = field(default_factory=dict)
    cases: int = 0
    clusters: dict[str, str] = field(default_factory=dict)
    scales: dict[str, tuple[float, float]] = field(default_factory=dict)


def pair_outcome(safe: bool | None, unsafe: bool | None) -> str:
    """The pair's cell in the generic paired outcomes (`metrics/paired.py`), from its twins' rightness."""
    return pair_cell(*(None if v is None else RIGHT if v else WRONG for v in (safe, unsafe)))


def is_model_judge(judge_id: str) -> bool:
    """A judge that calls a model (`mss4:openai:gpt-4o`), not a rule set (`mss4:offline-rules`)."""
    return ":" in judge_id.partition(":")[2]


def run_cost(store: RunStore, run_id: str, cases: int,
             judges: Sequence[tuple[str, str]]) -> dict[str, dict[str, float]]:
    """Calls and tokens per case (`cases`: the run's case count) by role. A pipeline's kept reply is not a call;
    cached calls count (they are what the policy costs when run fresh). Judge calls are counted; their tokens
    are not recorded per run. From the store's grouped sums per step name (`RunStore.step_totals`): no turn is read."""
    policy = (info.config.get("policy") if (info := store.run(run_id)) else None) or {"name": "bare"}
    calls: Counter[str] = Counter()
    tokens: Counter[str] = Counter()
    for step, _, (tin, tout), n in store.step_totals(run_id):
        role = step_role(policy, step)
        if role == "final":
            continue
        calls[role] += n
        tokens[role] += (tin or 0) + (tout or 0)
    for judge_id, version in judges:
        if is_model_judge(judge_id):
            calls["judge"] += store.judgement_count(run_id, judge_id, version)
    n_cases = max(1, cases)
    return {role: {"calls": calls[role] / n_cases, "tokens": tokens[role] / n_cases if role != "judge" else math.nan}
            for role in COST_ROLES}


def _mean(xs: Sequence[float]) -> float:
    return sum(xs) / len(xs) if xs else math.nan


def paired_difference(bare: Mapping[str, float], other: Mapping[str, float],
                      clusters: Mapping[str, str] | None = None, scale: tuple[float, float] = (0.0, 1.0)
                      ) -> dict[str, Any]:
    """Mean of each side and of (other - bare) over the units both scored, with a cluster-robust t-interval
    (units sharing a cluster, e.g. an MSSBench record's queries, are not independent evidence), clipped to
    the range a difference of values on `scale` can take."""
    common = sorted(set(bare) & set(other))
    diffs = [other[u] - bare[u] for u in common]
    of = clusters or {}
    width = scale[1] - scale[0]
    d, lo, hi, n_clusters = cluster_mean_ci(diffs, [of.get(u, u) for u in common], bounds=(-width, width))
    return {"bare": _mean([bare[u] for u in common]), "defended": _mean([other[u] for u in common]),
            "diff": d, "ci95": [lo, hi], "units": len(common), "clusters": n_clusters,
            "small": n_clusters < SMALL_CLUSTERS,
            "only_bare": len(set(bare) - set(other)), "only_defended": len(set(other) - set(bare))}


def compare(runs: Sequence[RunUnits]) -> dict[str, Any]:
    """The first run is the reference (the bare model); every other run is compared with it."""
    if len(runs) < 2:
        raise ConfigError("a defenses table needs the bare run and at least one defended run")
    base = runs[0]
    comparisons = []
    for other in runs[1:]:
        metrics = {name: paired_difference(units, other.metrics.get(name, {}), base.clusters,
                                           base.scales.get(name, (0.0, 1.0)))
                   for name, units in base.metrics.items()}
        comparisons.append({"run_id": other.run_id, "defense": other.defense, "metrics": metrics})
    return {
        "reference": {"run_id": base.run_id, "defense": base.defense, "model": base.model},
        "method": "diff = defended - bare, averaged over the units both runs scored (pairs, twins or questions, "
                  "as named), so each unit is its own paired control; 95% cluster-robust t-interval over the "
                  "units' clusters (an MSSBench record, an MTMCS row)",
        "comparisons": comparisons,
        "runs": [{"run_id": r.run_id, "defense": r.defense, "model": r.model, "cases": r.cases,
                  "pair_outcomes": {k: v for k, v in Counter(pair_outcome(*p) for p in r.pairs.values()).items()},
                  "cost_per_case": r.cost} for r in runs],
    }


def _num(x: float) -> str:
    return "-" if math.isnan(x) else f"{x:.3f}"


def _signed(x: float) -> str:
    return "-" if math.isnan(x) else f"{x:+.3f}"


def difference_table(doc: dict[str, Any], title: str) -> Table:
    from rich.table import Table

    t = Table(title=title)
    for col in ("defense", "metric", "bare", "defended", "diff", "95% CI", "units"):
        t.add_column(col, justify="left" if col in ("defense", "metric") else "right")
    for comp in doc["comparisons"]:
        for name, m in comp["metrics"].items():
            lo, hi = m["ci95"]
            band = "-" if math.isnan(lo) else f"{lo:+.3f} to {hi:+.3f}"
            few = " (few)" if m.get("small") else ""
            t.add_row(comp["defense"], name, _num(m["bare"]), _num(m["defended"]), _signed(m["diff"]), band + few,
                      str(m["units"]))
    return t


def cost_table(doc: dict[str, Any]) -> Table:
    from rich.table import Table

    t = Table(title="Paired outcomes and cost per case")
    for col in ("defense", *PAIR_OUTCOMES, "calls/case (model, defense, verifier, judge)", "tokens/case"):
        t.add_column(col.replace("_", " "), justify="left" if col == "defense" else "right")
    for r in doc["runs"]:
        po = r["pair_outcomes"]
        cost = r["cost_per_case"]
        calls = ", ".join(f"{cost[role]['calls']:.2f}" for role in COST_ROLES)
        tokens = sum(cost[role]["tokens"] for role in ROLES)
        t.add_row(r["defense"], *(str(po.get(k, 0)) for k in PAIR_OUTCOMES), calls, f"{tokens:.0f}")
    return t


UnitsFn = Callable[[RunStore, dict[str, Any]], RunUnits]


def defenses_documents(store: RunStore, rows: Sequence[dict[str, Any]], units: UnitsFn) -> list[dict[str, Any]]:
    """One comparison per model that ran bare and defended: its bare run first, then its defended runs."""
    by_model: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_model.setdefault(str(row["config"].get("model_name")), []).append(row)
    docs = []
    for group in by_model.values():
        ordered = sorted(group, key=lambda r: r["config"].get("defense", "bare") != "bare")
        if len(ordered) > 1:
            docs.append(compare([units(store, row) for row in ordered]))
    return docs
