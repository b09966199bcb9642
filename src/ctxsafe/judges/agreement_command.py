"""`ctxsafe agreement RUN_ID`: how two or more judges that scored the same run agree, and where not.

Why: when no human labels exist for a run, agreement between independent judges is the next best
check, and the cases they disagree on are exactly the ones worth a human look. Judges are compared
only within one label space (the part of the judge id before ':', e.g. mss4, mtmcs-score).
"""

from __future__ import annotations

import json
from itertools import combinations
from pathlib import Path
from typing import Annotated, Any

import typer

from ctxsafe.cli_common import DEFAULT_STORE, StoreOpt, console, user_errors
from ctxsafe.engine.store import RunStore
from ctxsafe.errors import ConfigError
from ctxsafe.schema import Judgement

LABEL_SPACES: dict[str, tuple[int, int]] = {  # family -> (lowest label, number of labels)
    "mss4": (0, 4), "mtmcs-score": (1, 5), "mtmcs-turn": (0, 3), "mss-yesno": (0, 2),
}


def family(judge_id: str) -> str:
    return judge_id.split(":", 1)[0]


def _usable(j: Judgement | None) -> bool:
    return j is not None and j.outcome == "ok" and j.parse_status == "ok" and j.label is not None


def compare(store: RunStore, run_id: str, judges: list[tuple[str, str]]) -> dict[str, Any]:
    """Pairwise Cohen's kappa (quadratic too for 1-5 scores), Fleiss' kappa, and the disagreements,
    over the steps every judge of the family scored with a usable verdict."""
    from ctxsafe.metrics import agreement as ag  # numpy: loaded when a command computes, not at start-up

    out: dict[str, Any] = {}
    by_family: dict[str, list[tuple[str, str]]] = {}
    for j in judges:
        by_family.setdefault(family(j[0]), []).append(j)
    for fam, members in sorted(by_family.items()):
        if len(members) < 2 or fam not in LABEL_SPACES:
            continue
        low, k = LABEL_SPACES[fam]
        verdicts = [store.judgements(run_id, jid, ver) for jid, ver in members]
        keys = sorted(set().union(*(v.keys() for v in verdicts)))
        common = [key for key in keys if all(_usable(v.get(key)) for v in verdicts)]
        labels = {key: [int(v[key].label) - low for v in verdicts] for key in common}  # type: ignore[arg-type]
        names = [f"{jid} ({ver})" for jid, ver in members]
        pairs = []
        for a, b in combinations(range(len(members)), 2):
            cm = ag.confusion([labels[c][a] for c in common], [labels[c][b] for c in common], k)
            pair: dict[str, Any] = {"a": names[a], "b": names[b], "n": len(common), "agreement": ag.accuracy(cm),
                                    "cohen_kappa": ag.kappa(cm)}
            if fam == "mtmcs-score":
                pair["quadratic_kappa"] = ag.kappa(cm, "quadratic")
            pairs.append(pair)
        out[fam] = {
            "judges": names, "steps_judged": len(keys), "steps_compared": len(common),
            "not_compared": len(keys) - len(common), "pairs": pairs,
            "fleiss_kappa": ag.fleiss_kappa([labels[c] for c in common], k) if common else None,
            "disagreements": [{"case": c[0], "step": c[1], "labels": [x + low for x in labels[c]]}
                              for c in common if len(set(labels[c])) > 1],
        }
    return out


def agreement(
    run_id: Annotated[str, typer.Argument(help="A run scored by two or more judges (see `ctxsafe runs`).")],
    judge: Annotated[list[str] | None, typer.Option(help="Only these judge ids (repeatable); default: all.")]
    = None,
    limit: Annotated[int, typer.Option(help="Disagreements to list per label space.")] = 20,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the figures as JSON here.")] = None,
    store: StoreOpt = DEFAULT_STORE,
) -> None:
    """Agreement between the judges that scored one run (Cohen's and Fleiss' kappa) and the cases they
    disagree on, for human review."""
    with user_errors():
        st = RunStore(store)
        try:
            if st.run(run_id) is None:
                raise ConfigError(f"no run {run_id!r} in {store}")
            judges = [j for j in st.judges_of(run_id) if judge is None or j[0] in judge]
            doc = compare(st, run_id, judges)
        finally:
            st.close()
        if not doc:
            raise ConfigError(f"run {run_id} has fewer than two judges of one label space "
                              f"(found: {', '.join(j for j, _ in judges) or 'none'}); score it with another --judge")
    for fam, d in doc.items():
        console.print(f"[bold]{fam}[/]: {len(d['judges'])} judges, {d['steps_compared']} steps compared "
                      f"({d['not_compared']} left out: a judge had no usable verdict); Fleiss' kappa "
                      f"{d['fleiss_kappa']:.3f}" if d["fleiss_kappa"] is not None else f"[bold]{fam}[/]: nothing "
                      "in common to compare", soft_wrap=True)
        for p in d["pairs"]:
            extra = f", quadratic kappa {p['quadratic_kappa']:.3f}" if "quadratic_kappa" in p else ""
            console.print(f"  {p['a']}  vs  {p['b']}: agreement {100 * p['agreement']:.1f}%, Cohen's kappa "
                          f"{p['cohen_kappa']:.3f}{extra}", markup=False, soft_wrap=True)
        console.print(f"  disagreements ({len(d['disagreements'])}; labels in judge order):", markup=False)
        for row in d["disagreements"][:limit]:
            console.print(f"    {row['case']} {row['step']}: {row['labels']}", markup=False, soft_wrap=True)
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
