"""Terminal tables for one-side scoring shapes (each row names the shape that produced its numbers)
and for a benchmark's own published rates. Category names are dataset text: printed inert."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ctxsafe.inert import inert_markup
from ctxsafe.metrics.shapes import RATES
from ctxsafe.report.terminal import ci, failure_text, pct

if TYPE_CHECKING:  # rich loads when a table is built, not when a suite is imported (issue 12)
    from rich.table import Table

RATE_NAMES = {"safe_rate": "safe", "refusal_rate": "refused", "safe_completion_rate": "safe completion",
              "harmful_rate": "complied", "over_refusal_rate": "over-refusal", "answered_rate": "answered",
              "warned_rate": "answered with a warning", "no_answer_rate": "declined (not safety)"}


def _others(block: dict[str, Any], shape: str) -> str:
    return ", ".join(f"{RATE_NAMES[r]} {pct(block[r]['value'])}" for r in list(RATES[shape])[1:])


def one_side_table(rows: list[dict[str, Any]], title: str, by_category: bool = False) -> Table:
    """One line per run and one-side shape (and per category when asked): the headline rate with its
    Wilson 95% CI, the other rates, and the cases that could not be scored (still in n)."""
    from rich.table import Table

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


def published_table(rows: list[dict[str, Any]], title: str, by_category: bool = False) -> Table:
    """A benchmark's own rates, from its own judge: one line per run and side of its cases (and per
    group when asked); the headline rate with its Wilson 95% CI, the other rates, the cases not scored."""
    from rich.table import Table

    first = next(r["metrics"]["published"] for r in rows if r["metrics"].get("published", {}).get("sides"))
    head, *others = [k for k in next(iter(first["sides"].values())) if isinstance(k, str) and k not in
                     ("n", "labels", "failures") and not k.startswith("by_")]
    judges = sorted({(r["metrics"].get("published", {}).get("judge") or {}).get("id", "none") for r in rows})
    table = Table(title=inert_markup(f"{title} (judge {', '.join(judges)})"), caption="rates in %; n counts "
                  "every case, cases not scored included", caption_justify="left")
    for col in ("model", "side", "group", "n", head, "95% CI", *others, "not scored"):
        table.add_column(col.replace("_rate", "").replace("_", " "), justify="left" if col in
                         ("model", "side", "group", "not scored") else "right")
    for row in rows:
        for side, b in row["metrics"].get("published", {}).get("sides", {}).items():
            groups = [("all", b)]
            if by_category:
                groups += [(f"{key[3:]}: {name}", g) for key in b if key.startswith("by_")
                           for name, g in b[key].items()]
            for group, g in groups:
                table.add_row(row["model"], side, inert_markup(group), str(g["n"]), pct(g[head]["value"]),
                              ci(g[head]["ci95"]), *[pct(g[r]["value"]) for r in others],
                              failure_text(g["failures"]))
    return table
