"""Why steps failed, in the terminal and in `report`, not only in the store: error reasons grouped and counted.

Error texts come from servers (untrusted): they are shown with control characters made visible and
never as markup, and cut to one line.
"""

from __future__ import annotations

from collections import Counter

from ctxsafe.engine.store import RunStore

_MAX = 160


def _inert(text: str) -> str:
    one_line = " ".join(text.split())
    safe = "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in one_line)
    return safe if len(safe) <= _MAX else safe[: _MAX - 1] + "…"


def error_reasons(store: RunStore, run_id: str) -> list[tuple[int, str]]:
    """(count, reason) of the run's failed steps, most frequent first."""
    counts: Counter[str] = Counter()
    for error, n in store.step_errors(run_id):  # texts that differ only in what `_inert` hides count together
        counts[_inert(error or "unknown error")] += n
    return sorted(((n, reason) for reason, n in counts.items()), key=lambda x: (-x[0], x[1]))


def error_lines(store: RunStore, run_id: str, limit: int = 5) -> list[str]:
    """At most `limit` lines such as `3 x unsupported input (HTTP 500): image input is not supported`."""
    reasons = error_reasons(store, run_id)
    lines = [f"{n} x {reason}" for n, reason in reasons[:limit]]
    if len(reasons) > limit:
        lines.append(f"... and {sum(n for n, _ in reasons[limit:])} more in {len(reasons) - limit} other reasons")
    return lines
