"""Live progress (done/total, rate, ETA, errors) on a terminal; silent elsewhere."""

from __future__ import annotations

from types import TracebackType
from typing import Protocol

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class ProgressSink(Protocol):
    def start(self, label: str, total: int, done: int) -> None: ...
    def advance(self, error: bool = False) -> None: ...
    def finish(self) -> None: ...


class NullProgress:
    def __enter__(self) -> NullProgress:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        return None

    def start(self, label: str, total: int, done: int) -> None:
        return None

    def advance(self, error: bool = False) -> None:
        return None

    def finish(self) -> None:
        return None


class RichProgress:
    """A rich progress bar; the error count lives in the description so it is always visible."""

    def __init__(self, console: Console) -> None:
        self._progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TaskProgressColumn(),
            TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
            TextColumn("[red]{task.fields[errors]} errors"), console=console, transient=False,
            refresh_per_second=5,
        )
        self._task: TaskID | None = None
        self._errors = 0
        self._n = 0

    def __enter__(self) -> RichProgress:
        self._progress.start()
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self._progress.stop()

    def start(self, label: str, total: int, done: int) -> None:
        self._errors = 0
        self._n = 0
        self._task = self._progress.add_task(label, total=total, completed=done, rate="", errors=0)

    def advance(self, error: bool = False) -> None:
        if self._task is None:
            return
        self._n += 1
        self._errors += int(error)
        task = self._progress.tasks[-1]
        speed = task.speed
        rate = f"{speed:.1f}/s" if speed else ""
        self._progress.update(self._task, advance=1, errors=self._errors, rate=rate)

    def finish(self) -> None:
        self._task = None
