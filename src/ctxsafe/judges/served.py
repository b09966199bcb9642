"""Which model actually served a judge's verdicts, as the API said, for reports and results files.

Why: `openai:gpt-4o` is an alias that moves between dated snapshots, and a cached verdict may have
been given months ago by another one; a published number has to name the model that judged it.
"""

from __future__ import annotations

from typing import Any

from ctxsafe.engine.store import RunStore


def served_summary(store: RunStore, run_id: str, judge_id: str, prompt_version: str) -> list[dict[str, Any]]:
    """One entry per (served model, fingerprint): how many verdicts, and how many came from the cache.
    Empty for offline judges, which make no call."""
    out: dict[tuple[str | None, str | None], dict[str, Any]] = {}
    for model, fingerprint, cached, n in store.served_counts(run_id, judge_id, prompt_version):
        if cached is None and model is None and fingerprint is None:
            continue  # an offline verdict, or one stored before the served model was recorded
        e = out.setdefault((model, fingerprint), {"served_model": model, "fingerprint": fingerprint,
                                                  "verdicts": 0, "cached": 0})
        e["verdicts"] += n
        e["cached"] += n if cached else 0
    return list(out.values())


def served_line(judge_id: str, summary: list[dict[str, Any]]) -> str | None:
    """`judge X served by M (fingerprint F): N verdicts, K from the cache; ...`, or None when no call was made."""
    if not summary:
        return None
    parts = []
    for e in summary:
        who = e["served_model"] or "a model the API did not name"
        if e["fingerprint"]:
            who += f" (fingerprint {e['fingerprint']})"
        parts.append(f"{who}: {e['verdicts']} verdicts, {e['cached']} from the cache")
    return f"judge {judge_id} served by " + "; ".join(parts)


def with_served(store: RunStore, row: dict[str, Any]) -> dict[str, Any]:
    """The results document plus, per judge id, the served models of its verdicts (`judges_served`)."""
    served: dict[str, list[dict[str, Any]]] = {}
    for ref in (row.get("judges") or {}).values():
        if isinstance(ref, dict) and ref["id"] not in served:
            summary = served_summary(store, row["run_id"], ref["id"], ref["prompt_version"])
            if summary:
                served[ref["id"]] = summary
    row["judges_served"] = served
    return row
