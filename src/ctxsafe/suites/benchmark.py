"""One factory for the published benchmarks scored by shape (SIUO, VLSBench, XSTest, FigStep,
MM-SafetyBench, MOSSBench, CoSafe): a suite package declares a `SuiteSpec` (its loader, settings,
hub dataset and its own judge and published rates) and gets the whole protocol from here.

Why: the options, data resolution (local folder, or the hub failing fast), decoding, run identity,
the two judges and the tables were the same in every one of those packages; each package now holds
only its own knowledge. A generic layer: suites never import each other, they import this.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ctxsafe.engine.store import RunStore
from ctxsafe.errors import ConfigError
from ctxsafe.images import ImageStore
from ctxsafe.inert import inert_text
from ctxsafe.judges.base import Judge
from ctxsafe.judges.pick import pick_judge, ref_dict
from ctxsafe.judges.rubric import Rubric, rubric_judges
from ctxsafe.metrics.accuracy import case_outcome, scored_step
from ctxsafe.metrics.label_rates import Outcome, grouped, rates
from ctxsafe.report.shapes import published_table
from ctxsafe.schema import Case
from ctxsafe.suites import single_label
from ctxsafe.suites.hub import resolve_data
from ctxsafe.suites.protocol import (
    CommonOptions,
    JudgeRef,
    JudgeRequest,
    Prepared,
    ScoringShape,
    SuiteOption,
    SuiteResults,
)
from ctxsafe.suites.shaped import ShapedSuite, gen_params

if TYPE_CHECKING:  # rich loads when a table is printed, after the run's first request (issue 12)
    from rich.console import RenderableType


@dataclass(frozen=True)
class Published:
    """A benchmark's own numbers: its judge, its rates (each a set of the judge's labels; the first is
    the headline), the case fields it reports them by, and its names for the two sides of its cases."""

    rubric: Rubric
    rates: Mapping[str, frozenset[int]]
    groups: tuple[str, ...] = ("category",)
    sides: Mapping[str, str] = field(default_factory=lambda: {"unsafe": "unsafe", "safe": "benign"})


@dataclass(frozen=True)
class Loaded:
    """A loader's cases and anything about the load that belongs to the run's identity."""

    cases: list[Case]
    identity: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SuiteSpec:
    """Everything a published benchmark tells the factory. `settings`: the first is the default; with
    more than one, the suite takes `--setting`. `hub`: the dataset on the Hugging Face hub, if any."""

    name: str
    summary: str
    shape: ScoringShape
    settings: Mapping[str, str]
    data_help: str
    title: str
    load: Callable[[Path, str, ImageStore], Loaded | list[Case]]
    """(data folder or file, setting, image store) -> the cases, with any identity fields of the load."""
    published: Published
    hub: str | None = None
    identity: Mapping[str, Any] = field(default_factory=dict)


def _outcome(case: Case, turns: Any, judgements: Any, step: str | None = None) -> Outcome:
    """The judge's label at `step` (default: the step that decides the case), or why there is none."""
    step = step or scored_step(case, turns)
    judgement = judgements.get((case.id, step))
    outcome = case_outcome(case, turns.get((case.id, step)), judgement)
    if outcome in ("correct", "wrong"):
        assert judgement is not None and judgement.label is not None
        return int(judgement.label)
    return outcome


def published_metrics(store: RunStore, run_id: str, spec: Published, judge: str | None,
                      prefer: Sequence[JudgeRef | str]) -> tuple[JudgeRef | None, dict[str, Any]]:
    """The benchmark's own rates per side of its cases, from its own judge's stored labels."""
    rubric = spec.rubric
    try:
        ref = pick_judge(store, run_id, rubric.family, judge, prefer)
    except ConfigError as exc:  # a run judged before this judge existed, or by another: said, not guessed
        return None, {"judge": None, "missing": str(exc)}
    # the run streams past a chunk at a time; each case is kept only as its groups and outcome
    items: dict[str, list[tuple[dict[str, str | None], Outcome]]] = {}
    by_turn: dict[str, dict[int, list[Outcome]]] = {}
    for chunk, turns, judgements in store.case_chunks(run_id, ref):
        for c in chunk:
            if c.context not in spec.sides:
                continue
            items.setdefault(c.context, []).append(
                ({"category": c.category, "task": c.task, "setting": c.setting, "split": c.split},
                 _outcome(c, turns, judgements)))
            steps = by_turn.setdefault(c.context, {})
            for i in range(len(c.turns) if rubric.every_turn else 0):  # the rates at each turn number
                if not c.replayed(i):
                    steps.setdefault(i + 1, []).append(_outcome(c, turns, judgements, f"t{i + 1}"))
    sides: dict[str, Any] = {}
    for context, name in spec.sides.items():
        if context in items:
            sides[name] = grouped(items[context], rubric.labels, spec.rates, spec.groups)
            if rubric.every_turn:
                sides[name]["by_turn"] = {str(i): rates(v, rubric.labels, spec.rates)
                                          for i, v in sorted(by_turn[context].items())}
    return ref, {"judge": ref_dict(ref), "labels": list(rubric.labels), "headline": next(iter(spec.rates)),
                 "groups": list(spec.groups), "sides": sides}


class BenchmarkSuite(ShapedSuite):
    """A published benchmark behind the Suite protocol, built from its `SuiteSpec`."""

    def __init__(self, spec: SuiteSpec) -> None:
        self.spec = spec
        self.name = spec.name
        self.summary = spec.summary
        self.shape = spec.shape
        self.settings = spec.settings
        self.data_help = spec.data_help
        self.title = spec.title
        self.default_setting = next(iter(spec.settings))
        choices = ", ".join(spec.settings)
        self.options = (SuiteOption("setting", Annotated[str, typer.Option(help=f"One of {choices}.")],
                                    self.default_setting),) if len(spec.settings) > 1 else ()

    def prepare(self, common: CommonOptions, extra: dict[str, Any], images: ImageStore) -> Prepared:
        params = gen_params(common, self.name)
        setting = str(extra.get("setting", self.default_setting))
        if setting not in self.settings:
            raise ConfigError(f"--setting must be one of {', '.join(self.settings)}")
        assert common.data is not None
        loaded = self.spec.load(resolve_data(common.data, self.spec.hub, self.name), setting, images)
        if isinstance(loaded, list):
            loaded = Loaded(loaded)
        several = len(self.settings) > 1
        identity = {"data": common.data, **({"setting": setting} if several else {}), **self.spec.identity,
                    **loaded.identity}
        title = f"{self.title}, setting {setting}" if several else self.title
        return Prepared(cases=loaded.cases, setting=setting, params=params, identity=identity, title=title)

    def make_judges(self, request: JudgeRequest, prepared: Prepared) -> list[Judge]:
        """The four-class judge (shapes and pairs, comparable across suites) and the benchmark's own."""
        return [*single_label.four_class_judges(request),
                *rubric_judges(request.spec, request.input_mode, request.caller, self.spec.published.rubric)]

    def results(self, store: RunStore, run_id: str, config: dict[str, Any], judge: str | None,
                prefer: Sequence[JudgeRef | str]) -> SuiteResults:
        res = super().results(store, run_id, config, judge, prefer)
        ref, block = published_metrics(store, run_id, self.spec.published, judge, prefer)
        res.judges["published"] = ref
        res.metrics["published"] = block
        return res

    def tables(self, rows: list[dict[str, Any]], by_category: bool) -> list[RenderableType]:
        out = super().tables(rows, by_category)
        if any(r["metrics"].get("published", {}).get("sides") for r in rows):
            out.append(published_table(rows, f"{self.title}: the published metric", by_category))
        out += [inert_text(f"{r['model']}: no published metric: {r['metrics']['published']['missing']}")
                for r in rows if r["metrics"].get("published", {}).get("missing")]
        return out

    def label_names(self, judge_id: str) -> tuple[str, ...] | None:
        if judge_id.startswith(f"{self.spec.published.rubric.family}:"):
            return self.spec.published.rubric.labels
        return super().label_names(judge_id)
