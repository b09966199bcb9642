"""`ctxsafe compare` in the terminal: the leaderboard, each run against the first, the disagreements,
and the papers' numbers. Every untrusted string goes into a `Text`, never parsed as rich markup."""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table
from rich.text import Text

from ctxsafe.metrics.paired_tests import Difference
from ctxsafe.report.browser_data import RunRows
from ctxsafe.report.compare import PairedComparison
from ctxsafe.report.published import against_paper
from ctxsafe.report.run_view import RunView
from ctxsafe.report.summary import Rate, by_context, failure_counts, twin_score


def _rate(r: Rate) -> str:
    if r.value is None or r.ci95 is None:
        return "-"
    return f"{100 * r.value:.1f} [{100 * r.ci95[0]:.1f}-{100 * r.ci95[1]:.1f}]"


def _diff(d: Difference) -> str:
    if not d.n:
        return "-"
    lo, hi = d.ci95
    return f"{100 * d.value:+.1f} [{100 * lo:+.1f}, {100 * hi:+.1f}]"


def leaderboard(runs: Sequence[RunRows]) -> Table:
    """Runs ranked by the mean of safe-twin and unsafe-twin accuracy."""
    t = Table(title="Leaderboard", title_justify="left",
              caption="% of twins handled right [95% Wilson CI]; cases not scored count as wrong",
              caption_justify="left")
    for col in ("#", "model", "run", "judge", "cases", "helpful (safe)", "safe (unsafe)", "score", "not scored"):
        t.add_column(col, justify="right" if col in ("#", "cases", "score") else "left")
    scored = [(twin_score(rr.cases, rr.view.outcomes), rr) for rr in runs]
    scored.sort(key=lambda x: -1.0 if x[0] is None else -x[0])
    for i, (score, rr) in enumerate(scored, start=1):
        ctx = by_context(rr)
        judges = ", ".join(ref[0] for ref in rr.view.judges.values() if ref is not None) or "none"
        fails = ", ".join(f"{k} {v}" for k, v in failure_counts(rr).items() if v) or "-"
        t.add_row(str(i), Text(rr.view.name), Text(rr.view.run_id), Text(judges), str(len(rr.cases)),
                  _rate(ctx["safe"]), _rate(ctx["unsafe"]), "-" if score is None else f"{100 * score:.1f}", Text(fails))
    return t


def comparison_tables(comparisons: Sequence[PairedComparison], names: dict[str, str], limit: int) -> list[Table]:
    t = Table(title="Each run against the first (B - A, points, same cases)", title_justify="left",
              caption="95% CI: bootstrap over clusters of cases linked by pair or image; McNemar: exact, two-sided",
              caption_justify="left")
    for col in ("run B", "run A", "cases", "all cases", "safe twins", "unsafe twins", "B only / A only", "McNemar p"):
        t.add_column(col)
    for c in comparisons:
        m = c.mcnemar
        t.add_row(Text(names[c.b]), Text(names[c.a]), str(c.cases), _diff(c.difference), _diff(c.safe),
                  _diff(c.unsafe), f"{m.only_b} / {m.only_a}", f"{m.p_value:.3g}")
    out = [t]
    for c in comparisons:
        d = Table(title=f"Disagreements: {names[c.b]} vs {names[c.a]} ({len(c.disagreements)} cases"
                  + (f", first {limit}" if len(c.disagreements) > limit else "") + ")", title_justify="left")
        for col in ("case", "context", "category", "A", "B"):
            d.add_column(col)
        for x in c.disagreements[:limit]:
            d.add_row(Text(x.case_id), x.context, Text(x.category or ""), Text(x.a), Text(x.b))
        out.append(d)
    return out


def published_table(views: Sequence[RunView]) -> Table | None:
    """The papers' numbers beside each run's own; None when no published result matches."""
    t = Table(title="Against the paper", title_justify="left")
    for col in ("run", "metric", "published", "ours", "our 95% CI", "difference", "note"):
        t.add_column(col)
    n = 0
    for view in views:
        for p in against_paper(view.doc):
            n += 1
            ci = f"{p.ci95[0]:.1f}-{p.ci95[1]:.1f}" if p.ci95 else "-"
            flag = {True: "[bold red]outside our CI[/]", False: "within", None: "-"}[p.outside]
            t.add_row(Text(view.name), Text(p.metric), f"{p.published:g}",
                      "-" if p.ours is None else f"{p.ours:.2f}", ci, flag, Text(p.notes))
    return t if n else None
