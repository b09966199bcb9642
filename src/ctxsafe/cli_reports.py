"""The commands that look back at finished runs: `report` (terminal and HTML), `compare`, `export`, `runs`.

Everything is recomputed from the store alone; no model or judge is called.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from ctxsafe.cli_common import (
    DEFAULT_OUT,
    DEFAULT_STORE,
    OutOpt,
    StoreOpt,
    console,
    exit_for,
    say_not_judged,
    user_errors,
)
from ctxsafe.cli_run import print_rows
from ctxsafe.cli_views import ReportJudgeOpt, open_store
from ctxsafe.engine.session import display_name
from ctxsafe.errors import ConfigError
from ctxsafe.exit_codes import ExitCode
from ctxsafe.guards.report import guard_documents, show_guards
from ctxsafe.inert import inert_text
from ctxsafe.judges.served import with_served
from ctxsafe.providers.pricing import PriceTable
from ctxsafe.report.browser_data import RunRows
from ctxsafe.report.compare import compare_runs
from ctxsafe.report.cost import cost_document, cost_table
from ctxsafe.report.document import with_problems
from ctxsafe.report.export import FORMATS, export_format, store_rows, write_rows
from ctxsafe.report.html_page import build_html, write_html
from ctxsafe.report.judge_agreement import load_agreement
from ctxsafe.report.results import write_results
from ctxsafe.report.run_view import RunView, load_view
from ctxsafe.report.summary import headline_score, view_cost
from ctxsafe.report.terminal_compare import comparison_tables, leaderboard, published_table
from ctxsafe.suites.registry import get_suite

RunsArg = Annotated[list[str], typer.Argument(help="One or more run ids (see `ctxsafe runs`).")]
HtmlOpt = Annotated[Path | None, typer.Option("--html", help="Also write a self-contained HTML report to this file.")]
ImagesOpt = Annotated[list[Path] | None, typer.Option(
    "--images", help="Folder to look for the runs' image files in (repeatable); the run's own local data folder "
    "and bundled demo data are searched anyway.")]
MaxImagesOpt = Annotated[int, typer.Option(help="Embed at most this many image thumbnails in the HTML report.")]
PricesOpt = Annotated[Path | None, typer.Option(
    "--prices", help='JSON price table overriding the built-in list prices: {"model-prefix": {"input": USD per '
    'Mtok, "output": USD per Mtok}}; a model with no price has an unknown cost, never 0.')]
JudgeEvalOpt = Annotated[list[Path] | None, typer.Option(
    "--judge-eval", help="A `ctxsafe judge-eval --json` file (repeatable): the judge's measured agreement with "
    "human labels is shown beside the numbers it produced.")]


def _write_html(guards: list[dict[str, Any]], path: Path, runs: list[RunRows], images: list[Path] | None,
                max_images: int, judge_eval: list[Path] | None) -> None:
    write_html(path, build_html(runs, images or [], max_images, agreement=load_agreement(judge_eval or []),
                                guards=guards))
    console.print(f"HTML report: {path}")


def report(
    run_ids: RunsArg,
    judge: ReportJudgeOpt = None,
    store: StoreOpt = DEFAULT_STORE,
    out: OutOpt = DEFAULT_OUT,
    by_category: Annotated[bool, typer.Option(help="Also print per-category tables.")] = False,
    html: HtmlOpt = None,
    images: ImagesOpt = None,
    max_images: MaxImagesOpt = 2000,
    judge_eval: JudgeEvalOpt = None,
    prices: PricesOpt = None,
) -> None:
    """Recompute runs' metrics from the store alone (no model is called), rewrite their results files, and
    optionally write one HTML report with a dialogue browser for all of them."""
    with user_errors(), open_store(store) as st:
        table = PriceTable.load(prices)
        # The tables need each run's document and costs only, computed while the run streams past; every
        # case's rows are built for the HTML report alone (a 100,000-case report in flat memory).
        views = [load_view(st, rid, judge, table, suites=get_suite) for rid in run_ids]
        costs = [(view.run_id, view_cost(view)) for view in views]
        for view, (_, roles) in zip(views, costs, strict=True):
            with_served(st, with_problems(st, view.doc))
            view.doc["cost"] = cost_document(roles)
            view.doc["results_file"] = str(write_results(out / f"{view.run_id}.json", view.doc))
        for suite_name in dict.fromkeys(view.suite.name for view in views):
            group = [view.doc for view in views if view.suite.name == suite_name]
            print_rows(get_suite(suite_name), group, by_category)
        paper = published_table(views)
        if paper is not None:
            console.print(paper)
        console.print(cost_table(costs))
        guards = guard_documents(st, [view.run_id for view in views])
        for doc in guards:  # the guards tables of runs a guard classified, and guarded runs' blocking stages
            show_guards(console, doc, out)
        if html is not None:
            _write_html(guards, html, [RunRows.load(view) for view in views], images, max_images, judge_eval)
    refuse_unjudged(views)
    exit_for([view.doc for view in views])


def refuse_unjudged(views: list[RunView]) -> None:
    """A run no judge ever scored has no results, only zeros: say so and exit 3 instead of a silent 0."""
    if say_not_judged([view.doc for view in views], then=" and there is nothing to report"):
        raise typer.Exit(ExitCode.FINISHED_WITH_ERRORS)


def compare(
    run_ids: RunsArg,
    judge: ReportJudgeOpt = None,
    store: StoreOpt = DEFAULT_STORE,
    disagreements: Annotated[int, typer.Option(help="List at most this many disagreeing cases per comparison.")] = 20,
    html: HtmlOpt = None,
    images: ImagesOpt = None,
    max_images: MaxImagesOpt = 2000,
    judge_eval: JudgeEvalOpt = None,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap (results are reproducible).")] = 0,
    prices: PricesOpt = None,
) -> None:
    """Compare runs of one suite on the same cases: a leaderboard, each run against the first (paired
    difference with a pair/image-clustered bootstrap CI, McNemar's exact test), the cases where they
    disagree, and the papers' published numbers beside each run's own."""
    with user_errors():
        if len(run_ids) < 2:
            raise ConfigError("compare needs at least two runs")
        with open_store(store) as st:  # open while the HTML report counts each run's judgements
            table = PriceTable.load(prices)
            runs = [RunRows.load(load_view(st, rid, judge, table, suites=get_suite)) for rid in run_ids]
            comparisons = compare_runs(runs, seed)
            console.print(leaderboard(runs))
            for t in comparison_tables(comparisons, {rr.view.run_id: rr.view.name for rr in runs}, disagreements):
                console.print(t)
            paper = published_table([rr.view for rr in runs])
            if paper is not None:
                console.print(paper)
            if html is not None:
                _write_html(guard_documents(st, run_ids), html, runs, images, max_images, judge_eval)


def export(
    run_ids: Annotated[list[str] | None, typer.Argument(help="Runs to export (default: every run in the store).")]
    = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="File to write: .csv, .jsonl or .parquet.")] =
    Path("cases.csv"),
    fmt: Annotated[str | None, typer.Option("--format", help=f"One of {', '.join(FORMATS)} (default: from the "
                                             "file's suffix).")] = None,
    judge: ReportJudgeOpt = None,
    store: StoreOpt = DEFAULT_STORE,
) -> None:
    """Write one row per case, step and judge role (case, context, pair, category, turn, reply, label,
    correctness, error, tokens, ...) for notebooks and spreadsheets."""
    with user_errors():
        kind = export_format(output, fmt)
        with open_store(store) as st:
            n = write_rows(store_rows(st, run_ids, judge, suites=get_suite), output, kind)
    console.print(f"{n} rows written to {output} ({kind})")


def runs(
    store: StoreOpt = DEFAULT_STORE,
    suite: Annotated[str | None, typer.Option(help="Only runs of this suite.")] = None,
    model: Annotated[str | None, typer.Option(help="Only runs whose model name contains this text.")] = None,
    status: Annotated[str | None, typer.Option(help="Only runs with this status (e.g. finished, interrupted).")]
    = None,
    defense: Annotated[str | None, typer.Option(help="Only runs with this defense ('bare' for none).")] = None,
    score: Annotated[bool, typer.Option(help="Compute each run's headline score from the store.")] = True,
) -> None:
    """List the runs in the store as a table: suite, data, model, defense, judge, status, date, headline score."""
    with user_errors(), open_store(store) as st:
        t = Table(title=inert_text(f"Runs in {store}"), title_justify="left",
                  caption="score: mean of safe-twin and unsafe-twin accuracy, % (cases not scored count as wrong); "
                          "a run without pairs shows its shape's headline rate instead, named",
                  caption_justify="left")
        for col in ("run id", "suite", "data", "setting", "model", "defense", "judge", "status", "date", "cases",
                    "steps", "score"):
            t.add_column(col, no_wrap=col in ("run id", "date", "status"), min_width=20 if col == "status" else None,
                         justify="right" if col in ("cases", "steps", "score") else "left")
        for info in st.runs():
            cfg = info.config
            true_status = info.status
            if true_status == "running" and not st.is_locked(info.run_id):
                true_status = "interrupted"  # marked running, but no process holds its lock
            if suite and cfg.get("suite") != suite:
                continue
            if model and model.lower() not in display_name(cfg).lower():
                continue
            if status and true_status != status:
                continue
            if defense and cfg.get("defense", "bare") != defense:
                continue
            judges = cfg.get("judges") or [j for j, _ in st.judges_of(info.run_id)]
            headline = "-"
            n_cases = str(st.case_count(info.run_id))
            if score:
                view = load_view(st, info.run_id, suites=get_suite)
                headline = headline_score(view.doc, view.cases, view.outcomes)
            t.add_row(inert_text(info.run_id), inert_text(str(cfg.get("suite"))), inert_text(str(cfg.get("data"))),
                      inert_text(str(cfg.get("setting"))), inert_text(str(cfg.get("model_name"))),
                      inert_text(str(cfg.get("defense", "bare"))), inert_text(", ".join(map(str, judges)) or "-"),
                      inert_text(true_status),
                      time.strftime("%Y-%m-%d %H:%M", time.gmtime(info.created)), n_cases,
                      str(st.turn_count(info.run_id)), headline)
        console.print(t)
