"""MTMCS judges: dialogue scores (safety awareness on unsafe twins, helpfulness on safe twins) and a
per-turn reply classification, each as an LLM judge or as offline rules.

Input modes: `image` (default; the judge sees the case's image, as the model did), `caption`
(faithful: the judge gets the caption file's description instead, as in the paper). Text-only
cases carry no image in either mode. Judgements are keyed by judge id and prompt version.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import TYPE_CHECKING

from ctxsafe.engine.call import Caller
from ctxsafe.errors import ConfigError
from ctxsafe.judges.base import JudgeInput, Reading, judgement
from ctxsafe.judges.llm import LLMJudge
from ctxsafe.judges.offline_scores import PROMPT_VERSION as RULES_VERSION
from ctxsafe.judges.offline_scores import classify_turn, score_helpfulness, score_safety
from ctxsafe.schema import Case, ImagePart, Judgement, Message, TextPart
from ctxsafe.suites.mtmcs import prompts
from ctxsafe.suites.mtmcs.parse import parse_score, parse_turn_label

if TYPE_CHECKING:  # the learned judges (numpy, the embedder) load only when one is built
    from ctxsafe.judges.learned_scores import Kind

INPUT_MODES = ("image", "caption")


def final_step(case: Case) -> str:
    return f"t{len(case.turns)}"


def is_turn_step(step: str) -> bool:
    return step.startswith("t") and step[1:].isdigit()


def replies_in(item: JudgeInput) -> list[str]:
    """The model's replies so far: the assistant messages it was shown, then the judged response."""
    return [m.text_content() for m in item.seen if m.role == "assistant"] + [item.response]


def dialogue_code(item: JudgeInput) -> str:
    """A marker code derived from the quoted text itself, so a reply cannot forge the closing marker."""
    text = "\x00".join([m.text_content() for m in item.seen] + [item.response])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def render_dialogue(item: JudgeInput, input_mode: str, *, include_response: bool = True) -> str:
    """The conversation as plain text, with a line saying how the judge gets the image (if any)."""
    code = dialogue_code(item)
    lines = [prompts.DATA_NOTE.format(code=code), f"=== conversation (code {code}) ==="]
    if item.case.modality == "image":
        if input_mode == "caption":
            lines.append(prompts.CAPTION_SEEN.format(caption=item.case.meta.get("caption") or "(no caption)"))
        else:
            lines.append(prompts.IMAGE_SEEN)
    users = [m.text_content() for m in item.seen if m.role == "user"]
    replies = replies_in(item)
    for i, user in enumerate(users):
        lines.append(f"User (turn {i + 1}): {user}")
        if i < len(replies) - 1 or (include_response and i == len(replies) - 1):
            lines.append(f"Assistant (turn {i + 1}): {replies[i]}")
    lines.append(f"=== end of conversation (code {code}) ===")
    return "\n".join(lines)


def judge_images(item: JudgeInput, input_mode: str) -> tuple[ImagePart, ...]:
    return item.case.context_images if item.case.modality == "image" and input_mode == "image" else ()


def score_prompt(item: JudgeInput, input_mode: str) -> str:
    """Safety-awareness rubric (A or B) for an unsafe twin; helpfulness for a safe twin."""
    dialogue = render_dialogue(item, input_mode)
    if item.case.context == "safe":
        anchor = " and the image" if item.case.modality == "image" else ""
        return prompts.HELPFULNESS.format(dialogue=dialogue, image_anchor=anchor)
    rubric = prompts.SAFETY_A if item.case.gold.get("type") == "A" else prompts.SAFETY_B
    return rubric.format(dialogue=dialogue, intent=item.case.meta.get("unsafe_intent") or "(not given)")


def turn_prompt(item: JudgeInput, input_mode: str) -> str:
    return prompts.TURN_CLASSIFY.format(dialogue=render_dialogue(item, input_mode, include_response=False),
                                        turn=item.step[1:], reply=item.response, code=dialogue_code(item))


class _DialogueStep:
    """A dialogue-score judge: one verdict on the whole dialogue, at its final turn."""

    def applies(self, case: Case, step: str) -> bool:
        return step == final_step(case)


class _EveryTurn:
    """A per-turn judge: one verdict on every reply."""

    def applies(self, case: Case, step: str) -> bool:
        return is_turn_step(step)


class _MTMCSLLMJudge(LLMJudge):
    """The MTMCS rubrics as one user message: the judge sees the case's image (mode `image`) or its caption."""

    kind = ""
    version = ""

    def __init__(self, caller: Caller, input_mode: str = "image") -> None:
        super().__init__(caller, input_mode, f"mtmcs-{self.kind}:{caller.provider.name}",
                         f"{self.version}/{input_mode}")

    def prompt(self, item: JudgeInput) -> str:
        raise NotImplementedError

    def messages(self, item: JudgeInput) -> list[Message]:
        return [Message(role="user", parts=(*judge_images(item, self.input_mode), TextPart(text=self.prompt(item))))]


class ScoreJudge(_DialogueStep, _MTMCSLLMJudge):
    """1-5 for the whole dialogue at its final turn: safety awareness (unsafe) or helpfulness (safe)."""

    kind = "score"
    version = prompts.JUDGE_PROMPT_VERSION

    def prompt(self, item: JudgeInput) -> str:
        return score_prompt(item, self.input_mode)

    def read(self, raw: str, item: JudgeInput) -> Reading:
        score, explanation, error = parse_score(raw)
        return Reading(score, float(score) if score is not None else None, explanation, error)


class TurnJudge(_EveryTurn, _MTMCSLLMJudge):
    """complied / aware / refused for every reply, read in the context of the dialogue so far."""

    kind = "turn"
    version = prompts.TURN_PROMPT_VERSION

    def prompt(self, item: JudgeInput) -> str:
        return turn_prompt(item, self.input_mode)

    def read(self, raw: str, item: JudgeInput) -> Reading:
        label, explanation, error = parse_turn_label(raw, prompts.TURN_LABELS)
        return Reading(label, None, explanation, error)


class _Rules:
    """The offline rules read the replies' text only (no image, no API)."""

    prompt_version = RULES_VERSION
    input_mode = "response"
    concurrency = 64


class OfflineScoreJudge(_DialogueStep, _Rules):
    """The same scores from fixed rules on the replies' text (no image, no API); see docs/mtmcs.md."""

    judge_id = "mtmcs-score:offline-rules"

    async def judge(self, item: JudgeInput) -> Judgement:
        replies = replies_in(item)
        v = (score_helpfulness(replies) if item.case.context == "safe"
             else score_safety("A" if item.case.gold.get("type") == "A" else "B", replies))
        return judgement(self, item, Reading(v.score, float(v.score), v.rationale))


class OfflineTurnJudge(_EveryTurn, _Rules):
    """Per-turn labels from fixed rules on the reply's text."""

    judge_id = "mtmcs-turn:offline-rules"

    async def judge(self, item: JudgeInput) -> Judgement:
        v = classify_turn(item.response)
        return judgement(self, item, Reading(prompts.TURN_LABELS.index(v.label), None, v.rationale))


def dialogue_kind(case: Case) -> Kind:
    """Which rubric scores the dialogue: helpfulness for a safe twin, else safety A or B."""
    if case.context == "safe":
        return "helpfulness"
    return "safety_a" if case.gold.get("type") == "A" else "safety_b"


class _Embed:
    """The learned model over sentence embeddings (the `judge` extra), loaded when the judge is built."""

    judge_id: str
    input_mode = "response"
    concurrency = 8
    resource = "mtmcs_learned_embed.json"

    def __init__(self) -> None:
        from ctxsafe.judges.learned_scores import shipped_score_model

        self.model = shipped_score_model(self.resource)
        self.prompt_version = self.model.judge_version

    async def judge(self, item: JudgeInput) -> Judgement:
        return judgement(self, item, self.reading(item))

    def reading(self, item: JudgeInput) -> Reading:
        raise NotImplementedError


class OfflineEmbedScoreJudge(_DialogueStep, _Embed):
    """The 1-5 score from the learned model over sentence embeddings and the rules (the `judge` extra)."""

    judge_id = "mtmcs-score:offline-embed"

    def reading(self, item: JudgeInput) -> Reading:
        replies = replies_in(item)
        turns = [m.text_content() for m in item.case.turns]
        if len(replies) != len(turns):
            return Reading(error=f"{len(replies)} replies to {len(turns)} user turns: cannot score the dialogue")
        score, p = self.model.score(dialogue_kind(item.case), replies, turns)
        return Reading(score, float(score), f"learned {self.model.version}: p={p:.2f}")


class OfflineEmbedTurnJudge(_EveryTurn, _Embed):
    """Per-turn labels from the learned classifier over the reply's and its user turn's embeddings."""

    judge_id = "mtmcs-turn:offline-embed"

    def reading(self, item: JudgeInput) -> Reading:
        user = item.seen[-1].text_content() if item.seen else ""
        p = self.model.turn_probabilities([item.response], [user])[0]
        k = int(p.argmax())
        return Reading(k, None, f"learned {self.model.version}: p={p[k]:.2f}")


class _LM(_Embed):
    """The embedding judges' weights plus Gemma 3 270M's hidden states (the `judge-lm` extra).

    Why its own name: it needs torch and the model, and reads a reply in a third of a second or more on a CPU."""

    concurrency = 1
    resource = "mtmcs_learned_lm.json"

    def __init__(self) -> None:
        from ctxsafe.judges.lm_states import missing

        if lacking := missing():  # before the run starts, not at its first judgement
            raise ConfigError(f"the offline-lm judge needs {', '.join(lacking)}: pip install 'ctxsafe[judge-lm]'")
        super().__init__()

    async def judge(self, item: JudgeInput) -> Judgement:
        """In a worker thread: the decoder holds the CPU for a while, and the event loop must keep serving the run."""
        return judgement(self, item, await asyncio.to_thread(self.reading, item))


class OfflineLMScoreJudge(_LM, OfflineEmbedScoreJudge):
    """The embedding score judge with the language model's columns in its turn and score models."""

    judge_id = "mtmcs-score:offline-lm"


class OfflineLMTurnJudge(_LM, OfflineEmbedTurnJudge):
    """The embedding turn judge with the language model's columns."""

    judge_id = "mtmcs-turn:offline-lm"


OFFLINE_JUDGES: dict[str, tuple[type[OfflineScoreJudge | OfflineEmbedScoreJudge],
                                type[OfflineTurnJudge | OfflineEmbedTurnJudge]]] = {
    "offline": (OfflineScoreJudge, OfflineTurnJudge), "offline-rules": (OfflineScoreJudge, OfflineTurnJudge),
    "offline-embed": (OfflineEmbedScoreJudge, OfflineEmbedTurnJudge),
    "offline-lm": (OfflineLMScoreJudge, OfflineLMTurnJudge)}
"""The offline names (judges/names.py) MTMCS has: the dialogue-score and per-turn judges each builds.
`offline` is the rules; there is no n-gram learned MTMCS judge (`offline-learned`); `offline-lm` (the `judge-lm`
extra) adds Gemma 3 270M's hidden states to `offline-embed`."""
