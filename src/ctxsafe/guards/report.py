"""After a run with `--guard`: the guards table, the per-turn firing plot and the blocking stages, printed
and written as `guards-<run_id>.json` beside the results (the data the HTML report reads)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console

from ctxsafe.engine.store import RunStore
from ctxsafe.guards.attribution import attribution
from ctxsafe.guards.tables import firing_plot, guards_table, stages_table
from ctxsafe.report.results import write_results


def guard_documents(store: RunStore, rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per bare run: its guards as classifiers and the guarded runs of the same model with their stages."""
    docs: dict[str, dict[str, Any]] = {}
    for row in rows:
        if "guards" in row:
            docs[row["run_id"]] = {"run_id": row["run_id"], "model": row["model"], "classifier": row["guards"],
                                   "guarded_runs": []}
    for row in rows:
        info = store.run(row["run_id"])
        if info is None or not str(info.config.get("defense", "")).startswith("guard-"):
            continue
        bare = next((d for d in docs.values() if d["model"] == str(info.config.get("model_name"))), None)
        if bare is not None:
            stages = attribution(store, row["run_id"], store.cases(row["run_id"]))
            bare["guarded_runs"].append({**stages, "model": row["model"], "defense": info.config["defense"]})
    return docs


def print_guards(console: Console, rows: list[dict[str, Any]], store_path: Path, out: Path, title: str) -> None:
    store = RunStore(store_path)
    try:
        docs = guard_documents(store, rows)
    finally:
        store.close()
    for run_id, doc in docs.items():
        path = write_results(out / f"guards-{run_id}.json", doc)
        console.print(guards_table(doc["classifier"], f"Guards as classifiers on {title}: a case is blocked when "
                                                      "the guard flags any of its turns"))
        for g in doc["classifier"]:
            if max((len(c["verdicts"]) for c in g["metrics"]["cases"]), default=0) > 1 or \
                    g["metrics"]["first_firing_turn"]["unsafe"]:
                console.print(firing_plot(g))
        if doc["guarded_runs"]:
            console.print(stages_table(doc["guarded_runs"]))
        console.print(f"guards: {path}")
