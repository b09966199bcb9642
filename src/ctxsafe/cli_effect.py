"""`ctxsafe effect REFERENCE CHANGED`: the paired effect of an ablation (or any change that keeps the
cases' ids) on correctness, from the store alone, with a t-interval over pairs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from ctxsafe.cli_common import DEFAULT_STORE, StoreOpt, console, user_errors
from ctxsafe.cli_views import open_store, run_info
from ctxsafe.engine.store import RunStore
from ctxsafe.errors import ConfigError
from ctxsafe.metrics import accuracy
from ctxsafe.metrics.effect import paired_effect
from ctxsafe.report.terminal import ci, pct


def _outcomes(st: RunStore, run_id: str, judge: str | None) -> tuple[str, list[Any], dict[str, str], str]:
    info, suite = run_info(st, run_id)
    ref = suite.results(st, run_id, info.config, judge, info.config.get("judges", [])).judges.get("scoring")
    if ref is None:
        raise ConfigError(f"run {run_id} has no scoring judgements to compare")
    cases = []  # read as columns a case at a time (`RunStore.case_facts`), not the whole run as objects
    for facts in st.case_facts(run_id, ref):
        if "correct_labels" not in facts.gold and "expected_yes" not in facts.gold:
            raise ConfigError(f"run {run_id}: the {suite.name} suite does not score cases as correct/wrong")
        cases.append(accuracy.score_facts(facts))
    return suite.name, cases, {c.id: c.outcome for c in cases}, str(info.config.get("ablation", "image"))


def effect(
    reference: Annotated[str, typer.Argument(help="The reference run (e.g. with the image).")],
    changed: Annotated[str, typer.Argument(help="The changed run on the same cases (e.g. --ablation text-only).")],
    judge: Annotated[str | None, typer.Option(help="Judge to read in both runs (default: each run's own).")] = None,
    store: StoreOpt = DEFAULT_STORE,
    out: Annotated[Path | None, typer.Option(help="Also write the effect as JSON here.")] = None,
) -> None:
    """Paired effect of CHANGED vs REFERENCE on correctness: overall (per pair) and for each side, with 95% CIs."""
    with user_errors(), open_store(Path(store)) as st:
        suite_a, cases, ref_out, abl_a = _outcomes(st, reference, judge)
        suite_b, _, changed_out, abl_b = _outcomes(st, changed, judge)
        if suite_a != suite_b:
            raise ConfigError(f"runs are of different suites ({suite_a}, {suite_b})")
        result = {"reference": {"run_id": reference, "ablation": abl_a},
                  "changed": {"run_id": changed, "ablation": abl_b}, **paired_effect(cases, ref_out, changed_out)}
    table = Table(title=f"Effect of {abl_b} vs {abl_a} on correctness ({suite_a}), percentage points")
    for col in ("scope", "units", "effect", "95% CI"):
        table.add_column(col, justify="left" if col == "scope" else "right")
    for scope in ("overall", "safe", "unsafe"):
        b = result[scope]
        table.add_row(scope + (" (per pair)" if scope == "overall" else ""), str(b["units"]), pct(b["effect"]),
                      ci(b["ci95"]) + (" (few)" if b.get("small") else ""))
    console.print(table)
    if result["cases_not_in_both"]:
        console.print(f"{result['cases_not_in_both']} case(s) of the reference are missing from the changed run")
    if out is not None:
        out.write_text(json.dumps(result, indent=2), encoding="utf-8")
