"""The results document: one JSON-ready dict per run, the same envelope for every suite, rebuilt
from the store alone (no model or judge is called)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ctxsafe.engine.session import display_name
from ctxsafe.engine.store import RunInfo, RunStore
from ctxsafe.errors import ConfigError
from ctxsafe.judges.pick import ref_dict
from ctxsafe.metrics import paired
from ctxsafe.suites.protocol import JudgeRef, Suite, SuiteResults


def results_document(store: RunStore, suite: Suite, run_id: str, judge: str | None = None,
                     prefer: Sequence[JudgeRef | str] = ()) -> dict[str, Any]:
    """Suite, run, model and status; the judges used by role; the suite's metrics; the paired outcomes.

    Without `judge` the report prefers `prefer` (the judges just used), then the judges the run's
    configuration names, then the latest stored.
    """
    info = store.run(run_id)
    if info is None:
        raise ConfigError(f"no run {run_id!r} in {store.path}")
    res = suite.results(store, run_id, info.config, judge, [*prefer, *info.config.get("judges", [])])
    return document_from(info, suite, res)


def document_from(info: RunInfo, suite: Suite, res: SuiteResults) -> dict[str, Any]:
    """The document for a run whose suite results are already computed (the reports reuse its verdicts)."""
    doc: dict[str, Any] = {
        "suite": suite.name, "run_id": info.run_id, "model": display_name(info.config),
        "baseline": bool(info.config.get("baseline")), "status": info.status,
        "setting": info.config.get("setting"), "defense": info.config.get("defense", "bare"),
        "ablation": info.config.get("ablation", "image"), "shape": suite.shape,
        "config": info.config,
        "judges": {role: ref_dict(ref) for role, ref in res.judges.items()},
    }
    doc.update(res.extra)
    doc["metrics"] = res.metrics
    doc["paired"], doc["paired_by_category"] = paired.overall_and_by_category(res.verdicts)
    return doc


def judge_refs(row: dict[str, Any]) -> list[tuple[str, str]]:
    """The (judge id, prompt version) pairs a results document was scored with."""
    return [(r["id"], r["prompt_version"]) for r in (row.get("judges") or {}).values() if isinstance(r, dict)]


def with_problems(store: RunStore, row: dict[str, Any]) -> dict[str, Any]:
    """The document plus the run's failed steps and failed or unparseable judgements (for the exit code)."""
    row["problems"] = store.problems(row["run_id"], judge_refs(row))
    return row
