"""Terminal tables for one-side scoring shapes (each row names the shape that produced its numbers)
and for a benchmark's own published rates. Category names are dataset text: printed inert."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from ctxsafe.inert import inert_markup
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
                table.add_row(row["model"], "baseline" if row.get("baseline") else "model", shape, inert_markup(group),
                              str(b["n"]), RATE_NAMES[head], pct(b[head]["value"]), ci(b[head]["ci95"]),
                              _others(b, shape), failure_text(b["failures"]))
    return table


def _rate_cell(block: dict[str, Any], rate: str) -> str:
    return f"{pct(block[rate]['value'])} [{ci(block[rate]['ci95'])}]"


def published_table(rows: list[dict[str, Any]], title: str, by_category: bool = False) -> Table:
    """A benchmark's own rates, from its own judge: one line per run and side of its cases (and per
    group when asked), every rate with its Wilson 95% CI, and the cases that could not be scored."""
    first = next(r["metrics"]["published"] for r in rows if r["metrics"].get("published", {}).get("sides"))
    rates = [k for k in next(iter(first["sides"].values())) if isinstance(k, str) and k not in
             ("n", "labels", "failures") and not k.startswith("by_")]
    table = Table(title=inert_markup(title), caption="rates in % [Wilson 95% CI]; n counts every case, "
                  "cases not scored included", caption_justify="left")
    for col in ("model", "judge", "side", "group", "n", *rates, "not scored"):
        table.add_column(col.replace("_", " "), justify="right" if col == "n" or col in rates else "left")
    for row in rows:
        block = row["metrics"].get("published", {})
        judge = (block.get("judge") or {}).get("id", "none")
        for side, b in block.get("sides", {}).items():
            groups = [("all", b)]
            if by_category:
                groups += [(f"{key[3:]} {name}", g) for key in b if key.startswith("by_")
                           for name, g in b[key].items()]
            for group, g in groups:
                table.add_row(row["model"], judge, side, inert_markup(group), str(g["n"]),
                              *[_rate_cell(g, r) for r in rates], failure_text(g["failures"]))
    return table
