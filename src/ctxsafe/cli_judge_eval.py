"""`ctxsafe judge-eval`: measure any judge against a human-labelled file, with 95% intervals.

The labelled records become a run in the store (see label_run), so an LLM judge is called through
the engine: cached by exact request, resumable after a kill, every verdict recorded.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from ctxsafe.cli_common import (
    DEFAULT_STORE,
    ConcurrencyOpt,
    JudgeApiKeyEnvOpt,
    JudgeBaseUrlOpt,
    MaxAttemptsOpt,
    RetryBaseOpt,
    StoreOpt,
    TimeoutOpt,
    console,
    user_errors,
)
from ctxsafe.engine.retry import RetryPolicy
from ctxsafe.engine.store import RunStore
from ctxsafe.errors import ConfigError, DataError
from ctxsafe.judges.label_run import judge_labels, open_label_run
from ctxsafe.judges.labelled import AnyLabel, LabelKind, load_labels, select_split
from ctxsafe.judges.second_reading import PREFIX, is_second_reading, load_reading, reading_id, verdicts
from ctxsafe.judges.served import served_line, served_summary
from ctxsafe.judges.split import SEED, SPLITS
from ctxsafe.providers.registry import Endpoint
from ctxsafe.report.terminal import pct
from ctxsafe.signal_loop import run

SPLIT_CHOICES = (*SPLITS, "all")


def load_all(paths: list[Path]) -> tuple[LabelKind, list[AnyLabel]]:
    """Several files of one kind, as one set; ids must stay unique across files."""
    kind: LabelKind | None = None
    items: list[AnyLabel] = []
    seen: dict[str, Path] = {}
    for path in paths:
        k, recs = load_labels(path)
        if kind is not None and k != kind:
            raise DataError(f"holds {k} records but an earlier file holds {kind} records", file=str(path))
        kind = k
        for r in recs:
            if r.id in seen:
                raise DataError(f"id {r.id!r} is also in {seen[r.id]}", file=str(path), record=r.id)
            seen[r.id] = path
        items.extend(recs)
    assert kind is not None
    return kind, items


async def evaluate(kind: LabelKind, items: list[AnyLabel], source: str, spec: str, store_path: Path,
                   endpoint: Endpoint, retry: RetryPolicy, input_mode: str | None) -> dict[str, Any]:
    """Judge the records through the engine and compare with the labels."""
    from ctxsafe.judge_eval import make_eval_judges, views  # numpy: loaded when used, not at start-up

    store = RunStore(store_path)
    try:
        js = make_eval_judges(kind, spec, endpoint, store, retry, input_mode)
        try:
            run_id, cases = open_label_run(store, kind, items, source)
            verdicts = [await judge_labels(store, run_id, cases, j) for j in js.judges]
        finally:
            for p in js.providers:
                await p.aclose()
        judges = [{"id": j.judge_id, "prompt_version": j.prompt_version,
                   "served": served_summary(store, run_id, j.judge_id, j.prompt_version),
                   "trained_on": trained_on(j, items)} for j in js.judges]
    finally:
        store.close()
    return {"run_id": run_id, "judges": judges, "views": views(kind, items, js.judges, verdicts)}


def compare_reading(kind: LabelKind, items: list[AnyLabel], path: Path) -> dict[str, Any]:
    """A second annotator's labels against the gold file, on the records both labelled (no store, no calls)."""
    from ctxsafe.judge_eval import views  # numpy: loaded when used, not at start-up

    reading = load_reading(path, kind)
    matched = [it for it in items if it.id in reading]
    if not matched:
        raise DataError(f"none of the {len(items)} chosen records is in the second reading", file=str(path))
    judge_id, version = reading_id(path)
    doc_judge = {"id": judge_id, "prompt_version": version, "served": [], "trained_on": 0,
                 "second_reading": {"records": len(reading), "matched": len(matched), "chosen": len(items)}}
    return {"run_id": None, "judges": [doc_judge],
            "views": views(kind, matched, [], verdicts(matched, reading, judge_id, version))}


def trained_on(judge: object, items: list[AnyLabel]) -> int:
    """How many of the records a learned judge was fitted on (by id): a figure on those is not honest."""
    model = getattr(judge, "model", None)
    ids = set(getattr(model, "meta", {}).get("ids", ()))
    return sum(1 for it in items if it.id in ids)


def _v(block: dict[str, Any], scale: float = 100.0) -> str:
    value, (lo, hi) = block["value"], block["ci95"]
    if value is None:
        return "-"
    if scale == 1.0:
        inner = "-" if lo is None or hi is None else f"{lo:.2f} to {hi:.2f}"
        return f"{value:.2f} [{inner}]"
    inner = "-" if lo is None or hi is None else f"{pct(lo)} to {pct(hi)}"
    return f"{pct(value)} [{inner}]"


def render(doc: dict[str, Any]) -> None:
    judges = ", ".join(f"{j['id']} ({j['prompt_version']})" for j in doc["judges"])
    where = "a second reading" if doc["run_id"] is None else f"label run {doc['run_id']}"
    console.print(f"judge {judges} vs {doc['labels']} (split {doc['split']}, {doc['n']} records; {where})",
                  soft_wrap=True)
    for j in doc["judges"]:
        second = j.get("second_reading")
        if second:
            console.print(f"second reading: {second['matched']} of the split's {second['chosen']} records were "
                          f"labelled again ({second['records']} in the file); figures are on those only",
                          soft_wrap=True)
        served = served_line(j["id"], j["served"])
        if served is not None:
            console.print(served, markup=False, soft_wrap=True)
        if j.get("trained_on"):
            console.print(f"[yellow]warning: {j['trained_on']} of these records were in {j['id']}'s training data; "
                          "its figures on them are not an honest estimate[/]", soft_wrap=True)
    for name, v in doc["views"].items():
        small = "  [yellow]fewer than 30 items: too few to read[/]" if v["small"] else ""
        line = (f"[bold]{name}[/]: n={v['n']} ({v['clusters']} clusters), unparsed {v['unparsed']}; "
                f"accuracy {_v(v['accuracy'])}, Cohen's kappa {_v(v['kappa'], 1.0)}")
        if "quadratic_kappa" in v:
            line += (f", quadratic kappa {_v(v['quadratic_kappa'], 1.0)}, MAE {_v(v['mae'], 1.0)}, "
                     f"within one {_v(v['within_one'])}")
        console.print(line + small, soft_wrap=True)
        t = Table(caption="counts: rows = human label, columns = judge; precision and recall in %",
                  caption_justify="left")
        t.add_column("human \\ judge")
        for lab in v["labels"]:
            t.add_column(lab, justify="right")
        t.add_column("unparsed", justify="right")
        t.add_column("precision", justify="right")
        t.add_column("recall", justify="right")
        for i, lab in enumerate(v["labels"]):
            p, r = v["precision"][i], v["recall"][i]
            t.add_row(lab, *(str(x) for x in v["confusion"][i]), pct(p), pct(r))
        console.print(t)
        b = v.get("binary")
        if b:
            console.print(f"  binary view ({b['positive']}): agreement {_v(b['agreement'])}, "
                          f"kappa {_v(b['kappa'], 1.0)}", soft_wrap=True)
            for side, s in b["sides"].items():
                console.print(f"    {side}: n={s['n']}  human {_v(s['human_rate'])}  judge {_v(s['judge_rate'])}  "
                              f"bias {_v(s['bias'])} points", soft_wrap=True)
        for side, s in v.get("mean_bias", {}).items():
            console.print(f"    mean {side}: human {s['human_mean']}  judge {s['judge_mean']}  "
                          f"bias {_v(s['bias'], 1.0)} (scored {s['scored']}/{s['n']})", soft_wrap=True)
        for field, groups in v.get("by", {}).items():
            parts = [f"{k} n={g['n']} acc {pct(g['accuracy']['value'])} kappa "
                     f"{'-' if g['kappa']['value'] is None else format(g['kappa']['value'], '.2f')}"
                     for k, g in groups.items()]
            console.print(f"  by {field}: " + "; ".join(parts), soft_wrap=True)


def judge_eval(
    labels: Annotated[list[Path], typer.Option("--labels", help="Labelled JSONL file(s) of one kind "
                                               "(MSSBench four-class, MTMCS dialogues, or QC/IC Yes/No); "
                                               "see docs/judges.md for the fields.")],
    judge: Annotated[str, typer.Option(help="'offline' (also offline-learned, offline-embed, "
                                       "offline-lm, offline-rules), provider:model (an LLM judge), or human:FILE "
                                       "(a second annotator's "
                                       "labels of the same records: human-human agreement).")] = "offline",
    split: Annotated[str, typer.Option(help=f"Frozen split to score ({', '.join(SPLIT_CHOICES)}); the project's "
                                       "figures use test.")] = "all",
    judge_input: Annotated[str | None, typer.Option(help="MSSBench LLM judge input: response or query.")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Also write the full figures as JSON here.")]
    = None,
    judge_base_url: JudgeBaseUrlOpt = None,
    judge_api_key_env: JudgeApiKeyEnvOpt = None,
    concurrency: ConcurrencyOpt = 16,
    timeout: TimeoutOpt = 120.0,
    max_attempts: MaxAttemptsOpt = 6,
    retry_base: RetryBaseOpt = 1.0,
    store: StoreOpt = DEFAULT_STORE,
) -> None:
    """Measure a judge against human labels: accuracy, kappa, confusion, per-class precision/recall, the
    suite's binary view and its bias, all with 95% intervals. LLM judges are cached and resumable."""
    with user_errors():
        if split not in SPLIT_CHOICES:
            raise ConfigError(f"--split must be one of {', '.join(SPLIT_CHOICES)}")
        kind, items = load_all(labels)
        chosen = select_split(items, split)
        if not chosen:
            raise ConfigError(f"no records of split {split!r} in {', '.join(map(str, labels))}")
        if is_second_reading(judge):
            if judge_input is not None:
                raise ConfigError("a second reading has no judge input: drop --judge-input")
            doc = compare_reading(kind, chosen, Path(judge.removeprefix(PREFIX)))
            n = doc["judges"][0]["second_reading"]["matched"]
        else:
            source = "+".join(p.name for p in labels)
            doc = run(evaluate(kind, chosen, source, judge, store,
                               Endpoint(judge_base_url, judge_api_key_env, timeout, concurrency),
                               RetryPolicy(max_attempts=max_attempts, base_s=retry_base), judge_input))
            n = len(chosen)
        doc = {"labels": [str(p) for p in labels], "kind": kind, "split": split, "split_seed": SEED,
               "n": n, **doc}
    render(doc)
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        console.print(f"figures: {json_out}")
