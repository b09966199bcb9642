"""Errors that name what is at fault, so a user can fix the input instead of guessing.

Each class carries the exit code the command line ends with (see `ctxsafe.exit_codes`).
"""

from __future__ import annotations

from ctxsafe.exit_codes import ExitCode


class CtxsafeError(Exception):
    """Base class for errors ctxsafe reports to the user as a clear message (no traceback)."""

    exit_code: ExitCode = ExitCode.BAD_INPUT


class DataError(CtxsafeError):
    """Bad input data: names the file and the record at fault."""

    def __init__(self, message: str, *, file: str | None = None, record: str | None = None) -> None:
        self.file = file
        self.record = record
        where = ", ".join(x for x in (f"file {file}" if file else "", f"record {record}" if record else "") if x)
        super().__init__(f"{where}: {message}" if where else message)


class ConfigError(CtxsafeError):
    """A bad option or combination of options (unknown setting, provider, ...)."""


class StoreError(CtxsafeError):
    """The run store cannot be used as asked (missing, damaged, full, read-only): names the file."""

    exit_code = ExitCode.STORE


class RunLockedError(StoreError):
    """Another process holds the run: refusing is better than interleaving two writers."""


class ProviderRefusedError(CtxsafeError):
    """A provider error that no retry can fix (bad key, no permission, unknown model, unreachable).

    Raised once, at the first such answer, so a run stops within seconds instead of sending every request.
    """

    exit_code = ExitCode.PROVIDER_REFUSED
