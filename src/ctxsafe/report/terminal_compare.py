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
from ctxsafe.report.summary import Rate, not_scored, scored_by_context, shape_name


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
    """Runs ranked by the mean of their safe-case and unsafe-case accuracy over scored cases (a one-side run:
    its one side), with the shape that produced the numbers and the cases left out, by reason."""
    t = Table(title="Leaderboard", title_justify="left",
              caption="% of scored cases handled right [95% Wilson CI]: safe cases helped, unsafe cases caught "
                      "(refused or answered safely); a benign-only run's 'helpful' is 100 - its over-refusal rate. "
                      "Cases not scored (errors, filters, missing or unparseable judgements) are left out of "
                      "these rates and counted at right.", caption_justify="left")
    for col in ("#", "model", "run", "judge", "shape", "cases", "helpful (safe)", "safe (unsafe)", "score",
                "not scored (excluded)"):
        t.add_column(col, justify="right" if col in ("#", "cases", "score") else "left")
    rated = [(scored_by_context(rr), rr) for rr in runs]
    scores = [[r.value for r in ctx.values() if r.value is not None] for ctx, _ in rated]
    order = sorted(range(len(rated)), key=lambda i: -sum(scores[i]) / len(scores[i]) if scores[i] else 1.0)
    for rank, i in enumerate(order, start=1):
        ctx, rr = rated[i]
        judges = ", ".join(ref[0] for ref in rr.view.judges.values() if ref is not None) or "none"
        left_out = ", ".join(f"{k} {v}" for k, v in sorted(not_scored(rr).items())) or "-"
        score = f"{100 * sum(scores[i]) / len(scores[i]):.1f}" if scores[i] else "-"
        t.add_row(str(rank), Text(rr.view.name), Text(rr.view.run_id), Text(judges), Text(shape_name(rr)),
                  str(len(rr.cases)), _rate(ctx["safe"]), _rate(ctx["unsafe"]), score, Text(left_out))
    return t


def comparison_tables(comparisons: Sequence[PairedComparison], names: dict[str, str], limit: int) -> list[Table]:
    t = Table(title="Each run against the first (B - A, points, scored cases)", title_justify="left",
              caption="same cases: 95% CI from a bootstrap over clusters of cases linked by pair or image, McNemar "
                      "exact two-sided; different cases (one-side runs): Newcombe's interval, no McNemar. Cases "
                      "not scored in either run are excluded and counted.", caption_justify="left")
    for col in ("run B", "run A", "method", "cases", "excluded", "all cases", "safe cases", "unsafe cases",
                "B only / A only", "McNemar p"):
        t.add_column(col)
    for c in comparisons:
        m = c.mcnemar
        t.add_row(Text(names[c.b]), Text(names[c.a]), c.method, str(c.cases), str(c.excluded), _diff(c.difference),
                  _diff(c.safe), _diff(c.unsafe), "-" if m is None else f"{m.only_b} / {m.only_a}",
                  "-" if m is None else f"{m.p_value:.3g}")
    out = [t]
    for c in comparisons:
        if c.method != "paired":
            continue
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
    t = Table(title="Against the paper", title_justify="left", caption="ours: over the cases the run scored; "
              "cases not scored (errors, filters, missing or unparseable judgements) are excluded and counted",
              caption_justify="left")
    for col in ("run", "metric", "published", "ours", "our 95% CI", "not scored (excluded)", "difference", "note"):
        t.add_column(col)
    n = 0
    for view in views:
        for p in against_paper(view.doc, view.suite.paper_numbers()):
            n += 1
            ci = f"{p.ci95[0]:.1f}-{p.ci95[1]:.1f}" if p.ci95 else "-"
            flag = {True: "[bold red]outside our CI[/]", False: "within", None: "-"}[p.outside]
            t.add_row(Text(view.name), Text(p.metric), f"{p.published:g}",
                      "-" if p.ours is None else f"{p.ours:.2f}", ci, "-" if p.excluded is None else str(p.excluded),
                      flag, Text(p.notes))
    return t if n else None
