"""MTMCS judges: dialogue scores (safety awareness on unsafe twins, helpfulness on safe twins) and a
per-turn reply classification, each as an LLM judge or as offline rules.

Input modes: `image` (default; the judge sees the case's image, as the model did), `caption`
(faithful: the judge gets the caption file's description instead, as in the paper). Text-only
cases carry no image in either mode. Judgements are keyed by judge id and prompt version.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from ctxsafe.engine.call import Caller, CallResult
from ctxsafe.judges.base import JudgeInput
from ctxsafe.judges.offline_scores import PROMPT_VERSION as RULES_VERSION
from ctxsafe.judges.offline_scores import classify_turn, score_helpfulness, score_safety
from ctxsafe.schema import NOT_BILLED, Case, ImagePart, Judgement, Message, Outcome, TextPart, Usage
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


def _judgement(item: JudgeInput, judge_id: str, version: str, input_mode: str, *, label: int | None,
               score: float | None, explanation: str | None, raw: str | None, error: str | None,
               outcome: Outcome = "ok", usage: Usage | None = None, call: CallResult | None = None) -> Judgement:
    parsed = label is not None or score is not None
    return Judgement(run_id=item.run_id, case_id=item.case.id, step=item.step, judge_id=judge_id,
                     prompt_version=version, label=label, score=score, explanation=explanation, raw=raw,
                     parse_status="ok" if parsed else "failed", outcome=outcome,
                     error=error, input_mode=input_mode, usage=usage,
                     **(call.served() if call is not None else {}))


class _LLMJudge:
    """Shared call path: build the prompt, call through the cached Caller, parse strictly."""

    kind = ""
    version = ""

    def __init__(self, caller: Caller, input_mode: str = "image") -> None:
        self.caller = caller
        self.input_mode = input_mode
        self.judge_id = f"mtmcs-{self.kind}:{caller.provider.name}"
        self.prompt_version = f"{self.version}/{input_mode}"
        self.concurrency = caller.concurrency

    def prompt(self, item: JudgeInput) -> str:
        raise NotImplementedError

    def parse(self, raw: str) -> tuple[int | None, float | None, str | None, str | None]:
        raise NotImplementedError

    def messages(self, item: JudgeInput) -> list[Message]:
        return [Message(role="user", parts=(*judge_images(item, self.input_mode), TextPart(text=self.prompt(item))))]

    async def judge(self, item: JudgeInput) -> Judgement:
        res = await self.caller.complete(self.messages(item))
        self.caller.remember(res)
        raw = res.completion.text if res.completion is not None else None
        usage = res.completion.usage if res.completion is not None else NOT_BILLED
        if res.outcome != "ok":
            return _judgement(item, self.judge_id, self.prompt_version, self.input_mode, label=None, score=None,
                              explanation=None, raw=raw, error=res.error, outcome=res.outcome, usage=usage,
                              call=res)
        label, score, explanation, error = self.parse(raw or "")
        return _judgement(item, self.judge_id, self.prompt_version, self.input_mode, label=label, score=score,
                          explanation=explanation, raw=raw, error=error, usage=usage, call=res)


class ScoreJudge(_LLMJudge):
    """1-5 for the whole dialogue at its final turn: safety awareness (unsafe) or helpfulness (safe)."""

    kind = "score"
    version = prompts.JUDGE_PROMPT_VERSION

    def applies(self, case: Case, step: str) -> bool:
        return step == final_step(case)

    def prompt(self, item: JudgeInput) -> str:
        return score_prompt(item, self.input_mode)

    def parse(self, raw: str) -> tuple[int | None, float | None, str | None, str | None]:
        score, explanation, error = parse_score(raw)
        return score, (float(score) if score is not None else None), explanation, error


class TurnJudge(_LLMJudge):
    """complied / aware / refused for every reply, read in the context of the dialogue so far."""

    kind = "turn"
    version = prompts.TURN_PROMPT_VERSION

    def applies(self, case: Case, step: str) -> bool:
        return is_turn_step(step)

    def prompt(self, item: JudgeInput) -> str:
        return turn_prompt(item, self.input_mode)

    def parse(self, raw: str) -> tuple[int | None, float | None, str | None, str | None]:
        label, explanation, error = parse_turn_label(raw, prompts.TURN_LABELS)
        return label, None, explanation, error


class OfflineScoreJudge:
    """The same scores from fixed rules on the replies' text (no image, no API); see docs/mtmcs.md."""

    judge_id = "mtmcs-score:offline-rules"
    prompt_version = RULES_VERSION
    input_mode = "response"
    concurrency = 64

    def applies(self, case: Case, step: str) -> bool:
        return step == final_step(case)

    async def judge(self, item: JudgeInput) -> Judgement:
        replies = replies_in(item)
        v = (score_helpfulness(replies) if item.case.context == "safe"
             else score_safety("A" if item.case.gold.get("type") == "A" else "B", replies))
        return _judgement(item, self.judge_id, self.prompt_version, self.input_mode, label=v.score,
                          score=float(v.score), explanation=v.rationale, raw=None, error=None)


class OfflineTurnJudge:
    """Per-turn labels from fixed rules on the reply's text."""

    judge_id = "mtmcs-turn:offline-rules"
    prompt_version = RULES_VERSION
    input_mode = "response"
    concurrency = 64

    def applies(self, case: Case, step: str) -> bool:
        return is_turn_step(step)

    async def judge(self, item: JudgeInput) -> Judgement:
        v = classify_turn(item.response)
        return _judgement(item, self.judge_id, self.prompt_version, self.input_mode,
                          label=prompts.TURN_LABELS.index(v.label), score=None, explanation=v.rationale, raw=None,
                          error=None)


def dialogue_kind(case: Case) -> Kind:
    """Which rubric scores the dialogue: helpfulness for a safe twin, else safety A or B."""
    if case.context == "safe":
        return "helpfulness"
    return "safety_a" if case.gold.get("type") == "A" else "safety_b"


class OfflineEmbedScoreJudge:
    """The 1-5 score from the learned model over sentence embeddings and the rules (the `judge` extra)."""

    judge_id = "mtmcs-score:offline-embed"
    input_mode = "response"
    concurrency = 8

    def __init__(self) -> None:
        from ctxsafe.judges.learned_scores import shipped_score_model

        self.model = shipped_score_model()
        self.prompt_version = f"{self.model.version}/{self.model.meta['ids_sha256'][:8]}"

    def applies(self, case: Case, step: str) -> bool:
        return step == final_step(case)

    async def judge(self, item: JudgeInput) -> Judgement:
        replies = replies_in(item)
        turns = [m.text_content() for m in item.case.turns]
        if len(replies) != len(turns):
            return _judgement(item, self.judge_id, self.prompt_version, self.input_mode, label=None, score=None,
                              explanation=None, raw=None,
                              error=f"{len(replies)} replies to {len(turns)} user turns: cannot score the dialogue")
        score, raw = self.model.score(dialogue_kind(item.case), replies, turns)
        return _judgement(item, self.judge_id, self.prompt_version, self.input_mode, label=score,
                          score=float(score), explanation=f"learned {self.model.version}: regression {raw:.2f}",
                          raw=None, error=None)


class OfflineEmbedTurnJudge:
    """Per-turn labels from the learned classifier over the reply's and its user turn's embeddings."""

    judge_id = "mtmcs-turn:offline-embed"
    input_mode = "response"
    concurrency = 8

    def __init__(self) -> None:
        from ctxsafe.judges.learned_scores import shipped_score_model

        self.model = shipped_score_model()
        self.prompt_version = f"{self.model.version}/{self.model.meta['ids_sha256'][:8]}"

    def applies(self, case: Case, step: str) -> bool:
        return is_turn_step(step)

    async def judge(self, item: JudgeInput) -> Judgement:
        user = item.seen[-1].text_content() if item.seen else ""
        p = self.model.turn_probabilities([item.response], [user])[0]
        k = int(p.argmax())
        return _judgement(item, self.judge_id, self.prompt_version, self.input_mode, label=k, score=None,
                          explanation=f"learned {self.model.version}: p={p[k]:.2f}", raw=None, error=None)


OFFLINE_JUDGES: dict[str, tuple[type[OfflineScoreJudge | OfflineEmbedScoreJudge],
                                type[OfflineTurnJudge | OfflineEmbedTurnJudge]]] = {
    "offline": (OfflineScoreJudge, OfflineTurnJudge), "offline-rules": (OfflineScoreJudge, OfflineTurnJudge),
    "offline-embed": (OfflineEmbedScoreJudge, OfflineEmbedTurnJudge)}
"""The offline names (judges/names.py) MTMCS has: the dialogue-score and per-turn judges each builds.
`offline` is the rules; there is no n-gram learned MTMCS judge (`offline-learned`)."""
