"""The process exit codes of every `ctxsafe` command, so that scripts can trust them.

0 means every step was answered and judged; anything else says why not, one cause per code.
The README's "Exit codes" table documents the same values.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    """Every step was answered and judged (a provider content filter counts as an answer)."""
    BAD_INPUT = 2
    """Bad options, data or configuration (also command-line usage errors): nothing was run."""
    FINISHED_WITH_ERRORS = 3
    """The run finished and its table was printed, but some steps failed, or were not judged or parseable."""
    PROVIDER_REFUSED = 4
    """A provider refused the run (authentication, permission, unknown model, unreachable): it was stopped."""
    STORE = 5
    """The run store is missing, damaged, full, read-only, or the run is locked by another process."""
    INTERRUPTED = 130
    """Ctrl-C (SIGINT): every finished step is stored; re-run the same command to resume."""
    TERMINATED = 143
    """SIGTERM: handled like Ctrl-C."""
