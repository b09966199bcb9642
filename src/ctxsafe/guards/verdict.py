"""One verdict shape for every guard, and a record of exactly what the guard was given.

Guards disagree on everything (labels, taxonomies, scores, how much of a conversation they read);
reports compare them only through this shape, and the `given` record keeps a guard that could not
read part of the input from looking as if it had read it and found nothing.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

Verdict = Literal["safe", "unsafe", "controversial", "error"]
Target = Literal["prompt", "response"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Given(_Frozen):
    """What the guard actually received.

    `messages`: indexes (in the conversation up to this step) of the messages passed, whole or flattened.
    `images`: sha256 of the images passed as pixels; `captions`/`ocr`: those passed as text instead.
    `dropped`: one line per thing left out and why (a second image, a system prompt, the text).
    `notes`: what was reshaped on the way (an image carried into view, turns merged or flattened).
    `cannot`: set when the guard could take nothing usable at all; the verdict is then `error`.
    """

    view: str
    target: Target
    messages: tuple[int, ...] = ()
    flattened: bool = False
    images: tuple[str, ...] = ()
    captions: tuple[str, ...] = ()
    ocr: tuple[str, ...] = ()
    dropped: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    cannot: str | None = None


class GuardVerdict(_Frozen):
    """The normalised verdict. `categories` are ctxsafe's common names (see `taxonomy`), `codes` the
    guard's own; `refusal` only where the guard reports one; `raw` is the guard's output, verbatim."""

    verdict: Verdict
    categories: tuple[str, ...] = ()
    codes: tuple[str, ...] = ()
    refusal: bool | None = None
    score: float | None = None
    rationale: str | None = None
    raw: str = ""
    error: str | None = None

    @property
    def fired(self) -> bool | None:
        """Whether the guard flagged the input (controversial counts as flagged); None for an error."""
        if self.verdict == "error":
            return None
        return self.verdict != "safe"


def failed(raw: str, why: str) -> GuardVerdict:
    """An unparseable or unusable guard answer: an explicit error, never a default label."""
    return GuardVerdict(verdict="error", raw=raw, error=why)


def cannot_take(given: Given) -> GuardVerdict:
    """The verdict for an input the guard cannot take at all (no call is made)."""
    return GuardVerdict(verdict="error", error=f"cannot take input: {given.cannot}")
