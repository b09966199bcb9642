"""Which stored judgements a report uses: the same rule for every suite.

Judge ids look like `FAMILY:NAME` (`mss4:offline-rules`, `mtmcs-score:openai:gpt-4o-mini`). A user
names a judge as on the command line (`offline` or provider:model) or by its full id.
"""

from __future__ import annotations

from collections.abc import Sequence

from ctxsafe.engine.store import RunStore
from ctxsafe.errors import ConfigError

OFFLINE_NAMES = ("offline-lm", "offline-embed", "offline-learned", "offline-rules")
JudgeRef = tuple[str, str]


def in_family(judge_id: str, family: str) -> bool:
    return judge_id == family or judge_id.startswith(f"{family}:")


def pick_judge(store: RunStore, run_id: str, family: str, name: str | None,
               prefer: Sequence[JudgeRef | str] = ()) -> JudgeRef | None:
    """By name if given (an error if the run has none by it), else the first of `prefer` (a stored
    judge, or a judge id in any prompt version) the store holds, else the family's last stored judge,
    else None (the run is unjudged)."""
    available = [(j, v) for j, v in store.judges_of(run_id) if in_family(j, family)]
    if name is not None:
        # 'offline' names the family's default offline judge: the learned one where it exists, else the rules
        names = [f"{family}:{n}" for n in OFFLINE_NAMES] if name == "offline" else [name, f"{family}:{name}"]
        hits = next(([r for r in available if r[0] == n] for n in names if any(r[0] == n for r in available)), [])
        if not hits:
            have = ", ".join(sorted({j for j, _ in available})) or "none"
            raise ConfigError(f"run {run_id} has no {family} judgements by {name!r} (has: {have})")
        return hits[-1]
    for ref in prefer:
        hits = [r for r in available if r == ref or r[0] == ref]
        if hits:
            return hits[-1]
    return available[-1] if available else None


def ref_dict(ref: JudgeRef | None) -> dict[str, str] | None:
    return None if ref is None else {"id": ref[0], "prompt_version": ref[1]}
