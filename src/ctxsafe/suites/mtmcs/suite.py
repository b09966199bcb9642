"""MTMCS-Bench behind the Suite protocol: multi-turn escalation (Type A) and context switch (Type B).

Two modes, recorded in the run and part of its identity (so they never share a run id):
- faithful: the paper's decoding (temperature 0.1, 128 new tokens per turn, no system prompt), the
  judge reads a caption instead of the image, and unparseable intent answers leave the denominator;
- default: the same protocol with documented corrections (the judge sees the image, no truncation
  unless asked, unparseable answers count as wrong).
"""

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
from ctxsafe.judges.names import is_offline, offline_judge
from ctxsafe.judges.pick import pick_judge
from ctxsafe.policies.registry import DefenseFactory
from ctxsafe.providers.base import GenParams
from ctxsafe.report.defenses import RunUnits
from ctxsafe.schema import Case
from ctxsafe.suites.mtmcs import insight, metrics, prompts
from ctxsafe.suites.mtmcs.demo import DEMO, demo_data
from ctxsafe.suites.mtmcs.judge import (
    INPUT_MODES,
    OFFLINE_JUDGES,
    ScoreJudge,
    TurnJudge,
)
from ctxsafe.suites.mtmcs.loader import MODALITIES, SUITE, LoadOptions, iter_cases
from ctxsafe.suites.mtmcs.parse import PARSER_VERSION
from ctxsafe.suites.mtmcs.sources import read_captions, read_data
from ctxsafe.suites.mtmcs.tables import insight_table, metrics_table
from ctxsafe.suites.mtmcs.units import judged_chunks, run_units
from ctxsafe.suites.mtmcs.view import intent_answers
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

FAITHFUL_TEMPERATURE = 0.1
FAITHFUL_MAX_TOKENS = 128
SCORE = "mtmcs-score"
TURN = "mtmcs-turn"
TYPES = {"a": ("type_a",), "b": ("type_b",), "both": ("type_a", "type_b")}
MODALITY_CHOICES = {"image": ("image",), "text": ("text",), "both": MODALITIES}


def mode_name(faithful: bool) -> str:
    return "faithful" if faithful else "default"


def faithful_params(seed: int | None = None) -> GenParams:
    return GenParams(temperature=FAITHFUL_TEMPERATURE, max_tokens=FAITHFUL_MAX_TOKENS, seed=seed)


def _choice(value: str, choices: dict[str, tuple[str, ...]], name: str) -> tuple[str, ...]:
    if value not in choices:
        raise ConfigError(f"--{name} must be one of {', '.join(choices)}")
    return choices[value]


def decoding(common: CommonOptions) -> GenParams:
    if common.faithful:
        if common.temperature is not None or common.max_tokens is not None:
            raise ConfigError(f"--faithful fixes temperature {FAITHFUL_TEMPERATURE} and {FAITHFUL_MAX_TOKENS} "
                              "tokens per turn; drop --temperature/--max-tokens")
        return faithful_params(common.seed)
    return GenParams(temperature=FAITHFUL_TEMPERATURE if common.temperature is None else common.temperature,
                     max_tokens=common.max_tokens, seed=common.seed)


def judge_mode(common: CommonOptions) -> str:
    """What the judge reads: the image (default), or the caption (faithful, or when asked)."""
    mode = common.judge_input or ("caption" if common.faithful else "image")
    if mode not in INPUT_MODES:
        raise ConfigError(f"--judge-input must be one of {', '.join(INPUT_MODES)} for MTMCS")
    return mode


class Mtmcs(PackagedPaperNumbers):
    name = SUITE
    summary = "MTMCS-Bench: three-turn dialogues over an image, escalation (A) or context switch (B), with twins."
    shape: ScoringShape = "paired"
    settings: ClassVar[Mapping[str, str]] = {
        "default": "the protocol with documented corrections (the judge sees the image)",
        "faithful": "the paper's protocol (--faithful: temperature 0.1, 128 tokens, caption judge)"}
    default_data = DEMO
    data_help = ("'demo' (bundled), a local copy (folder with type_a/type_b .jsonl/.json/.parquet, or one such "
                 "file), or hf://ND-25/MCS-bench.")
    judge_inputs = INPUT_MODES
    defenses: ClassVar[Mapping[str, DefenseFactory]] = {}
    options = (
        SuiteOption("type_", Annotated[str, typer.Option("--type", help="a (escalation), b (context switch) or "
                                                         "both.")], "both"),
        SuiteOption("modality", Annotated[str, typer.Option(help="image, text (the text-only rewrite) or both.")],
                    "both"),
        SuiteOption("variants", Annotated[bool, typer.Option(help="Also run every dialogue with each variant "
                                                             "image.")], False),
        SuiteOption("captions", Annotated[Path | None, typer.Option(help="Caption file (row id -> caption) for "
                                                                    "--faithful.")], None),
        SuiteOption("per_turn", Annotated[bool, typer.Option(help="Also label every reply (complied/aware/"
                                                             "refused) for the per-turn insight.")], True),
        SuiteOption("judge_structured", Annotated[bool, typer.Option(help="Ask the LLM judge's provider for JSON "
                                                                     "output (response_format).")], True),
    )

    def prepare(self, common: CommonOptions, extra: dict[str, Any], images: ImageStore) -> Prepared:
        splits = _choice(str(extra["type_"]), TYPES, "type")
        modalities = _choice(str(extra["modality"]), MODALITY_CHOICES, "modality")
        variants = bool(extra["variants"])
        if common.faithful and variants:
            raise ConfigError("the paper never used the variant images: --variants cannot be combined with "
                              "--faithful")
        params = decoding(common)
        data = common.data or DEMO
        raw = demo_data(splits) if data == DEMO else read_data(data, splits)
        captions: Path | None = extra["captions"]
        if captions is not None:
            raw.captions, raw.captions_file = read_captions(captions), str(captions)
        judge_input = judge_mode(common)
        load = LoadOptions(splits=splits, modalities=modalities, variants=variants,
                           require_captions=judge_input == "caption", limit=common.limit)
        mode = mode_name(common.faithful)
        identity = {"mode": mode, "data": data, "splits": list(splits), "modalities": list(modalities),
                    "variants": variants, "prompts": prompts.PROMPT_VERSION}
        return Prepared(cases=iter_cases(raw, load, images), setting=mode, params=params, identity=identity,
                        title=f"MTMCS-Bench, {mode} mode",
                        judging={"per_turn": bool(extra["per_turn"]), "input_mode": judge_input,
                                 "structured": bool(extra["judge_structured"])})

    def make_judges(self, request: JudgeRequest, prepared: Prepared) -> list[Judge]:
        """`offline`/`offline-rules` (rules), `offline-embed` / `offline-lm` (learned), `none`, or provider:model: the
        dialogue score and, unless off, per turn."""
        extra_turn = prepared.judging["per_turn"]
        if request.spec == "none":
            return []
        if is_offline(request.spec):
            score, turn = offline_judge(request.spec, OFFLINE_JUDGES, "MTMCS")
            if request.input_mode is not None:
                raise ConfigError("the offline judges read the replies' text only; drop --judge-input")
            return [score(), turn()] if extra_turn else [score()]
        assert request.caller is not None
        structured = prepared.judging["structured"]
        caller = request.caller(GenParams(temperature=0.0, seed=0,
                                          response_format={"type": "json_object"} if structured else None))
        mode = prepared.judging["input_mode"]
        judges: list[Judge] = [ScoreJudge(caller, mode)]
        if extra_turn:
            judges.append(TurnJudge(caller, mode))
        return judges

    def results(self, store: RunStore, run_id: str, config: dict[str, Any], judge: str | None,
                prefer: Sequence[JudgeRef | str]) -> SuiteResults:
        """Every metric from the store alone; no model or judge is called. The run is read a chunk of cases
        at a time (with their turns and both judges' verdicts), each dialogue reduced to its outcomes."""
        score = pick_judge(store, run_id, SCORE, judge, prefer)
        turn = pick_judge(store, run_id, TURN, judge, prefer)
        faithful = config.get("mode") == "faithful"
        judged = turn is not None and store.judgement_count(run_id, *turn) > 0
        tally, per_turn, verdicts = metrics.Tally(), insight.Tally(), []
        for cases, turns, scores, labels in judged_chunks(store, run_id, score, turn):
            tally.add(cases, turns, scores)
            per_turn.add(cases, labels)
            verdicts += insight.verdicts(cases, turns, labels, judged)
        return SuiteResults(
            judges={"score": score, "turn": turn},
            metrics=tally.result(faithful),
            verdicts=verdicts,
            extra={"mode": mode_name(faithful), "parser": PARSER_VERSION,
                   "per_turn": per_turn.result() if turn else None})

    def policy(self, prepared: Prepared, policy: Policy) -> Policy:
        return policy

    def units(self, store: RunStore, doc: dict[str, Any]) -> RunUnits:
        return run_units(store, doc)

    def tables(self, rows: list[dict[str, Any]], by_category: bool) -> list[RenderableType]:
        first = rows[0]
        judge_id = (first["judges"]["score"] or {}).get("id", "none")
        out: list[RenderableType] = [metrics_table(rows, f"MTMCS-Bench, {first['mode']} mode, judge {judge_id}")]
        if any(r.get("per_turn") for r in rows):
            out.append(insight_table(rows))
        return out

    def label_names(self, judge_id: str) -> tuple[str, ...] | None:
        return prompts.TURN_LABELS if judge_id.startswith(f"{TURN}:") else None

    def show_extra(self, case: Case, turns: Turns, judgements: dict[str, JudgementMap]) -> list[RenderableType]:
        return intent_answers(case, turns)

    def demo_images(self) -> Path | None:
        return None  # the demo's images travel inside its rows (demo.py), not as files


MTMCS = Mtmcs()
