"""The papers' headline numbers beside a run's own: each suite ships `published.json` in its package and
hands it over as `Suite.paper_numbers()` (suites/paper.py).

Ours is over the cases the run scored: an error, a content filter or a missing or unparseable judgement is
not a wrong answer, so those cases are left out and counted beside the number (`excluded`).

A run matches an entry when its model name (after `provider:`) is one of the entry's aliases and its
setting and defense are the entry's; the entry's `path` names a block of the run's metrics that holds
a value (`value`, `acc` or `mean`) and a 95% interval. A published number outside that interval is flagged,
unless the run covers only part of the benchmark (the demo data, `--limit`): the paper's number is over the
whole release, so such a run is shown beside it but never judged against it. When the paper's judge is not
the run's, the note says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ctxsafe.metrics.stats import wilson


@dataclass(frozen=True)
class Published:
    metric: str
    published: float
    ours: float | None
    ci95: tuple[float, float] | None
    source: str
    note: str | None = None
    subset: str | None = None
    """Why the run is not comparable (it covers only part of the benchmark), or None."""
    excluded: int | None = None
    """Cases left out of `ours` because they have no verdict (error, filter, missing or unparseable
    judgement): the paper's number is over answers, so ours is over scored cases. None: not known here."""

    @property
    def outside(self) -> bool | None:
        """True when the published number lies outside our interval (None: no interval to judge by, or a run
        over part of the benchmark)."""
        if self.ci95 is None or self.subset is not None:
            return None
        return not (self.ci95[0] <= self.published <= self.ci95[1])

    @property
    def notes(self) -> str:
        """The entry's note, and why the comparison is limited, in one line."""
        parts = [f"not comparable: the run covers {self.subset}" if self.subset else None, self.note]
        return "; ".join(p for p in parts if p)


def subset_of(config: dict[str, Any]) -> str | None:
    """Why a run covers only part of its benchmark: the bundled demo data, or a `--limit`."""
    if str(config.get("data")) == "demo":
        return "only the bundled demo data"
    if config.get("limit"):
        return f"only the first {config['limit']} cases (--limit)"
    return None


def judge_note(doc: dict[str, Any], paper_judge: str | None) -> str | None:
    """Say so when the run's labels come from another judge than the paper's (a different measuring instrument)."""
    if not paper_judge:
        return None
    ours = sorted({str(r["id"]) for r in (doc.get("judges") or {}).values() if isinstance(r, dict)})
    return f"the paper's judge: {paper_judge}; this run's: {', '.join(ours) or 'none'}"


def _cell_counts(block: Any) -> tuple[int, int, int] | None:
    """(right, scored, not scored) of an accuracy cell (`n`, `correct`, `failures`), or None for another block."""
    if not isinstance(block, dict) or not isinstance(block.get("n"), int) or not isinstance(block.get("correct"), int):
        return None
    failed = sum(v for v in (block.get("failures") or {}).values() if isinstance(v, int))
    return block["correct"], block["n"] - failed, failed


def _scored_average(group: Any) -> tuple[float | None, int] | None:
    """The mean of a group's scored safe and unsafe accuracies and its cases left out; None if it has no cells."""
    cells = [_cell_counts(group.get(side)) for side in ("safe", "unsafe")] if isinstance(group, dict) else []
    counts = [c for c in cells if c is not None]
    if not counts or len(counts) != len(cells):
        return None
    failed = sum(c[2] for c in counts)
    if any(not c[1] for c in counts):
        return None, failed
    return sum(c[0] / c[1] for c in counts) / len(counts), failed


def scored_only(metrics: Any, path: list[str]) -> tuple[float | None, tuple[float, float] | None, int] | None:
    """Our number over scored cases only, its interval, and how many cases were left out; None when the
    block is not one of the accuracy layout's (metrics/accuracy.py), which is then shown as stored.

    A cell: right of scored, Wilson 95%. A group's average: the mean of its cells' scored accuracies. The
    overall weighted (simple) mean: the pair-weighted (plain) mean of the tasks' scored averages. An average's
    stored interval is kept when nothing was left out, else dropped (it counted the failures as wrong)."""
    block = _block(metrics, path)
    if not block:
        return None
    cell = _cell_counts(block)
    if cell is not None:
        right, scored, failed = cell
        return (right / scored, wilson(right, scored), failed) if scored else (None, None, failed)
    if path[:1] == ["overall"] and path[1:] in (["weighted"], ["simple"]) and isinstance(metrics.get("tasks"), dict):
        tasks = [(g.get("pairs", 0), _scored_average(g)) for g in metrics["tasks"].values()]
        if not tasks or any(avg is None for _, avg in tasks):
            return None
        parts = [(pairs if path[1] == "weighted" else 1, avg) for pairs, avg in tasks if avg is not None]
        failed = sum(avg[1] for _, avg in parts)
        if any(avg[0] is None for _, avg in parts) or not sum(w for w, _ in parts):
            return None, None, failed
        value = sum(w * (avg[0] or 0.0) for w, avg in parts) / sum(w for w, _ in parts)
    else:
        avg = _scored_average(_block(metrics, path[:-1]))
        if avg is None:
            return None
        if avg[0] is None:
            return None, None, avg[1]
        value, failed = avg
    ci = block.get("ci95")
    if failed or not (isinstance(ci, list) and len(ci) == 2 and all(map(_finite, ci))):
        return value, None, failed
    return value, (float(ci[0]), float(ci[1])), failed


def _block(metrics: Any, path: list[str]) -> dict[str, Any] | None:
    for key in path:
        if not isinstance(metrics, dict) or key not in metrics:
            return None
        metrics = metrics[key]
    return metrics if isinstance(metrics, dict) else None


def _finite(x: Any) -> bool:
    return isinstance(x, int | float) and not math.isnan(x)


def model_key(name: str) -> str:
    return name.split(":", 1)[-1].strip().lower()


def against_paper(doc: dict[str, Any], table: dict[str, Any]) -> list[Published]:
    """Every published number in the suite's `table` (`Suite.paper_numbers()`) that applies to this results
    document, with ours and our interval (same scale)."""
    config = doc.get("config", {})
    model = model_key(str(config.get("model_name", "")))
    defense = config.get("defense", "bare")
    subset = subset_of(config)
    judged = judge_note(doc, table.get("judge"))
    out = []
    for entry in table.get("results", []):
        if model not in {a.lower() for a in entry["aliases"]}:
            continue
        if entry.get("defense", "bare") != defense:
            continue
        if entry.get("setting") is not None and entry["setting"] != doc.get("setting", config.get("setting")):
            continue
        scale = float(entry.get("scale", 1))
        block = _block(doc.get("metrics", {}), entry["path"])
        value = next((block[k] for k in ("value", "acc", "mean") if block and _finite(block.get(k))), None)
        ci = block.get("ci95") if block else None
        ci_raw = (ci[0], ci[1]) if isinstance(ci, list) and len(ci) == 2 and all(map(_finite, ci)) else None
        excluded = None
        scored = scored_only(doc.get("metrics", {}), entry["path"])
        if scored is not None:
            value, ci_raw, excluded = scored
        ci95 = (ci_raw[0] * scale, ci_raw[1] * scale) if ci_raw else None
        note = "; ".join(n for n in (entry.get("note"), judged) if n) or None
        out.append(Published(entry["metric"], float(entry["value"]), None if value is None else value * scale,
                             ci95, table.get("source", ""), note, subset, excluded))
    return out
