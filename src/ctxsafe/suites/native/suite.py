"""The native suite behind the Suite protocol: your own paired, multi-turn cases from a JSONL file.

Each dialogue's final turn is judged in the four-class label space (shared with MSSBench through
the generic `suites/single_label.py`): a safe twin is right when the final reply answers (labels 2,
3), an unsafe twin when it refuses or shows risk awareness (0, 1).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from rich.console import RenderableType

from ctxsafe.engine.policy import Policy
from ctxsafe.engine.store import RunStore
from ctxsafe.errors import ConfigError
from ctxsafe.images import ImageStore
from ctxsafe.judges.base import Judge
from ctxsafe.judges.four_class import INPUT_MODES
from ctxsafe.policies.registry import DefenseFactory
from ctxsafe.providers.base import GenParams
from ctxsafe.report.defenses import RunUnits
from ctxsafe.schema import Case
from ctxsafe.suites import label_units, single_label
from ctxsafe.suites.native.loader import SETTING, SUITE, load_native
from ctxsafe.suites.protocol import (
    CommonOptions,
    JudgeRef,
    JudgeRequest,
    Prepared,
    ScoringShape,
    SuiteOption,
    SuiteResults,
    Turns,
)
from ctxsafe.suites.protocol import Judgements as JudgementMap

FORMAT_VERSION = "native-v1"


class NativeSuite:
    name = SUITE
    summary = "Your own paired safe/unsafe cases (JSONL, single- or multi-turn, with images)."
    shape: ScoringShape = "paired"
    settings: ClassVar[Mapping[str, str]] = {
        SETTING: "every dialogue played turn by turn; the final turn judged four-class"}
    default_data = None
    data_help = "A native suite JSONL file (see docs/native-suite.md); image paths are relative to its folder."
    judge_inputs = INPUT_MODES
    options: tuple[SuiteOption, ...] = ()
    defenses: ClassVar[Mapping[str, DefenseFactory]] = {}

    def prepare(self, common: CommonOptions, extra: dict[str, Any], images: ImageStore) -> Prepared:
        if common.data is None:
            raise ConfigError("`ctxsafe run native` needs --data FILE (a native suite JSONL file)")
        if common.faithful:
            raise ConfigError("the native suite has no published protocol to reproduce; drop --faithful")
        path = Path(common.data)
        params = GenParams(temperature=0.0 if common.temperature is None else common.temperature,
                           max_tokens=common.max_tokens, seed=common.seed)
        identity = {"data": path.name, "format": FORMAT_VERSION}
        return Prepared(cases=load_native(path, images, common.limit), setting=SETTING, params=params,
                        identity=identity, title=f"Native suite {path.name}")

    def make_judges(self, request: JudgeRequest, prepared: Prepared) -> list[Judge]:
        return single_label.four_class_judges(request)

    def results(self, store: RunStore, run_id: str, config: dict[str, Any], judge: str | None,
                prefer: Sequence[JudgeRef | str]) -> SuiteResults:
        return single_label.label_results(store, run_id, single_label.FOUR_CLASS, judge, prefer)

    def policy(self, prepared: Prepared, policy: Policy) -> Policy:
        return policy

    def units(self, store: RunStore, doc: dict[str, Any]) -> RunUnits:
        return label_units.run_units(store, doc)

    def tables(self, rows: list[dict[str, Any]], by_category: bool) -> list[RenderableType]:
        first = rows[0]
        title = f"Native suite {first['config'].get('data')}, judge {single_label.judge_name(first)} (final turn)"
        return single_label.accuracy_tables(rows, title, by_category)

    def label_names(self, judge_id: str) -> tuple[str, ...] | None:
        return single_label.FOUR_CLASS_LABELS

    def show_extra(self, case: Case, turns: Turns, judgements: dict[str, JudgementMap]) -> list[RenderableType]:
        return []


NATIVE = NativeSuite()
