"""`ctxsafe defenses`: the defenses table of stored runs, recomputed from the store alone.

A CLI module, not part of report/: it looks each run's suite up in the suite registry, a dependency the
report layer should not have."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from ctxsafe.cli_common import DEFAULT_OUT, DEFAULT_STORE, OutOpt, StoreOpt, console, user_errors
from ctxsafe.engine.store import RunStore
from ctxsafe.errors import ConfigError, CtxsafeError
from ctxsafe.report.defenses import RunUnits, compare, cost_table, difference_table
from ctxsafe.report.document import results_document
from ctxsafe.report.results import write_results
from ctxsafe.suites.registry import get_suite

SAME_CASES = ("suite", "data_sha", "setting", "params")
"""Run-identity fields two runs must share for their units to pair up: the exact cases (their digest)
and the setting or mode, played with the same decoding."""


def defenses(
    run_ids: Annotated[list[str], typer.Argument(help="The bare run first, then the defended runs of the same "
                                                 "cases (see `ctxsafe runs`).")],
    store: StoreOpt = DEFAULT_STORE,
    out: OutOpt = DEFAULT_OUT,
) -> None:
    """Recompute the defenses table (bare vs each defense, paired) from the store alone."""
    with user_errors():
        if not store.exists():
            raise CtxsafeError(f"no run store at {store}")
        st = RunStore(store)
        try:
            check_comparable(st, run_ids)
            doc = compare([units_of(st, run_id) for run_id in run_ids])
        finally:
            st.close()
    print_defenses_document(doc, out)


def print_defenses_document(doc: dict[str, Any], out: Path) -> None:
    """Write a defenses table beside the results files and print it."""
    path = write_results(out / f"defenses-{doc['reference']['run_id']}.json", doc)
    console.print(difference_table(doc, f"Defenses vs the bare model ({doc['reference']['model']}, run "
                                        f"{doc['reference']['run_id']}), paired on the same units"))
    console.print(cost_table(doc))
    console.print(f"defenses: {path}")


def check_comparable(st: RunStore, run_ids: list[str]) -> None:
    """Paired differences only mean something between runs of the same suite, data and setting."""
    first: dict[str, object] | None = None
    for run_id in run_ids:
        info = st.run(run_id)
        if info is None:
            raise ConfigError(f"no run {run_id!r} in {st.path}")
        these = {k: info.config.get(k) for k in SAME_CASES}
        if first is not None and these != first:
            differ = ", ".join(k for k in SAME_CASES if these[k] != first[k])
            raise ConfigError(f"run {run_id} is not on the same cases as {run_ids[0]} (differs in: {differ})")
        first = first or these


def units_of(st: RunStore, run_id: str) -> RunUnits:
    """A stored run reduced to paired units by its suite's own arithmetic."""
    info = st.run(run_id)
    if info is None:
        raise ConfigError(f"no run {run_id!r} in {st.path}")
    suite = get_suite(info.config.get("suite"))
    return suite.units(st, results_document(st, suite, run_id))
