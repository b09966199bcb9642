"""MSSBench behind the Suite protocol: same query, safe vs. unsafe image (chat and embodied tasks)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

import typer

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
from ctxsafe.suites.mssbench import prompts
from ctxsafe.suites.mssbench.cot import AnswerPartJudge
from ctxsafe.suites.mssbench.loader import FOUR_CLASS_SETTINGS, SETTINGS, SUITE, TASKS, load_mssbench, resolve_data
from ctxsafe.suites.mssbench.multi_agent import MultiAgent, multi_agent
from ctxsafe.suites.mssbench.self_caption import SelfCaption
from ctxsafe.suites.mssbench.yesno import YesNoReader
from ctxsafe.suites.paper import PackagedPaperNumbers
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

if TYPE_CHECKING:  # rich loads when a table is printed, after the run's first request (issue 12)
    from rich.console import RenderableType

DEMO = "demo"
YESNO = "mss-yesno"


def data_root(data: str) -> Path:
    if data == DEMO:
        from ctxsafe.suites.mssbench.demo import demo_dir

        return demo_dir()
    return resolve_data(data)


class MssBench(PackagedPaperNumbers):
    name = SUITE
    summary = "MSSBench: the same query with a safe and an unsafe image (chat and embodied tasks)."
    shape: ScoringShape = "paired"
    settings: ClassVar[Mapping[str, str]] = {
        "if": "instruction following, judged four-class (the paper's main result)",
        "qc": "query classification: the model says whether the query is safe here (Yes/No)",
        "ic": "intent classification: the model says whether the intent is safe here (Yes/No)",
        "ic-cap": "intent classification with ground-truth image captions",
        "ic-selfcap": "intent classification with the model's own caption of the image (two calls)",
        "cot": "instruction following under a chain-of-thought prompt; the judge reads the answer part"}
    default_data = DEMO
    data_help = "'demo' (bundled), a local folder in the official layout, or hf://kzhou35/mssbench."
    judge_inputs = INPUT_MODES
    defenses: ClassVar[Mapping[str, DefenseFactory]] = {"multi-agent": multi_agent}
    options = (
        SuiteOption("setting", Annotated[str, typer.Option(help=f"One of {', '.join(SETTINGS)}.")], "if"),
        SuiteOption("task", Annotated[str, typer.Option(help="chat, embodied or all.")], "all"),
    )

    def prepare(self, common: CommonOptions, extra: dict[str, Any], images: ImageStore) -> Prepared:
        setting, task = str(extra["setting"]), str(extra["task"])
        if task not in (*TASKS, "all"):
            raise ConfigError(f"--task must be one of {', '.join((*TASKS, 'all'))}")
        tasks = TASKS if task == "all" else (task,)
        data = common.data or DEMO
        cases = load_mssbench(data_root(data), setting, images, tasks, common.faithful, common.limit)
        params = GenParams(temperature=0.0 if common.temperature is None else common.temperature,
                           max_tokens=common.max_tokens, seed=common.seed)
        identity = {"data": data, "setting": setting, "tasks": list(tasks), "faithful": common.faithful,
                    "prompts": prompts.PROMPT_VERSION}
        return Prepared(cases=cases, setting=setting, params=params, identity=identity,
                        title=f"MSSBench, setting {setting.upper()}")

    def make_judges(self, request: JudgeRequest, prepared: Prepared) -> list[Judge]:
        """IF is scored by the four-class judge, CoT by the same judge on the answer part; QC/IC by reading
        the model's own Yes/No."""
        judges = single_label.four_class_judges(request)
        if prepared.setting == "cot":
            return [AnswerPartJudge(j) for j in judges]
        if prepared.setting in FOUR_CLASS_SETTINGS:
            return judges
        return [YesNoReader()]

    def policy(self, prepared: Prepared, policy: Policy) -> Policy:
        """IC with self caption wraps the policy in the captioning pipeline; multi-agent is for IF only."""
        if isinstance(policy, MultiAgent) and prepared.setting != "if":
            raise ConfigError("--defense multi-agent is the paper's mitigation for instruction following; use "
                              "--setting if")
        return SelfCaption(policy) if prepared.setting == "ic-selfcap" else policy

    def units(self, store: RunStore, doc: dict[str, Any]) -> RunUnits:
        return label_units.run_units(store, doc)

    def results(self, store: RunStore, run_id: str, config: dict[str, Any], judge: str | None,
                prefer: Sequence[JudgeRef | str]) -> SuiteResults:
        if config.get("setting", "if") in FOUR_CLASS_SETTINGS:
            return single_label.label_results(store, run_id, single_label.FOUR_CLASS, judge, prefer)
        return single_label.label_results(store, run_id, YESNO, None, prefer)

    def tables(self, rows: list[dict[str, Any]], by_category: bool) -> list[RenderableType]:
        first = rows[0]
        title = f"MSSBench, setting {str(first.get('setting')).upper()}, judge {single_label.judge_name(first)}"
        return single_label.accuracy_tables(rows, title, by_category)

    def label_names(self, judge_id: str) -> tuple[str, ...] | None:
        if judge_id == YESNO:
            return ("No", "Yes")
        return single_label.FOUR_CLASS_LABELS

    def show_extra(self, case: Case, turns: Turns, judgements: dict[str, JudgementMap]) -> list[RenderableType]:
        return []

    def demo_images(self) -> Path | None:
        return data_root(DEMO)


MSSBENCH = MssBench()
