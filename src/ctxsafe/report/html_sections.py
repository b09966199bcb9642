"""The static sections of the HTML report, rendered in Python with every value escaped.

Only numbers we computed and escaped text ever reach the markup; the dialogue browser's data goes
to the page as JSON and is inserted by the script as text.
"""

from __future__ import annotations

import io
import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from html import escape
from typing import Any

from rich.console import Console

from ctxsafe.judges.measured import judge_note
from ctxsafe.report.browser_data import OUTCOME_TAGS, RunRows
from ctxsafe.report.compare import PairedComparison
from ctxsafe.report.cost import money, total
from ctxsafe.report.plot_svg import Point, legend_html, safety_helpfulness_svg
from ctxsafe.report.published import against_paper
from ctxsafe.report.summary import Rate, by_context, by_key, cost_by_role, headline, shape_name, turn_labels


def pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}"


def rate_cell(r: Rate) -> str:
    ci = r.ci95
    interval = f" [{pct(ci[0])}-{pct(ci[1])}]" if ci else ""
    return f"{pct(r.value)}{interval} <small>n={r.n}</small>"


def table(head: Sequence[str], rows: Iterable[Sequence[str]], cls: str = "") -> str:
    """Cells are markup the caller built from escaped text; headers are escaped here."""
    th = "".join(f"<th>{escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="{cls}"><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>'


def judge_text(rr: RunRows, agreement: Mapping[tuple[str, str], list[str]]) -> str:
    """Each judge (role, id, prompt version) and its measured agreement with human labels: from the
    `--judge-eval` files given, else the project's own figures (`judges/measured.py`)."""
    parts = []
    for role, ref in rr.view.judges.items():
        if ref is None:
            continue
        lines = list(agreement.get(ref) or [judge_note(ref[0], ref[1])])
        if ref in rr.served:
            lines.append(rr.served[ref])
        note = "".join(f"<br><small>{escape(line)}</small>" for line in lines)
        parts.append(f"{escape(f'{role}: {ref[0]} ({ref[1]})')}{note}")
    return "<br>".join(parts) or "no judgements"


def headline_section(runs: Sequence[RunRows], agreement: Mapping[tuple[str, str], list[str]]) -> str:
    rows = []
    for rr in runs:
        h = headline(rr)
        paired = h["paired"]
        f = h["failures"]

        def cell(name: str, paired: dict[str, Any] = paired) -> str:
            c = paired.get(name) or {}
            return f"{c.get('n', '-')}"

        rows.append([escape(rr.view.run_id), escape(rr.view.name), escape(rr.view.suite.name),
                     escape(str(rr.view.doc.get("setting"))), escape(shape_name(rr)), judge_text(rr, agreement),
                     rate_cell(h["safe"]),
                     rate_cell(h["unsafe"]), rate_cell(h["all"]), str(paired.get("pairs", "-")), cell("both_right"),
                     cell("over_refusal"), cell("miss"), cell("both_wrong"), cell("not_scored"), str(f["error"]),
                     str(f["content-filter"]),
                     str(f["truncated"]), str(f["parse-fail"])])
    head = ["run", "model", "suite", "setting", "shape", "judge", "helpful: safe cases right %",
            "safe: unsafe cases right %",
            "all cases right %", "pairs", "both right", "over-refusal", "miss", "both wrong", "pairs not scored",
            "errors",
            "content filters", "truncated", "judge parse failures"]
    return (f'<section id="headline"><h2>Headline</h2>{table(head, rows, "headline")}'
            '<p class="note">95% Wilson intervals in brackets. Cases with an error, a content filter or a judge '
            "parse failure count as not right; each is counted on the right. A one-side run (unsafe-only, "
            "benign-only: see its shape) has no pairs: its unsafe cases are right when refused or answered safely, "
            "its benign cases when not refused (100 minus the over-refusal rate).</p>"
            f"{suite_tables(runs)}</section>")


def suite_tables(runs: Sequence[RunRows]) -> str:
    """Each suite's own tables (the benchmark's terms), rendered by rich, which escapes every character."""
    out = []
    by_suite: dict[str, list[RunRows]] = {}
    for rr in runs:
        by_suite.setdefault(rr.view.suite.name, []).append(rr)
    for name, group in by_suite.items():
        console = Console(record=True, width=170, file=io.StringIO(), color_system="truecolor")
        for renderable in group[0].view.suite.tables([rr.view.doc for rr in group], True):
            console.print(renderable)
        body = console.export_html(inline_styles=True, code_format="<pre class=\"rich\">{code}</pre>")
        out.append(f"<h3>{escape(name)}: the benchmark's own metrics</h3>{body}")
    return "".join(out)


def published_section(runs: Sequence[RunRows]) -> str:
    rows = []
    for rr in runs:
        for p in against_paper(rr.view.doc, rr.view.suite.paper_numbers()):
            ci = f"{p.ci95[0]:.1f}-{p.ci95[1]:.1f}" if p.ci95 else "-"
            flag = {True: '<b class="flag">outside our CI</b>', False: "within", None: "-"}[p.outside]
            ours = "-" if p.ours is None else f"{p.ours:.2f}"
            rows.append([escape(rr.view.name), escape(p.metric), f"{p.published:g}", ours, ci,
                         "-" if p.excluded is None else str(p.excluded), flag, escape(p.notes)])
    if not rows:
        return ('<section id="published"><h2>Against the paper</h2><p class="note">No published result matches '
                "these runs' model, setting and defense.</p></section>")
    head = ["run", "metric", "published", "ours", "our 95% CI", "not scored (excluded)", "difference", "note"]
    return (f'<section id="published"><h2>Against the paper</h2>{table(head, rows)}<p class="note">Ours: over the '
            "cases the run scored; cases with an error, a filter or no usable judgement are excluded and counted."
            "</p></section>")


def plot_section(runs: Sequence[RunRows]) -> str:
    points = []
    for rr in runs:
        ctx = by_context(rr)
        points.append(Point(f"{rr.view.name} ({rr.view.run_id})", ctx["safe"], ctx["unsafe"]))
    return (f'<section id="tradeoff"><h2>Safety vs. helpfulness</h2><div class="plot">'
            f"{safety_helpfulness_svg(points)}{legend_html(points)}</div></section>")


def _heat(value: float | None) -> str:
    if value is None:
        return "#eee"
    return f"hsl({120 * value:.0f}, 60%, 82%)"


def breakdown_section(runs: Sequence[RunRows], key: str, title: str, anchor: str) -> str:
    """Case accuracy per value of `key` (rows) and run (columns), coloured as a heatmap."""
    per_run = [by_key(rr, key) for rr in runs]
    values = sorted({v for table_ in per_run for v in table_})
    if key == "modality" and len(values) < 2:
        return ""
    rows = []
    for v in values:
        cells = [escape(v)]
        for t in per_run:
            r = t.get(v)
            cells.append("-" if r is None else f'<span class="heat" style="background:{_heat(r.value)}">'
                         f"{rate_cell(r)}</span>")
        rows.append(cells)
    head = [key, *(f"{rr.view.name} ({rr.view.run_id})" for rr in runs)]
    return (f'<section id="{anchor}"><h2>{escape(title)}</h2>{table(head, rows, "heatmap")}'
            '<p class="note">Share of cases handled right, with its 95% interval.</p></section>')


def turns_section(runs: Sequence[RunRows]) -> str:
    """For multi-turn suites: at each turn, how the per-turn judge labelled the replies."""
    blocks = []
    for rr in runs:
        dist = turn_labels(rr)
        if not dist:
            continue
        labels = sorted({name for c in dist.values() for name in c})
        rows = []
        for (ctx, turn), counts in dist.items():
            total = sum(counts.values())
            rows.append([escape(ctx), str(turn), str(total),
                         *(f"{counts[n]} <small>({pct(counts[n] / total)}%)</small>" for n in labels)])
        blocks.append(f"<h3>{escape(rr.view.name)} ({escape(rr.view.run_id)})</h3>"
                      f"{table(['context', 'turn', 'replies', *labels], rows)}")
    if not blocks:
        return ""
    return ('<section id="turns"><h2>Per turn</h2><p class="note">When the model noticed the risk (unsafe dialogues) '
            f"or over-refused (safe dialogues), turn by turn.</p>{''.join(blocks)}</section>")


def compare_section(comparisons: Sequence[PairedComparison], names: dict[str, str], limit: int = 200) -> str:
    if not comparisons:
        return ""
    rows = []
    for c in comparisons:
        m = c.mcnemar

        def d(x: Any) -> str:
            lo, hi = x.ci95
            return f"{100 * x.value:+.1f} [{100 * lo:+.1f}, {100 * hi:+.1f}]" if x.n else "-"

        rows.append([escape(names[c.b]), escape(names[c.a]), escape(c.method), str(c.cases), str(c.excluded),
                     d(c.difference), d(c.safe), d(c.unsafe), "-" if m is None else f"{m.only_b} / {m.only_a}",
                     "-" if m is None else f"{m.p_value:.3g}"])
    head = ["run B", "against run A", "method", "scored cases", "excluded (not scored)",
            "B - A, all cases (pts) [95% CI]", "safe cases", "unsafe cases", "B right only / A right only",
            "McNemar exact p"]
    dis = []
    for c in comparisons:
        for x in c.disagreements[:limit]:
            dis.append([escape(names[c.a]), escape(names[c.b]), escape(x.case_id), escape(x.context),
                        escape(x.category or ""), escape(x.a), escape(x.b)])
    more = sum(max(0, len(c.disagreements) - limit) for c in comparisons)
    tail = f'<p class="note">{more} more disagreements not listed.</p>' if more else ""
    return ('<section id="compare"><h2>Paired comparison</h2>'
            '<p class="note">Differences in points over the cases scored in both runs (cases with an error, a filter '
            "or no usable judgement are excluded and counted). Same cases (<i>paired</i>): intervals from a bootstrap "
            "that resamples clusters of cases linked by pair or image, McNemar's exact test on the discordant cases. "
            "One-side runs on different cases (<i>independent</i>): Newcombe's interval for the difference of two "
            "rates, no McNemar. A benign-only run's right share is 100 minus its over-refusal rate.</p>"
            f"{table(head, rows)}<h3>Cases where the runs disagree</h3>"
            f"{table(['run A', 'run B', 'case', 'context', 'category', 'A', 'B'], dis, 'disagree')}{tail}</section>")


def browser_section(runs: Sequence[RunRows]) -> str:
    def select(ident: str, label: str, options: Iterable[tuple[str, str]]) -> str:
        opts = "".join(f'<option value="{escape(v)}">{escape(t)}</option>' for v, t in options)
        return f'<label>{escape(label)} <select id="{ident}"><option value="">all</option>{opts}</select></label>'

    suites = sorted({rr.view.suite.name for rr in runs})
    cats = sorted({c.category or "(none)" for rr in runs for c in rr.cases})
    return ('<section id="browser"><h2>Dialogue browser</h2><div class="filters">'
            + select("f-suite", "suite", ((s, s) for s in suites))
            + select("f-run", "model", ((str(i), f"{rr.view.name} ({rr.view.run_id})") for i, rr in enumerate(runs)))
            + select("f-category", "category", ((c, c) for c in cats))
            + select("f-context", "context", (("safe", "safe"), ("unsafe", "unsafe")))
            + select("f-outcome", "outcome", OUTCOME_TAGS.items())
            + '<label>text <input id="f-text" type="search" placeholder="case id or reply text"></label></div>'
            '<div class="pager"><button id="prev" type="button">previous</button> <span id="page-info"></span> '
            '<button id="next" type="button">next</button></div><div id="pairs"></div></section>')


COST_NOTE = ("Cost: each recorded call's tokens at the price table's list price for the model its role called "
             "(cached calls included: what the run costs fresh). Unknown when a model has no price or a call's "
             "tokens were not recorded, with the priced part shown; never counted as 0.")


def config_section(runs: Sequence[RunRows]) -> str:
    blocks = []
    for rr in runs:
        roles = cost_by_role(rr)
        rows = [[escape(role), str(v.calls), str(v.input_tokens), str(v.output_tokens), escape(money(v)),
                 escape(", ".join(sorted(v.models)))] for role, v in [*roles.items(), ("total", total(roles))]]
        judged: Counter[str] = Counter(r["judge_id"] for rows_ in rr.rows_by_case.values() for r in rows_
                                       if r["judge_id"])
        jrows = [[escape(j), str(n)] for j, n in sorted(judged.items())]
        blocks.append(
            f"<details><summary>{escape(rr.view.name)} ({escape(rr.view.run_id)}), status "
            f"{escape(rr.view.info.status)}</summary>"
            f"{table(['role', 'calls', 'input tokens', 'output tokens', 'cost (USD)', 'priced as'], rows, 'cost')}"
            f"{table(['judge', 'judgements'], jrows)}"
            f'<p class="note">{escape(COST_NOTE)}</p>'
            f"<pre>{escape(json.dumps(rr.view.info.config, indent=2, sort_keys=True))}</pre></details>")
    return f'<section id="config"><h2>Run configuration</h2>{"".join(blocks)}</section>'
