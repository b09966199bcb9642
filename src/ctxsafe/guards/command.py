"""`ctxsafe guards RUN_ID`: a bare run's guard results, rebuilt from the store without calling anything."""

from __future__ import annotations

from typing import Annotated

import typer

from ctxsafe.cli_common import DEFAULT_OUT, DEFAULT_STORE, OutOpt, StoreOpt, console, fail, user_errors
from ctxsafe.engine.store import RunStore
from ctxsafe.errors import CtxsafeError
from ctxsafe.guards.report import guard_document, show_guards


def guards(
    run_id: Annotated[str, typer.Argument(help="A bare run that was evaluated with --guard (see `ctxsafe runs`).")],
    store: StoreOpt = DEFAULT_STORE,
    out: OutOpt = DEFAULT_OUT,
) -> None:
    """The guards of a run, from the store alone: block rates of each guard as a classifier, the per-turn
    firing plot, and which stage blocked each case in the guarded runs of the same model."""
    if not store.exists():
        fail(CtxsafeError(f"no run store at {store}"))
    with user_errors():
        st = RunStore(store)
        try:
            doc = guard_document(st, run_id)
        finally:
            st.close()
        if not doc["classifier"] and not doc["guarded_runs"]:
            raise CtxsafeError(f"run {run_id} has no guard results; run it with --guard")
        show_guards(console, doc, out)
