"""The turn loop: plays a case's user turns against a model, keeping the model's own replies.

Every step's messages are derived from the case and the replies so far, so the judging phase
can rebuild exactly what the model saw at any step without storing images twice.
"""

from __future__ import annotations

from collections.abc import Mapping

from ctxsafe.engine.call import Caller
from ctxsafe.engine.policy import FINAL_OUTCOMES, Bare, Policy, StepContext, play_step
from ctxsafe.engine.tasks import concurrently
from ctxsafe.schema import Case, Message, Probe, TurnRecord


def turn_step(i: int) -> str:
    return f"t{i + 1}"


def probe_step(probe: Probe) -> str:
    return f"probe:{probe.id}"


def case_steps(case: Case) -> list[str]:
    """The steps the model is asked: every turn not replayed from a fixed reply, then the probes."""
    turns = [turn_step(i) for i in range(len(case.turns)) if not case.replayed(i)]
    return turns + [probe_step(p) for p in case.probes]


def turn_origin(case: Case, i: int) -> str:
    """'replayed' (a fixed reply, sent verbatim, the model not asked) or 'generated' (the model's own)."""
    return "replayed" if case.replayed(i) else "generated"


def _with_images(msg: Message, case: Case) -> Message:
    return Message(role=msg.role, parts=(*case.context_images, *msg.parts))


def dialogue_messages(case: Case, replies: list[str], upto: int) -> list[Message]:
    """Messages sent for user turn `upto` (0-based), with `replies` to the earlier turns."""
    msgs: list[Message] = []
    if case.system:
        msgs.append(Message.text("system", case.system))
    msgs.extend(case.history)
    for i in range(upto + 1):
        user = case.turns[i]
        attach = (case.image_placement == "first_user" and i == 0) or (
            case.image_placement == "latest_user" and i == upto)
        msgs.append(_with_images(user, case) if attach and case.context_images else user)
        if i < upto:
            msgs.append(Message.text("assistant", replies[i]))
    return msgs


def render_transcript(case: Case, replies: list[str]) -> str:
    lines = []
    for user, reply in zip(case.turns, replies, strict=False):
        lines.append(f"User: {user.text_content()}")
        lines.append(f"Assistant: {reply}")
    return "\n".join(lines)


def probe_messages(case: Case, probe: Probe, replies: list[str]) -> list[Message]:
    """A fresh single prompt carrying the dialogue's transcript (and its images, if asked)."""
    text = probe.template.replace("{transcript}", render_transcript(case, replies))
    msg = Message.user(text)
    return [_with_images(msg, case) if probe.attach_images and case.context_images else msg]


def step_messages(case: Case, step: str, replies: list[str]) -> list[Message]:
    """What the model saw at `step`; used by judges that must see the same input."""
    if step.startswith("probe:"):
        probe = next(p for p in case.probes if probe_step(p) == step)
        return probe_messages(case, probe, replies)
    return dialogue_messages(case, replies, int(step[1:]) - 1)


async def rollout(case: Case, caller: Caller, run_id: str, done: dict[tuple[str, str], TurnRecord],
                  policy: Policy | None = None, callers: Mapping[str, Caller] | None = None) -> list[TurnRecord]:
    """Play the steps of `case` that are not yet final; return the step records it newly committed.

    Each step is answered by `policy` (the bare model by default); a pipeline's inner calls are
    committed as sub-steps but not returned. A step that ends in an error or a content filter ends the
    dialogue: later turns would be built on a reply that does not exist. Errored steps are retried
    when the run is resumed.
    """
    policy = policy or Bare()
    roles: Mapping[str, Caller] = callers or {"model": caller}
    new: list[TurnRecord] = []
    inner: list[TurnRecord] = []
    replies: list[str] = []

    async def play(step: str, index: int, messages: list[Message]) -> TurnRecord:
        rec = done.get((case.id, step))
        if rec is None or rec.outcome not in FINAL_OUTCOMES:
            ctx = StepContext(case, step, index, messages, roles, run_id, done, inner)
            rec = await play_step(policy, ctx)
            new.append(rec)
        return rec

    for i in range(len(case.turns)):
        fixed = case.fixed_reply(i)
        if fixed is not None:  # replayed: the fixed reply goes into the history; the model is not asked
            replies.append(fixed)
            continue
        rec = await play(turn_step(i), i, dialogue_messages(case, replies, i))
        if rec.outcome != "ok":
            return new
        replies.append(rec.response or "")
    # the probes (e.g. MTMCS's intent questions) each read the finished transcript, not each other's answers
    await concurrently([play(probe_step(probe), len(case.turns) + k, probe_messages(case, probe, replies))
                        for k, probe in enumerate(case.probes)])
    return new
