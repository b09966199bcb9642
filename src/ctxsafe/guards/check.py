"""Running a prepared guard: its calls in order, then its parser; a failed call is an error verdict."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from ctxsafe.guards.base import Guard, Prepared
from ctxsafe.guards.verdict import GuardVerdict, cannot_take
from ctxsafe.schema import Message

CallFn = Callable[[int, list[Message]], Awaitable[tuple[str | None, str | None]]]
"""Makes request `i`; returns (text, None) or (None, why it failed)."""


async def run_guard(guard: Guard, prepared: Prepared, call: CallFn) -> GuardVerdict:
    """The guard's verdict on a prepared input; no call at all when it cannot take the input."""
    if not prepared.requests:
        return cannot_take(prepared.given)
    outputs: list[str] = []
    for i, request in enumerate(prepared.requests):
        text, error = await call(i, list(request))
        if error is not None or text is None:
            return GuardVerdict(verdict="error", raw="\n---\n".join(outputs),
                                error=f"guard call {i + 1} failed: {error or 'no text'}")
        outputs.append(text)
    return guard.parse(outputs)
