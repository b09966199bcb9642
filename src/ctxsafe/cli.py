"""The `ctxsafe` command line: generic verbs over every registered suite; this file wires them up."""

from __future__ import annotations

import typer

from ctxsafe.cli_convert import convert, schema
from ctxsafe.cli_effect import effect
from ctxsafe.cli_reports import compare, export, report, runs
from ctxsafe.cli_run import run_command
from ctxsafe.cli_views import list_things, show
from ctxsafe.guards.command import guards
from ctxsafe.judges.agreement_command import agreement
from ctxsafe.judges.eval_command import judge_eval
from ctxsafe.report.defenses_command import defenses
from ctxsafe.suites.registry import SUITES

app = typer.Typer(help="Contextual-safety evaluation of multimodal LLMs.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
run_app = typer.Typer(help="Run a benchmark suite (resumes automatically when re-run with the same options).",
                      no_args_is_help=True)
app.add_typer(run_app, name="run")
for _suite in SUITES.values():
    run_app.command(_suite.name, help=_suite.summary)(run_command(_suite))
app.command("report")(report)
app.command("show")(show)
app.command("runs")(runs)
app.command("compare")(compare)
app.command("export")(export)
app.command("list")(list_things)
app.command("convert")(convert)
app.command("schema")(schema)
app.command("effect")(effect)
app.command("judge-eval")(judge_eval)
app.command("agreement")(agreement)
app.command("guards")(guards)
app.command("defenses")(defenses)
