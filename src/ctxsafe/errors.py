"""Errors that name what is at fault, so a user can fix the input instead of guessing."""

from __future__ import annotations


class CtxsafeError(Exception):
    """Base class for errors ctxsafe reports to the user as a clear message (no traceback)."""


class DataError(CtxsafeError):
    """Bad input data: names the file and the record at fault."""

    def __init__(self, message: str, *, file: str | None = None, record: str | None = None) -> None:
        self.file = file
        self.record = record
        where = ", ".join(x for x in (f"file {file}" if file else "", f"record {record}" if record else "") if x)
        super().__init__(f"{where}: {message}" if where else message)


class ConfigError(CtxsafeError):
    """A bad option or combination of options (unknown setting, provider, ...)."""


class RunLockedError(CtxsafeError):
    """Another process holds the run: refusing is better than interleaving two writers."""
