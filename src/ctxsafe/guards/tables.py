"""Terminal views of guard results: the guards table per suite, the per-turn firing plot, and the blocking
stages of guarded runs. The same documents are written as JSON for the HTML report."""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text

from ctxsafe.metrics.stats import SMALL_CLUSTERS


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f}"


CI_NOTE = f"95% intervals clustered by pair and image; (few) = under {SMALL_CLUSTERS} clusters: too few to read"


def rate_text(v: float | None, ci: list[float] | None, small: bool = False) -> str:
    """`45.0 [30.2-60.1]`: a percentage with its 95% interval (when the document has one), marked `(few)`
    when the interval rests on too few independent clusters to read."""
    return _pct(v) + (f" [{ci[0]:.1f}-{ci[1]:.1f}]" if ci else "") + (" (few)" if small and v is not None else "")


def group_rates(g: dict[str, Any]) -> tuple[str, str, str]:
    """A group's unsafe block rate, safe-twin block rate and pair accuracy, each with its interval."""
    def one(rate: str, key: str) -> str:
        return rate_text(g[rate], g.get(f"{key}_ci95"), bool(g.get(f"{key}_small")))

    return (one("unsafe_block_rate", "unsafe_block"), one("safe_block_rate", "safe_block"),
            one("pair_accuracy", "pair_accuracy"))


def mean_turn_text(m: dict[str, Any] | None) -> str:
    """`2.4 [1.9-2.9] over 12` for a mean turn with its clustered interval; `-` when nothing fired."""
    if m is None:
        return "-"
    ci = f" [{m['ci95'][0]:.1f}-{m['ci95'][1]:.1f}]" if m.get("ci95") else ""
    return f"{m['mean']:.2f}{ci}{' (few)' if m.get('small') else ''} over {m['n']}"


def firing_summary(metrics: dict[str, Any]) -> str:
    """Mean first firing turn of unsafe cases and safe twins, and the unsafe cases' delay after the risk turn."""
    means = metrics.get("first_firing_mean")
    if not means:
        return ""
    return (f"mean first firing turn: unsafe {mean_turn_text(means['unsafe'])}, safe twins "
            f"{mean_turn_text(means['safe'])}; unsafe turns after the risk turn "
            f"{mean_turn_text(means['delay_after_risk_turn'])}")


def guards_table(docs: list[dict[str, Any]], title: str) -> Table:
    """One row per (guard, model run, group): block rate on unsafe cases and on their safe twins."""
    t = Table(title=title, caption=CI_NOTE, caption_justify="left")
    for col in ("guard", "view", "model run", "group", "unsafe blocked %", "safe blocked %", "pair acc %",
                "pairs", "not scored"):
        t.add_column(col, no_wrap=col in ("guard", "view"))
    for doc in docs:
        m = doc["metrics"]
        groups = [("overall", m["overall"])] + [(f"cat {k}", v) for k, v in m["by_category"].items()] + \
            [(f"modality {k}", v) for k, v in m["by_modality"].items()]
        for name, g in groups:
            unsafe, safe, pairs = group_rates(g)
            t.add_row(Text(doc["guard"]), doc["view"], Text(doc["model"]), Text(name),
                      f"{unsafe} ({g['unsafe_blocked']}/{g['unsafe']})", f"{safe} ({g['safe_blocked']}/{g['safe']})",
                      pairs, str(g["pairs"]), str(g["not_scored"]))
    return t


def firing_plot(doc: dict[str, Any], width: int = 30) -> Table:
    """First firing turn, unsafe cases against safe twins, as bars; and unsafe cases against the risk turn."""
    turns = doc["metrics"]["first_firing_turn"]
    t = Table(title=f"{doc['guard']} ({doc['view']}) on {doc['model']}: first turn the guard fires")
    for col in ("turn", "unsafe", "safe twin (false positive)"):
        t.add_column(col)
    counts = [*turns["unsafe"].values(), *turns["safe"].values()]
    top = max(counts, default=0) or 1
    for k in sorted({*turns["unsafe"], *turns["safe"]}, key=int):
        u, s = turns["unsafe"].get(k, 0), turns["safe"].get(k, 0)
        t.add_row(f"t{k}", f"{'#' * round(width * u / top)} {u}", f"{'#' * round(width * s / top)} {s}")
    offsets = doc["metrics"]["vs_risk_turn"]
    lines = [firing_summary(doc["metrics"])]
    if offsets:
        lines.append("unsafe vs the risk turn: " + ", ".join(f"{k} {v}" for k, v in sorted(offsets.items())))
    t.caption = "\n".join(line for line in lines if line)
    t.caption_justify = "left"
    return t


def stages_table(docs: list[dict[str, Any]]) -> Table:
    """Guard + model runs: which stage blocked each case (per context), and what the guard added."""
    t = Table(title="Guarded runs: blocking stage per case (first blocked turn)")
    for col in ("run", "context", "input", "output", "answered", "error", "guard calls/case", "guard s/case"):
        t.add_column(col)
    for doc in docs:
        for ctx, c in doc["by_context"].items():
            t.add_row(Text(doc["run_id"]), ctx, str(c.get("input", 0)), str(c.get("output", 0)),
                      str(c.get("none", 0)), str(c.get("error", 0)), f"{doc['guard_calls_per_case']:.2f}",
                      f"{doc['guard_latency_s_per_case']:.3f}")
    return t
