"""Live progress (done/total, rate, ETA, errors) on a terminal; silent elsewhere."""

from __future__ import annotations

import time
from types import TracebackType
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # rich loads when a bar is shown, not for a run without one (issue 12: the first request)
    from rich.console import Console
    from rich.progress import TaskID


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
    """A rich progress bar; the error count lives in the description so it is always visible.

    Steps are counted locally and pushed to rich at most every `UPDATE_S` seconds: a rich update
    costs ~60 us, a noticeable share of a ~2 ms call when every step paid it (docs/performance.md).
    """

    UPDATE_S = 0.1

    def __init__(self, console: Console) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TaskProgressColumn(),
            TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
            TextColumn("[red]{task.fields[errors]} errors"), console=console, transient=False,
            refresh_per_second=5,
        )
        self._task: TaskID | None = None
        self._errors = 0
        self._n = 0
        self._unshown = 0
        self._next_update = 0.0

    def __enter__(self) -> RichProgress:
        self._progress.start()
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self._push()
        self._progress.stop()

    def start(self, label: str, total: int, done: int) -> None:
        self._errors = 0
        self._n = 0
        self._unshown = 0
        self._next_update = 0.0
        self._task = self._progress.add_task(label, total=total, completed=done, rate="", errors=0)

    def advance(self, error: bool = False) -> None:
        if self._task is None:
            return
        self._n += 1
        self._unshown += 1
        self._errors += int(error)
        now = time.monotonic()
        if now >= self._next_update:
            self._next_update = now + self.UPDATE_S
            self._push()

    def _push(self) -> None:
        if self._task is None or not self._unshown:
            return
        self._progress.update(self._task, advance=self._unshown, errors=self._errors)
        self._unshown = 0
        speed = self._progress.tasks[-1].speed
        self._progress.update(self._task, rate=f"{speed:.1f}/s" if speed else "")

    def finish(self) -> None:
        self._push()
        self._task = None
