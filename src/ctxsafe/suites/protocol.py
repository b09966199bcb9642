"""The Suite protocol: everything one benchmark package tells the generic CLI, runner and reports.

A suite knows how to load its cases, which judges score them, its own metric arithmetic, how to
show its cases and its scoring shape. Everything else (the verbs, the shared options, the
per-model loop, the results document, the paired outcomes, `show`, `list`) is written once,
generically, against this protocol. A new benchmark is one package that implements it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from ctxsafe.engine.call import Caller
from ctxsafe.engine.policy import Policy
from ctxsafe.engine.retry import RetryPolicy
from ctxsafe.engine.store import RunStore
from ctxsafe.images import ImageStore
from ctxsafe.judges.base import Judge
from ctxsafe.metrics.paired import Verdict
from ctxsafe.policies.registry import DefenseFactory
from ctxsafe.providers.base import GenParams
from ctxsafe.report.defenses import RunUnits
from ctxsafe.schema import Case, Judgement, TurnRecord

if TYPE_CHECKING:  # rich loads when a table is printed, after the run (issue 12)
    from rich.console import RenderableType

ScoringShape = Literal["paired", "unsafe-only", "benign-only"]
"""How a suite's cases are scored: safe/unsafe twins as one unit (every suite today), or one side only."""

JudgeRef = tuple[str, str]
"""A stored judge: (judge id, prompt version)."""

Turns = dict[tuple[str, str], TurnRecord]
Judgements = dict[tuple[str, str], Judgement]


@dataclass(frozen=True)
class SuiteOption:
    """A suite-specific command-line option: its parameter name, its `Annotated[..., typer.Option()]`
    type and its default. The generic `run SUITE` command adds it beside the shared options."""

    name: str
    annotation: Any
    default: Any


@dataclass(frozen=True)
class CommonOptions:
    """The options every suite takes, with the same names and meanings everywhere.

    `data` and `judge_input` are None when not given, so each suite applies its own default;
    `limit` keeps the first N safe/unsafe pairs of each split (see `suites/pairs.py`).
    """

    data: str | None = None
    limit: int | None = None
    faithful: bool = False
    judge: str = "offline"
    judge_input: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    seed: int | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    concurrency: int = 16
    defenses: tuple[str, ...] = ()
    verifier: str | None = None
    ablation: str = "image"
    """A modality ablation applied to the loaded cases (`ctxsafe/ablations.py`); `image` changes nothing."""


@dataclass(frozen=True)
class Prepared:
    """A suite's cases for one invocation, and what about them determines the model's input.

    `identity` holds the suite's own run-identity fields (data name, setting, mode, ...); the
    generic runner adds the data digest, the limit, the model, the decoding and the image policy.
    """

    cases: Iterable[Case]
    """Iterated once (the runner spools them to disk as they come), so a loader may yield them lazily."""
    setting: str
    params: GenParams
    identity: dict[str, Any]
    title: str
    judging: dict[str, Any] = field(default_factory=dict)
    """Suite options that shape only the judges (never the run identity)."""


CallerFactory = Callable[[GenParams], Caller]
"""Builds a judge caller on the judge's provider (cached, retried, namespaced `judge`)."""


@dataclass(frozen=True)
class JudgeRequest:
    """What the user asked for: `offline`, `none`, or provider:model (with `caller` to reach it)."""

    spec: str
    input_mode: str | None
    caller: CallerFactory | None


@dataclass(frozen=True)
class SuiteResults:
    """A suite's part of the results document, recomputed from the store alone.

    `judges` names the stored judgements used, by role; `verdicts` gives each case's paired outcome
    (`right`, `wrong` or why neither) for the generic paired metrics; `extra` holds top-level
    fields of the document that only this suite has.
    """

    judges: dict[str, JudgeRef | None]
    metrics: dict[str, Any]
    verdicts: list[Verdict]
    extra: dict[str, Any] = field(default_factory=dict)
    side_verdicts: list[Verdict] = field(default_factory=list)
    """Cases without a twin (unsafe-only, benign-only): `right` when their shape's headline counts them as
    handled (metrics/shapes.py `HANDLED`), so runs compare case by case; apart from `verdicts`, so no
    paired number ever includes them."""


class Suite(Protocol):
    """One benchmark's knowledge; read-only attributes, so a plain class with constants implements it."""

    @property
    def name(self) -> str: ...
    @property
    def summary(self) -> str: ...
    @property
    def shape(self) -> ScoringShape: ...
    @property
    def settings(self) -> Mapping[str, str]:
        """Named settings or modes, each with one line, for `ctxsafe list`."""
        ...
    @property
    def default_data(self) -> str | None:
        """None: `--data` is required."""
        ...
    @property
    def data_help(self) -> str: ...
    @property
    def judge_inputs(self) -> tuple[str, ...]:
        """What the judge may be shown (`--judge-input`); the first is the default."""
        ...
    @property
    def options(self) -> tuple[SuiteOption, ...]: ...
    @property
    def defenses(self) -> Mapping[str, DefenseFactory]:
        """The suite's own mitigations, offered by `--defense` beside the generic ones."""
        ...

    def prepare(self, common: CommonOptions, extra: dict[str, Any], images: ImageStore) -> Prepared:
        """Check the options, load and verify every case (before anything touches the store)."""
        ...

    def make_judges(self, request: JudgeRequest, prepared: Prepared) -> list[Judge]:
        """The judges that score this invocation's cases (none for `--judge none`)."""
        ...

    def results(self, store: RunStore, run_id: str, config: dict[str, Any], judge: str | None,
                prefer: Sequence[JudgeRef | str]) -> SuiteResults:
        """Metrics from the store: by the judge named (`offline`, provider:model or a judge id),
        else the `prefer`red judgements, else the latest stored."""
        ...

    def policy(self, prepared: Prepared, policy: Policy) -> Policy:
        """The policy a setting plays (e.g. MSSBench `ic-selfcap` wraps it in a captioning step)."""
        ...

    def units(self, store: RunStore, doc: dict[str, Any]) -> RunUnits:
        """A run reduced to paired units for the defenses table."""
        ...

    def tables(self, rows: list[dict[str, Any]], by_category: bool) -> list[RenderableType]:
        """The suite's own terminal tables for one or more results documents."""
        ...

    def label_names(self, judge_id: str) -> tuple[str, ...] | None:
        """Names for a judge's integer labels, for `show` (None: show the score)."""
        ...

    def show_extra(self, case: Case, turns: Turns, judgements: dict[str, Judgements]) -> list[RenderableType]:
        """Anything `show` must print after a case's turns (e.g. MTMCS intent answers)."""
        ...

    def paper_numbers(self) -> dict[str, Any]:
        """The paper's published results the suite ships (suites/paper.py), for the reports' "against the paper"
        tables; no results when it ships none."""
        ...

    def demo_images(self) -> Path | None:
        """The folder holding the images of the suite's bundled `demo` data (made on first use), where the HTML
        report looks for a demo run's thumbnails; None when its demo has no image files."""
        ...
