"""The `ctxsafe` command line: each suite's commands live beside the suite; this file wires them up."""

from __future__ import annotations

from typing import Annotated

import typer

from ctxsafe.cli_common import DEFAULT_OUT, DEFAULT_STORE, OutOpt, StoreOpt, console, fail, user_errors
from ctxsafe.engine.store import RunStore
from ctxsafe.errors import CtxsafeError
from ctxsafe.judges.agreement_command import agreement
from ctxsafe.judges.eval_command import judge_eval
from ctxsafe.suites.mssbench.command import report_mssbench, run_mssbench
from ctxsafe.suites.mtmcs.command import is_mtmcs_run, report_mtmcs, run_mtmcs, show_run
from ctxsafe.suites.native.command import run_native

app = typer.Typer(help="Contextual-safety evaluation of multimodal LLMs.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
run_app = typer.Typer(help="Run a benchmark (resumes automatically when re-run with the same options).",
                      no_args_is_help=True)
app.add_typer(run_app, name="run")
run_app.command("mssbench")(run_mssbench)
run_app.command("mtmcs")(run_mtmcs)
run_app.command("native")(run_native)
app.command("show")(show_run)
app.command("judge-eval")(judge_eval)
app.command("agreement")(agreement)


@app.command("report")
def report(
    run_id: Annotated[str, typer.Argument(help="The run to report (see `ctxsafe runs`).")],
    judge: Annotated[str | None, typer.Option(help="Judge to score with (default: the latest used). MSSBench and "
                                              "native: a judge id; MTMCS: 'offline' or provider:model.")] = None,
    store: StoreOpt = DEFAULT_STORE,
    out: OutOpt = DEFAULT_OUT,
    by_category: Annotated[bool, typer.Option(help="Also print the per-category table.")] = False,
) -> None:
    """Recompute a run's metrics from the store alone (no model is called) and rewrite its results file."""
    if is_mtmcs_run(store, run_id):
        report_mtmcs(run_id, judge, store, out)
    else:
        report_mssbench(run_id, judge, store, out, by_category)


@app.command("runs")
def runs(store: StoreOpt = DEFAULT_STORE) -> None:
    """List the runs in the store."""
    if not store.exists():
        fail(CtxsafeError(f"no run store at {store}"))
    with user_errors():
        st = RunStore(store)
        try:
            for info in st.runs():
                console.print(f"{info.run_id}\t{info.status}\t{info.config.get('model_name')}\t"
                              f"{st.turn_count(info.run_id)} turns")
        finally:
            st.close()
