"""Terminal tables: accuracy with its CI, and failure counts right beside it."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from ctxsafe.inert import inert_markup

if TYPE_CHECKING:  # rich loads when a table is built, not when a suite is imported (issue 12)
    from rich.table import Table


def pct(x: float | None) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.1f}"


def ci(bounds: list[float | None]) -> str:
    lo, hi = bounds
    if lo is None or hi is None or math.isnan(lo) or math.isnan(hi):
        return "-"
    return f"{pct(lo)}-{pct(hi)}"


def ci_marked(block: dict[str, Any]) -> str:
    """The interval, marked when it rests on too few independent clusters to read."""
    return ci(block["ci95"]) + (" (few)" if block.get("small") else "")


def pct_ci(value: float | None, bounds: list[float | None]) -> str:
    return f"{pct(value)} [{ci(bounds)}]"


def failure_text(failures: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in failures.items()) or "-"


def paired_accuracy_table(rows: list[dict[str, Any]], title: str) -> Table:
    """The paired accuracy layout (metrics/accuracy.py, MSSBench's arithmetic, used by every single-label suite):
    one row per model and task, then the overall rows; baselines are marked as such."""
    from rich.table import Table

    t = Table(title=inert_markup(title), title_justify="left",
              caption="acc in %; cases not scored count as wrong; 95% CI clustered by image record, "
              "(few) = under 10 clusters: too few to read", caption_justify="left")
    t.add_column("model", no_wrap=True)
    t.add_column("kind")
    t.add_column("task", no_wrap=True)
    for col in ("pairs", "safe", "unsafe", "avg", "95% CI"):
        t.add_column(col, justify="right", no_wrap=True)
    t.add_column("not scored")
    for row in rows:
        m = row["metrics"]
        name = inert_markup(row["model"])
        kind = "baseline" if row.get("baseline") else "model"
        for task, g in m["tasks"].items():
            fails: dict[str, int] = {}
            for side in ("safe", "unsafe"):
                for k, v in g[side]["failures"].items():
                    fails[k] = fails.get(k, 0) + v
            t.add_row(name, kind, inert_markup(task), str(g["pairs"]), pct(g["safe"]["acc"]), pct(g["unsafe"]["acc"]),
                      pct(g["avg"]["value"]), ci_marked(g["avg"]), inert_markup(failure_text(fails)))
        o = m["overall"]
        t.add_row(name, kind, "overall, pair-weighted", str(o["pairs"]), "", "", pct(o["weighted"]["value"]),
                  ci_marked(o["weighted"]), "")
        t.add_row(name, kind, "overall, simple mean", "", "", "", pct(o["simple"]["value"]),
                  ci(o["simple"]["ci95"]), "", end_section=True)
    return t


def category_table(row: dict[str, Any]) -> Table:
    from rich.table import Table

    t = Table(title=inert_markup(f"{row['model']}: per category"), title_justify="left")
    for col in ("category", "pairs", "safe acc", "unsafe acc", "avg [95% CI]"):
        t.add_column(col, justify="left" if col == "category" else "right")
    for cat, g in row["metrics"]["categories"].items():
        t.add_row(inert_markup(cat), str(g["pairs"]), pct(g["safe"]["acc"]), pct(g["unsafe"]["acc"]),
                  pct_ci(g["avg"]["value"], g["avg"]["ci95"]) + (" (few)" if g["avg"].get("small") else ""))
    return t


PAIRED_COLUMNS = (("both_right", "both right"), ("over_refusal", "over-refusal"), ("miss", "miss"),
                  ("both_wrong", "both wrong"), ("not_scored", "not scored"))


def _paired_cell(block: dict[str, Any]) -> str:
    return f"{block['n']} ({pct(block['share'])}%)"


def paired_table(rows: list[dict[str, Any]], by_category: bool = False) -> Table:
    """Each safe/unsafe pair as one unit, for every paired suite: counts and shares of all pairs."""
    from rich.table import Table

    t = Table(title="Paired outcomes (each safe/unsafe pair as one unit)", title_justify="left",
              caption="over-refusal: unsafe twin caught, safe twin refused; miss: safe twin helped, unsafe twin "
              "not caught; not scored: a twin has no verdict (reasons at right)", caption_justify="left")
    t.add_column("model", no_wrap=True)
    t.add_column("group", no_wrap=True)
    t.add_column("pairs", justify="right")
    for _, name in PAIRED_COLUMNS:
        t.add_column(name, justify="right", no_wrap=True)
    t.add_column("why not scored")
    for row in rows:
        groups = [("all", row["paired"])]
        if by_category:
            groups += list(row.get("paired_by_category", {}).items())
        for k, (name, g) in enumerate(groups):
            t.add_row(inert_markup(row["model"]), inert_markup(name),
                      str(g["pairs"]), *(_paired_cell(g[key]) for key, _ in PAIRED_COLUMNS),
                      failure_text(g["not_scored_reasons"]), end_section=k == len(groups) - 1)
    return t
