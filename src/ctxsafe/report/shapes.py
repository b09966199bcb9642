"""Terminal table for one-side scoring shapes: each row names the shape that produced its numbers.

Dataset and model text never reaches this table (only names of shapes, categories and rates), so
there is nothing untrusted to render inert here.
"""

from __future__ import annotations

from typing import Any

from rich.table import Table

from ctxsafe.metrics.shapes import RATES
from ctxsafe.report.terminal import ci, failure_text, pct

RATE_NAMES = {"safe_rate": "safe", "refusal_rate": "refused", "safe_completion_rate": "safe completion",
              "harmful_rate": "complied", "over_refusal_rate": "over-refusal", "answered_rate": "answered",
              "warned_rate": "answered with a warning", "no_answer_rate": "declined (not safety)"}


def _others(block: dict[str, Any], shape: str) -> str:
    return ", ".join(f"{RATE_NAMES[r]} {pct(block[r]['value'])}" for r in list(RATES[shape])[1:])


def one_side_table(rows: list[dict[str, Any]], title: str, by_category: bool = False) -> Table:
    """One line per run and one-side shape (and per category when asked): the headline rate with its
    Wilson 95% CI, the other rates, and the cases that could not be scored (still in n)."""
    table = Table(title=title)
    for col in ("model", "kind", "shape", "group", "n", "headline", "value", "95% CI", "other rates", "not scored"):
        table.add_column(col, justify="right" if col in ("n", "value", "95% CI") else "left")
    for row in rows:
        for shape, block in row["metrics"].get("one_side", {}).items():
            groups = [("all", block)]
            if by_category:
                groups += list(block.get("by_category", {}).items())
            head = next(iter(RATES[shape]))
            for group, b in groups:
                table.add_row(row["model"], "baseline" if row.get("baseline") else "model", shape, group,
                              str(b["n"]), RATE_NAMES[head], pct(b[head]["value"]), ci(b[head]["ci95"]),
                              _others(b, shape), failure_text(b["failures"]))
    return table
