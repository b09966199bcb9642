"""The nouns of ctxsafe: one schema for every suite, so engine, judges and reports stay generic."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Role = Literal["system", "user", "assistant"]
Context = Literal["safe", "unsafe"]
Modality = Literal["image", "text"]
Outcome = Literal["ok", "error", "content_filter"]
ParseStatus = Literal["ok", "failed"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TextPart(_Frozen):
    """A run of text inside a message."""

    type: Literal["text"] = "text"
    text: str


class ImagePart(_Frozen):
    """An image, identified by its bytes' sha256 so every provider and log sees the same input.

    `source` is where it came from (a file path or a package resource); `sha256` and
    `media_type` describe the exact bytes sent after `policy` was applied.
    """

    type: Literal["image"] = "image"
    source: str
    sha256: str
    media_type: str
    width: int
    height: int
    policy: str = "original"


Part = TextPart | ImagePart


class Message(_Frozen):
    role: Role
    parts: tuple[Part, ...]

    @classmethod
    def user(cls, *parts: Part | str) -> Message:
        return cls(role="user", parts=tuple(TextPart(text=p) if isinstance(p, str) else p for p in parts))

    @classmethod
    def text(cls, role: Role, text: str) -> Message:
        return cls(role=role, parts=(TextPart(text=text),))

    # by the `type` tag, not isinstance: a pydantic model's isinstance check is slow, and reports call these
    # for every case
    def text_content(self) -> str:
        return "\n".join(p.text for p in self.parts if p.type == "text")

    def images(self) -> list[ImagePart]:
        return [p for p in self.parts if p.type == "image"]


class Probe(_Frozen):
    """A question asked after the dialogue in a fresh prompt that contains its transcript.

    `template` holds `{transcript}` where the rendered dialogue goes; used by MTMCS intent
    recognition. `attach_images` re-attaches the case's context images to the probe prompt.
    """

    id: str
    kind: str
    template: str
    attach_images: bool = False
    gold: Any = None
    options: tuple[str, ...] = ()
    meta: dict[str, Any] = Field(default_factory=dict)


ImagePlacement = Literal["first_user", "latest_user"]


class Case(_Frozen):
    """One test item. Safe/unsafe twins share `pair_id`.

    `turns` are the user turns; the engine generates the assistant turns live, except where
    `fixed_replies` gives the assistant's reply to a turn verbatim: that turn is *replayed* (the
    model is not asked, the fixed reply stays in the history), as in benchmarks whose attacks come
    with fixed earlier assistant turns. `fixed_replies` is empty (every turn generated) or has one
    entry per turn, None where the model answers; the final turn is always the model's own.
    `context_images` are attached to the first user turn, or to whichever user message is
    the latest on every call (`image_placement`), as the benchmark's protocol says.
    `judge_context` is reference material for the judge only (a safety warning, a reference
    answer, why the image is risky), named by kind; the model under test never sees it.
    """

    id: str
    suite: str
    split: str = "default"
    setting: str = "default"
    context: Context
    pair_id: str
    modality: Modality = "image"
    system: str | None = None
    history: tuple[Message, ...] = ()
    turns: tuple[Message, ...]
    fixed_replies: tuple[str | None, ...] = ()
    context_images: tuple[ImagePart, ...] = ()
    image_placement: ImagePlacement = "first_user"
    probes: tuple[Probe, ...] = ()
    gold: dict[str, Any] = Field(default_factory=dict)
    category: str | None = None
    task: str | None = None
    meta: dict[str, Any] = Field(default_factory=dict)
    judge_context: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _replies_fit_turns(self) -> Case:
        if self.fixed_replies:
            if len(self.fixed_replies) != len(self.turns):
                raise ValueError(f"fixed_replies has {len(self.fixed_replies)} entries for {len(self.turns)} turns")
            if self.fixed_replies[-1] is not None:
                raise ValueError("the final turn must be answered by the model, not replayed")
        return self

    def images(self) -> list[ImagePart]:
        """Every image the case sends: its context images, then those inside its messages, in order."""
        return [*self.context_images, *(p for m in (*self.history, *self.turns) for p in m.images())]

    def fixed_reply(self, i: int) -> str | None:
        """The fixed reply replayed after user turn `i` (0-based), or None where the model answers."""
        return self.fixed_replies[i] if self.fixed_replies else None

    def replayed(self, i: int) -> bool:
        """Whether user turn `i` (0-based) is answered by a fixed reply instead of the model."""
        return self.fixed_reply(i) is not None


class Usage(_Frozen):
    input_tokens: int | None = None
    output_tokens: int | None = None


NOT_BILLED = Usage(input_tokens=0, output_tokens=0)
"""The tokens of a call that failed without an answer: nothing was billed (0, not unknown)."""


class TurnRecord(_Frozen):
    """What happened at one step of one case: the exact request (by hash) and its outcome."""

    run_id: str
    case_id: str
    step: str
    index: int
    request_hash: str
    response: str | None
    finish_reason: str | None = None
    outcome: Outcome
    error: str | None = None
    usage: Usage = Usage()
    latency_s: float = 0.0
    cached: bool = False
    attempts: int = 1

    @property
    def truncated(self) -> bool:
        return self.finish_reason == "length"


class Judgement(_Frozen):
    """A judge's verdict on one step; a failed parse stays a failure, never a default label."""

    run_id: str
    case_id: str
    step: str
    judge_id: str
    prompt_version: str
    label: int | None = None
    score: float | None = None
    explanation: str | None = None
    raw: str | None = None
    parse_status: ParseStatus
    outcome: Outcome = "ok"
    error: str | None = None
    input_mode: str = "response"
    usage: Usage | None = None
    """Tokens of the judge's own call(s); None when it called no model or they were not recorded."""
    served_model: str | None = None
    """The model the judge's API says answered (e.g. a dated snapshot behind an alias); None for offline
    judges and providers that do not say."""
    served_fingerprint: str | None = None
    """OpenAI's `system_fingerprint` (the serving configuration), where the provider returns one."""
    cached: bool | None = None
    """True when the verdict's call was answered from the request cache (served_model is then the one that
    answered it first); None for offline judges, which make no call."""
