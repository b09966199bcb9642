"""The judge names every command accepts (`run`, `judge-eval`, `report`), in one place.

Why: each command used to test its own tuple of names, so `run mtmcs --judge offline-rules` was read as
a provider spec while `judge-eval` accepted it. Each label space maps these names onto its own judges
(`offline_judge`); a name it lacks, or no name at all, is one line listing the valid ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

from ctxsafe.errors import ConfigError
from ctxsafe.providers.specs import check_spec

NONE = "none"
"""No judge now: the model is played and the run can be judged later without calling it again."""

OFFLINE = ("offline", "offline-learned", "offline-embed", "offline-lm", "offline-rules")
"""Offline judges (no API, deterministic): the label space's default (learned where one ships, else the
rules), the n-gram learned judge (four-class space only), the learned judge reading sentence embeddings
(the `judge` extra), that judge with a small language model's hidden states added (four-class space and MTMCS, the
`judge-lm` extra), and the keyword rules alone."""

T = TypeVar("T")


def is_offline(spec: str) -> bool:
    return spec in OFFLINE


def calls_a_model(spec: str) -> bool:
    """True for provider:model judges (they need an endpoint, a key and a pre-flight)."""
    return spec != NONE and spec not in OFFLINE


def valid_names(allow_none: bool = True) -> str:
    names = [*([NONE] if allow_none else []), *OFFLINE]
    return f"{', '.join(names)}, or provider:model (e.g. openai:gpt-4o-mini)"


def check_judge(spec: str, allow_none: bool = True) -> None:
    """Refuse an unknown judge name before any data is loaded, naming every valid one."""
    if spec in OFFLINE or (allow_none and spec == NONE):
        return
    if ":" not in spec and "/" not in spec:
        raise ConfigError(f"unknown judge {spec!r}: use one of {valid_names(allow_none)}")
    check_spec(spec)


def offline_judge(spec: str, table: Mapping[str, T], space: str) -> T:
    """What `space`'s offline `table` builds for `spec`; a name the space lacks is one clear line."""
    if spec not in table:
        raise ConfigError(f"{space} has no {spec!r} judge: use one of {', '.join(table)}, or provider:model")
    return table[spec]
