"""The defenses any suite can wrap around the model under test, by name (`--defense NAME`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from ctxsafe.engine.policy import Bare, Policy
from ctxsafe.errors import ConfigError
from ctxsafe.policies.adashield import adashield
from ctxsafe.policies.cot_safety import cot_safety
from ctxsafe.policies.immune import immune
from ctxsafe.policies.prompt_patch import prompt_patch
from ctxsafe.policies.self_reflection import self_reflection

DefenseFactory = Callable[[], Policy]

DEFENSES: dict[str, DefenseFactory] = {
    "prompt-patch": prompt_patch,
    "adashield": adashield,
    "self-reflection": self_reflection,
    "immune": immune,
    "cot-safety": cot_safety,
}


def make_policies(names: Sequence[str], extra: Mapping[str, DefenseFactory] | None = None) -> list[Policy]:
    """The bare model first, then one policy per named defense (each at most once, in the order given).

    `extra` holds a suite's own defenses (e.g. MSSBench's multi-agent pipeline).
    """
    known = {**DEFENSES, **(extra or {})}
    out: list[Policy] = [Bare()]
    for name in dict.fromkeys(names):
        if name == Bare.name:
            continue
        if name not in known:
            raise ConfigError(f"unknown defense {name!r}; choose from {', '.join(sorted(known))}")
        out.append(known[name]())
    return out
