"""The guard results of a bare run, rebuilt from the store alone: the guards table, the per-turn firing
plot and the blocking stages of the guarded runs of the same model on the same cases. Printed after a
run with `--guard` and by `ctxsafe guards RUN_ID`, and written as `guards-<run_id>.json` (the data the
HTML report reads)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console

from ctxsafe.engine.session import display_name
from ctxsafe.engine.store import RunStore
from ctxsafe.errors import CtxsafeError
from ctxsafe.guards.attribution import attribution
from ctxsafe.guards.classify import classify
from ctxsafe.guards.tables import firing_plot, guards_table, stages_table
from ctxsafe.report.results import write_results


def guard_document(store: RunStore, run_id: str) -> dict[str, Any]:
    """Every guard judged over `run_id` as a classifier, and the guarded runs of its model on its cases."""
    info = store.run(run_id)
    if info is None:
        raise CtxsafeError(f"no run {run_id} in the store")
    if str(info.config.get("defense", "")).startswith("guard-"):
        raise CtxsafeError(f"run {run_id} is a guarded run; give the bare run of its model (see `ctxsafe runs`)")
    model = display_name(info.config)
    judges = [(j, v) for j, v in store.judges_of(run_id) if j.startswith("guard:")]
    ids = store.case_ids(run_id)
    others = [other for other in store.runs()
              if str(other.config.get("defense", "")).startswith("guard-")
              and other.config.get("model_name") == info.config.get("model_name")
              and store.case_ids(other.run_id) == ids]
    # The cases are read only for a run that has guard verdicts: a plain report never loads them all.
    cases = store.cases(run_id) if judges or others else []
    classifier = []
    for judge_id, version in judges:
        _, view, target = [*version.split("|"), "?", "?"][:3]
        classifier.append({"guard": judge_id.removeprefix("guard:"), "view": view, "target": target,
                           "model": model, "run_id": run_id, "judge_id": judge_id, "prompt_version": version,
                           "metrics": classify(cases, store.judgements(run_id, judge_id, version))})
    guarded = [{**attribution(store, other.run_id, cases), "model": display_name(other.config),
                "defense": str(other.config.get("defense", ""))} for other in others]
    return {"run_id": run_id, "model": model, "classifier": classifier, "guarded_runs": guarded}


def guard_documents(store: RunStore, run_ids: list[str]) -> list[dict[str, Any]]:
    """For the HTML report: the guard documents of the bare runs among `run_ids` that a guard classified or
    that have guarded runs, and the blocking stages of guarded runs named without their bare run."""
    docs = []
    guarded = []
    for run_id in run_ids:
        info = store.run(run_id)
        if info is None:
            continue
        if str(info.config.get("defense", "")).startswith("guard-"):
            guarded.append(info)
            continue
        doc = guard_document(store, run_id)
        if doc["classifier"] or doc["guarded_runs"]:
            docs.append(doc)
    shown = {g["run_id"] for d in docs for g in d["guarded_runs"]}
    for info in guarded:
        if info.run_id not in shown:
            stages = {**attribution(store, info.run_id, store.cases(info.run_id)), "model": display_name(info.config),
                      "defense": str(info.config.get("defense"))}
            docs.append({"run_id": info.run_id, "model": display_name(info.config), "classifier": [],
                         "guarded_runs": [stages]})
    return docs


def show_guards(console: Console, doc: dict[str, Any], out: Path) -> Path:
    """Print one bare run's guard document and write it beside the results; returns the file written."""
    path = write_results(out / f"guards-{doc['run_id']}.json", doc)
    if doc["classifier"]:
        console.print(guards_table(doc["classifier"], "Guards as classifiers: a case is blocked when the guard "
                                                      "flags any of its turns"))
        for g in doc["classifier"]:
            if any(len(c["verdicts"]) > 1 for c in g["metrics"]["cases"]):
                console.print(firing_plot(g))
    if doc["guarded_runs"]:
        console.print(stages_table(doc["guarded_runs"]))
    console.print(f"guards: {path}")
    return path


def print_guards(console: Console, rows: list[dict[str, Any]], store_path: Path, out: Path) -> None:
    """After a run with `--guard`: the guard document of each bare run that the guards classified."""
    store = RunStore(store_path)
    try:
        docs = [guard_document(store, row["run_id"]) for row in rows if "guards" in row]
    finally:
        store.close()
    for doc in docs:
        show_guards(console, doc, out)
