"""The commands that read the store, for every suite: `show` and `list` (`report`, `runs`, `compare` and
`export` are in `cli_reports`).

`report` and `show` find a run's suite from its stored configuration, never by probing.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from ctxsafe.cli_common import DEFAULT_STORE, StoreOpt, console, user_errors
from ctxsafe.engine.store import RunInfo, RunStore
from ctxsafe.errors import ConfigError
from ctxsafe.guards.judge import VERDICT_JUDGE
from ctxsafe.inert import inert_text
from ctxsafe.providers.reference import REFERENCE_MODELS
from ctxsafe.providers.specs import OPENAI_COMPATIBLE_DEFAULTS
from ctxsafe.report.document import results_document
from ctxsafe.report.show import pair_views
from ctxsafe.suites.pairs import shown_pairs
from ctxsafe.suites.protocol import Judgements, Suite
from ctxsafe.suites.registry import SUITES, get_suite

ReportJudgeOpt = Annotated[str | None, typer.Option(
    "--judge", help="Judge to report: 'offline', provider:model, or a judge id (default: the run's own).")]


@contextmanager
def open_store(path: Path) -> Iterator[RunStore]:
    """The store, read-only: these commands never create or change it (a missing one is an error)."""
    st = RunStore(path, readonly=True)
    try:
        yield st
    finally:
        st.close()


def run_info(st: RunStore, run_id: str) -> tuple[RunInfo, Suite]:
    """The run and its suite, named by the run's stored configuration."""
    info = st.run(run_id)
    if info is None:
        raise ConfigError(f"no run {run_id!r} in {st.path}")
    return info, get_suite(info.config.get("suite"))


def print_pairs(st: RunStore, suite: Suite, row: dict[str, Any], limit: int | None = None,
                case_ids: list[str] | None = None, context: str | None = None) -> None:
    """The first `limit` pairs of a run (or the cases named), twins side by side, with the judges the
    results document used."""
    run_id = row["run_id"]
    # the run streams past a chunk at a time; only the cases shown, and their turns and verdicts, are held
    cases, found = shown_pairs(st.iter_cases(run_id), limit, set(case_ids or ()), context)
    missing = sorted(set(case_ids or ()) - found)
    if missing:
        raise ConfigError(f"run {run_id} has no case(s) {', '.join(missing)}")
    ids = [c.id for c in cases]
    few = len(ids) <= 900  # one SQL variable per case id; more (`--limit 0`) reads the whole run, as it shows it

    def verdicts(judge_id: str, version: str) -> Judgements:
        return st.judgements_for(run_id, judge_id, version, ids) if few else st.judgements(run_id, judge_id, version)

    judgements: dict[str, Judgements] = {
        ref["id"]: verdicts(ref["id"], ref["prompt_version"]) for ref in row["judges"].values() if ref is not None}
    for judge_id, version in st.judges_of(run_id):  # a guarded run's guard verdicts, shown under their sub-steps
        if judge_id == VERDICT_JUDGE:
            judgements.setdefault(VERDICT_JUDGE, {}).update(verdicts(judge_id, version))
    on_error = str(((row.get("config") or {}).get("policy") or {}).get("on_error", "stop"))
    console.print(inert_text(f"{row['model']} ({row['suite']}, {row.get('setting')}), run {run_id}", style="bold"))
    served = st.served_steps(run_id, ids if few else None)
    turns = st.turns_for(run_id, ids) if few else st.turns(run_id)
    for view in pair_views(suite, cases, turns, judgements, on_error, served):
        console.print(view)


def show(
    run_id: Annotated[str, typer.Argument(help="A run of any suite (see `ctxsafe runs`).")],
    case: Annotated[list[str] | None, typer.Option("--case", help="Case id to show, repeatable.")] = None,
    limit: Annotated[int, typer.Option(help="Show the first N pairs (0 = all).")] = 10,
    context: Annotated[str | None, typer.Option(help="Only safe or unsafe twins.")] = None,
    judge: ReportJudgeOpt = None,
    store: StoreOpt = DEFAULT_STORE,
) -> None:
    """Print a run's cases in full: images by path and sha256, every turn and inner step, every judge's
    label with its explanation, and the twin beside each case."""
    with user_errors():
        if context not in (None, "safe", "unsafe"):
            raise ConfigError("--context must be safe or unsafe")
        with open_store(store) as st:
            _, suite = run_info(st, run_id)
            row = results_document(st, suite, run_id, judge)
            print_pairs(st, suite, row, limit or None, case, context)


def list_things() -> None:
    """Name the suites (with their settings and options), the providers, and the defenses."""
    from ctxsafe.policies.registry import DEFENSES

    t = Table(title="Suites (`ctxsafe run SUITE`)", title_justify="left")
    for col in ("suite", "shape", "settings", "own options", "about"):
        t.add_column(col)
    for s in SUITES.values():
        settings = "\n".join(f"{k}: {v}" for k, v in s.settings.items())
        own = ", ".join(f"--{o.name.rstrip('_').replace('_', '-')}" for o in s.options) or "-"
        t.add_row(s.name, s.shape, settings, own, s.summary)
    console.print(t)
    p = Table(title="Providers (`--model provider:model`)", title_justify="left")
    p.add_column("provider")
    p.add_column("reaches")
    for name, (url, key_env) in OPENAI_COMPATIBLE_DEFAULTS.items():
        p.add_row(name, f"{url or 'api.openai.com (or OPENAI_BASE_URL)'}; key from ${key_env}")
    p.add_row("ref", "offline baselines: " + ", ".join(f"ref:{k}" for k in REFERENCE_MODELS))
    console.print(p)
    d = Table(title="Defenses (`--defense NAME`, repeatable; see docs/defenses.md)", title_justify="left")
    for col in ("defense", "suites", "about"):
        d.add_column(col)
    for name, factory in DEFENSES.items():
        d.add_row(name, "all", first_line(type(factory())))
    for s in SUITES.values():
        for name, factory in s.defenses.items():
            d.add_row(name, s.name, first_line(type(factory())))
    console.print(d)


def first_line(obj: object) -> str:
    return (inspect.getdoc(obj) or "").strip().split("\n")[0]
