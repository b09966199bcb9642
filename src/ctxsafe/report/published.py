"""The papers' headline numbers beside a run's own: each suite ships `published.json` in its package.

A run matches an entry when its model name (after `provider:`) is one of the entry's aliases and its
setting and defense are the entry's; the entry's `path` names a block of the run's metrics that holds
a value (`value`, `acc` or `mean`) and a 95% interval. A published number outside that interval is flagged.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from ctxsafe.errors import DataError


@dataclass(frozen=True)
class Published:
    metric: str
    published: float
    ours: float | None
    ci95: tuple[float, float] | None
    source: str
    note: str | None = None

    @property
    def outside(self) -> bool | None:
        """True when the published number lies outside our interval (None: no interval to judge by)."""
        if self.ci95 is None:
            return None
        return not (self.ci95[0] <= self.published <= self.ci95[1])


@cache
def published_table(suite: str) -> dict[str, Any]:
    """The suite's published results (empty when it ships none)."""
    try:
        text = resources.files(f"ctxsafe.suites.{suite}").joinpath("published.json").read_text(encoding="utf-8")
    except (ModuleNotFoundError, FileNotFoundError):
        return {"source": "", "results": []}
    try:
        doc: dict[str, Any] = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"published.json of suite {suite} is not valid JSON: {exc}",
                        file=f"ctxsafe/suites/{suite}/published.json") from exc
    return doc


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


def against_paper(doc: dict[str, Any]) -> list[Published]:
    """Every published number that applies to this results document, with ours and our interval (same scale)."""
    config = doc.get("config", {})
    table = published_table(str(doc.get("suite")))
    model = model_key(str(config.get("model_name", "")))
    defense = config.get("defense", "bare")
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
        ci95 = (ci[0] * scale, ci[1] * scale) if isinstance(ci, list) and len(ci) == 2 and all(map(_finite, ci)) \
            else None
        out.append(Published(entry["metric"], float(entry["value"]), None if value is None else value * scale,
                             ci95, table.get("source", ""), entry.get("note")))
    return out
